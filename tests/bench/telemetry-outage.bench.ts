// The broker away for a minute (issue 16): a provisioned unit as its own process (the sim board's
// appliance with telemetry, tests/telemetry/unit.ts) publishes health 5 times a second to Mosquitto
// (TLS, client certificates, the ACL of docs/telemetry.md); the fleet's consumer keeps a persistent
// session. Two runs, each with the broker stopped for OUTAGE_S (60; --quick 10):
//   1. the unit runs through the outage: every message made meanwhile arrives, in order, none twice;
//   2. the unit is killed -9 a third of the way into the outage and started again: the killed start's
//      buffer survives and is replayed from its first message, in order, once, before anything newer.
// Figures: messages made during the outage, delivered, missing, sent twice by the unit, the broker's
// own DUP redeliveries to the consumer (set aside by (boot, seq), docs/telemetry.md), and the time
// from the broker's return until the backlog was through.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { identityPaths } from '../../firmware/secrets/identity.ts'
import { until } from '../helpers/until.ts'
import {
  Broker,
  bounded,
  client,
  configureTelemetry,
  deliveryCheck,
  freePort,
  makeBrokerPki,
  type Seen,
  startUnit,
  type UnitProc,
} from '../telemetry/helpers.ts'
import type { BenchRow, BenchSection } from './lib.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const section: BenchSection = {
  name: 'telemetry outage',
  async run(ctx) {
    const outageS = Number(process.env.TELEMETRY_OUTAGE_S ?? (ctx.quick ? 10 : 60))
    const dir = join(ctx.tmp, 'telemetry-outage')
    const data = join(dir, 'unit')
    const init = spawnSync(process.execPath, ['provisioning/cli.ts', 'init', '--data-dir', data], { cwd: ctx.repoRoot, encoding: 'utf8', timeout: 60000 })
    if (init.status !== 0) throw new Error(`provisioning failed: ${init.stderr}`)
    const serial = readFileSync(identityPaths(data).serial, 'utf8').trim()
    const pki = makeBrokerPki(dir)
    const broker = new Broker(pki, [identityPaths(data).caCert, pki.brokerCa], await freePort())
    await broker.start()
    const units: UnitProc[] = []
    const kill = async (u: UnitProc) => {
      if (u.proc.exitCode !== null || u.proc.signalCode !== null) return
      u.proc.kill('SIGKILL')
      await bounded(new Promise((r) => u.proc.once('exit', r)), 10000, 'the killed unit to exit')
    }
    const seen: Seen[] = []
    const fleet = await client(
      broker.port,
      { cert: readFileSync(pki.fleet.cert), key: readFileSync(pki.fleet.key), ca: readFileSync(pki.fleet.ca) },
      { clientId: 'outage-fleet', clean: false, properties: { sessionExpiryInterval: 3600 } },
    )
    try {
      const root = `fest/main/${serial}`
      fleet.on('message', (topic, payload, packet) =>
        seen.push({ topic, body: JSON.parse(payload.toString()), retain: packet.retain, dup: packet.dup, at: Date.now() }),
      )
      await bounded(fleet.subscribeAsync('fest/#', { qos: 1 }), 10000, "the fleet's subscription")
      await configureTelemetry(data, { url: `mqtts://127.0.0.1:${broker.port}`, site: 'fest', stage: 'main', ca: pki.brokerCa, healthS: 0.2, keepaliveS: 5 })
      units.push(await startUnit(data, 120000))
      await until(() => seen.some((s) => s.topic === `${root}/health`), 30000, 'the first health message')
      const health = (after: number) => seen.some((s) => s.topic === `${root}/health` && (s.body.at as number) > after)
      const rows: BenchRow[] = []

      // 1. The unit runs through the outage.
      ctx.log(`telemetry outage: broker away ${outageS} s, the unit running`)
      await sleep(2000)
      const downAt = Date.now()
      await broker.stop()
      await sleep(outageS * 1000)
      await broker.start()
      const upAt = Date.now()
      await until(() => health(upAt + 1000), 120000, 'health made after the broker returned')
      // The backlog is through once the consumer has the first message made after the restart.
      const caughtUp = (seen.find((s) => s.topic === `${root}/health` && (s.body.at as number) > upAt)?.at ?? upAt) - upAt
      const bootA = seen.find((s) => s.topic === `${root}/health`)!.body.boot as number
      const a = deliveryCheck(seen, root, bootA)
      const during = a.unique.filter((s) => (s.body.at as number) > downAt && (s.body.at as number) < upAt).length
      rows.push(
        { metric: `broker away ${outageS} s, unit running: messages made meanwhile, delivered`, value: during, note: 'health 5/s + state, QoS 1' },
        { metric: '... missing / sent twice by the unit / out of order', value: `${a.gaps.length} / ${a.dupes.length} / ${a.outOfOrder}`, target: '0 / 0 / 0' },
        {
          metric: "... the broker's DUP redeliveries to the consumer",
          value: a.redelivered,
          note: "Mosquitto's at-least-once to a restored session; dropped by (boot, seq)",
        },
        {
          metric: '... from the broker back to the backlog through',
          value: (caughtUp / 1000).toFixed(1),
          unit: 's',
          note: 'reconnect (1 s) + replay at 50 msg/s',
        },
      )

      // 2. The unit killed -9 a third of the way into the outage, then started again.
      ctx.log(`telemetry outage: broker away ${outageS} s, the unit killed -9 and restarted meanwhile`)
      const down2 = Date.now()
      await broker.stop()
      await sleep((outageS * 1000) / 3)
      await kill(units.at(-1)!)
      const killedAt = Date.now()
      units.push(await startUnit(data, 120000))
      await sleep(Math.max(0, down2 + outageS * 1000 - Date.now()))
      await broker.start()
      const up2 = Date.now()
      await until(() => health(up2 + 1000), 120000, 'health made after the broker returned')
      const caught2 = (seen.find((s) => s.topic === `${root}/health` && (s.body.at as number) > up2)?.at ?? up2) - up2
      const bootKilled = bootA
      const b = deliveryCheck(seen, root, bootKilled)
      const killedDuring = b.unique.filter((s) => (s.body.at as number) > down2 && (s.body.at as number) < killedAt).length
      const next = deliveryCheck(seen, root, bootA + 1)
      const lastOfKilled = seen.lastIndexOf(b.unique.at(-1)!)
      const firstOfNext = seen.indexOf(next.unique[0]!)
      rows.push(
        {
          metric: `broker away ${outageS} s, unit killed -9 after ${Math.round((killedAt - down2) / 1000)} s: its buffered messages delivered`,
          value: killedDuring,
          note: `then the next start's ${next.unique.length} (boot ${bootA + 1})`,
        },
        {
          metric: '... missing / sent twice / out of order (both starts)',
          value: `${b.gaps.length + next.gaps.length} / ${b.dupes.length + next.dupes.length} / ${b.outOfOrder + next.outOfOrder}`,
          target: '0 / 0 / 0',
          note: `next start from seq ${next.unique[0]?.body.seq}`,
        },
        { metric: "... the killed start's replayed before the next start's", value: lastOfKilled < firstOfNext ? 'yes' : 'NO' },
        { metric: '... from the broker back to the backlog through', value: (caught2 / 1000).toFixed(1), unit: 's' },
      )
      return rows
    } finally {
      for (const u of units) await kill(u).catch(() => {})
      await bounded(fleet.endAsync(true), 5000, "closing the fleet's client").catch(() => {})
      await broker.stop()
    }
  },
}
export default section
