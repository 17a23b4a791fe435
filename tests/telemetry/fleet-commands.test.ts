// Commands from the fleet over MQTT, against Mosquitto: off by default; once an admin turns them on,
// a request signed with a crew certificate this unit issued runs on the one registry with that
// certificate's role (capped at operate), and is audited; a destructive or admin command, a bad
// signature, a certificate from another unit, a revoked one, a stale or replayed request are refused
// (FW_ERR_FLEET_REFUSED), also audited.
import { createSign, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry, Principal } from '../../firmware/commands/index.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { type Bundle, issueClient, provision, revokeClient } from '../../provisioning/provision.ts'
import { until } from '../helpers/until.ts'
import { bounded, brokerFor, cleanup, client, scratch } from './helpers.ts'

const admin: Principal = { name: 'test:admin', permission: 'admin', transport: 'test' }

function request(b: Bundle, command: string, args: Record<string, unknown>, o: { id?: string; at?: number; tamper?: boolean } = {}) {
  const body = Buffer.from(JSON.stringify({ id: o.id ?? randomUUID(), command, args, at: o.at ?? Date.now() }))
  const sig = createSign('sha256').update(body).sign(readFileSync(b.keyFile)).toString('base64')
  const sent = o.tamper ? Buffer.from(body.toString().replace('"db":-6', '"db":12')) : body
  return {
    id: JSON.parse(body.toString()).id as string,
    payload: JSON.stringify({ cert: readFileSync(b.certFile, 'utf8'), body: sent.toString('base64'), sig }),
  }
}

t.test('fleet commands: signed, role-capped, never destructive, audited; off by default', async (t) => {
  const dir = scratch(t)
  const dataDir = join(dir, 'data')
  const crew = join(dir, 'crew')
  const r = await bounded(provision({ dataDir, bundlesOut: crew }), 60000, 'provisioning the unit')
  const operator = r.bundles.find((b) => b.role === 'operator')!
  const observer = r.bundles.find((b) => b.role === 'observer')!
  const adminB = issueClient(dataDir, { outParent: crew, name: 'sys-tech', role: 'admin' })
  const revoked = issueClient(dataDir, { outParent: crew, name: 'lost-tablet', role: 'operator' })
  revokeClient(dataDir, { serial: revoked.serial })
  const other = await bounded(provision({ dataDir: join(dir, 'other'), bundlesOut: join(dir, 'other-crew') }), 60000, 'provisioning another unit')
  const foreign = other.bundles.find((b) => b.role === 'operator')!
  const serial = readFileSync(join(dataDir, 'identity', 'serial'), 'utf8').trim()

  const { pki, broker } = await brokerFor(t, dir, dataDir)
  const root = `fest/main/${serial}`
  const replies = new Map<string, Record<string, unknown>>()
  const fleet = await client(broker.port, { cert: readFileSync(pki.fleet.cert), key: readFileSync(pki.fleet.key), ca: readFileSync(pki.fleet.ca) })
  cleanup(t, "closing the fleet's client", () => fleet.endAsync(true))
  fleet.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString()) as Record<string, unknown>
    replies.set(String(m.id), m)
  })
  await bounded(fleet.subscribeAsync(`${root}/cmd/reply`, { qos: 1 }), 10000, "the fleet's subscription")

  let registry: CommandRegistry | null = null
  const starting = startAppliance(
    { ...loadProfile('sim'), dataDir },
    { services: [applianceStack({ api: false, console: false, inference: false, onRegistry: (reg) => (registry = reg), log: () => {} })] },
  )
  cleanup(t, 'stopping the unit', async () => (await starting).stop(), 30000)
  const run = await bounded(starting, 60000, 'the unit to start')
  const on = { url: `mqtts://127.0.0.1:${broker.port}`, site: 'fest', stage: 'main', ca: pki.brokerCa }
  const ask = async (req: { id: string; payload: string }, wait = 10000) => {
    replies.delete(req.id)
    await bounded(fleet.publishAsync(`${root}/cmd/request`, req.payload, { qos: 1 }), 10000, `the broker to take the request ${req.id}`)
    await until(() => replies.has(req.id), wait, `the reply to ${req.id}`)
    return replies.get(req.id)!
  }

  await t.test('off by default: telemetry on without commands=on answers nothing', async (t) => {
    t.match(await registry!.execute('telemetry on', on, admin), { ok: true })
    const req = request(operator, 'gain', { output: 1, db: -6 })
    await new Promise((r) => setTimeout(r, 1500)) // connected
    await t.rejects(ask(req, 1500), /timed out/)
    t.equal(run.app.outputSettings()[0]!.gainDb, 0, 'nothing changed')
  })

  const turnedOn = await registry!.execute('telemetry on', { ...on, commands: true }, admin)
  t.match(turnedOn, { ok: true, value: { commands: true } }, JSON.stringify(turnedOn))
  await new Promise((r) => setTimeout(r, 1500)) // connected and subscribed

  await t.test("an operator's signed request runs with the operator's permission", async (t) => {
    const req = request(operator, 'gain', { output: 1, db: -6 })
    t.match(await ask(req), { id: req.id, ok: true })
    t.equal(run.app.outputSettings()[0]!.gainDb, -6)
    t.match(await ask({ ...req }), { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /replay/ }, 'the same request again is refused')
  })

  await t.test('refusals', async (t) => {
    t.match(await ask(request(observer, 'gain', { output: 1, db: -3 })), { ok: false, code: 'FW_ERR_PERMISSION' }, 'an observer may not change the sound')
    t.match(await ask(request(observer, 'status', {})), { ok: true }, 'an observer may read')
    t.match(await ask(request(adminB, 'reboot', {})), { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /never available/ }, 'destructive: never')
    t.match(await ask(request(adminB, 'osc on', { allow: '10.0.0.1' })), { ok: false, code: 'FW_ERR_FLEET_REFUSED' }, 'admin commands: never')
    t.match(
      await ask(request(operator, 'gain', { output: 1, db: -6 }, { tamper: true })),
      { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /signature/ },
      'a changed body',
    )
    t.match(
      await ask(request(foreign, 'gain', { output: 1, db: -3 })),
      { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /not issued by this unit/ },
      "another unit's crew",
    )
    t.match(
      await ask(request(revoked, 'gain', { output: 1, db: -3 })),
      { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /revoked/ },
      'a revoked certificate',
    )
    t.match(
      await ask(request(operator, 'gain', { output: 1, db: -3 }, { at: Date.now() - 120_000 })),
      { ok: false, code: 'FW_ERR_FLEET_REFUSED', message: /fresh/ },
      'stale',
    )
    t.equal(run.app.outputSettings()[0]!.gainDb, -6, 'nothing refused changed the sound')
    t.equal(run.app.status().state === 'BYPASS', false)
  })

  await t.test('every request is in the audit, with who sent it', async (t) => {
    // Changes in fleet-audit.jsonl, refusals in fleet-audit-refused.jsonl (the first of each sender's window whole).
    const read = (f: string) =>
      readFileSync(join(dataDir, 'logs', f), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { who: { cn: string } | null; command: string; result: string; method: string })
    const lines = [...read('fleet-audit.jsonl'), ...read('fleet-audit-refused.jsonl')]
    t.ok(lines.some((l) => l.who?.cn === operator.name && l.command === 'gain' && l.result === 'ok' && l.method === 'MQTT'))
    t.ok(lines.some((l) => l.who?.cn === 'sys-tech' && l.command === 'reboot' && l.result === 'FW_ERR_FLEET_REFUSED'))
    t.ok(lines.some((l) => l.who?.cn === 'lost-tablet' && l.result === 'FW_ERR_FLEET_REFUSED'))
  })
})
