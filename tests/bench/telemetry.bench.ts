// Many units, one broker: N telemetry publishers in one process (the light telemetry-only mode:
// the real publisher, disk buffer and TLS client with a stand-in appliance that reports a fixed
// state, no engine), each with its own client certificate, against Mosquitto from Debian with TLS,
// client certificates and the ACL of docs/telemetry.md. One consumer subscribes to everything.
// Figures: messages a second, end-to-end latency p50/p99 (publisher's `at` to the consumer, one
// clock), the broker's CPU and memory, the units' CPU. Then 1,000 units, ESTIMATED by scaling.
// TELEMETRY_BENCH_UNITS overrides the count (100; --quick 20).
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { Telemetry } from '../../firmware/telemetry/publisher.ts'
import { Broker, client, freePort, makeBrokerPki } from '../telemetry/helpers.ts'
import { type BenchRow, type BenchSection, fixed, percentile } from './lib.ts'

function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in clock ticks (100 Hz on Linux)
}

function procRssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) / 1024
}

function standInUnit(): ApplianceApi {
  const engine = {
    blocks: 0,
    xruns: 0,
    overruns: 0,
    droppedCommands: 0,
    droppedEvents: 0,
    processed: true,
    blockTimeUs: { last: 20, p50: 18, p99: 60, max: 90 },
    blockPeriodUs: 1333,
  }
  const status = {
    board: 'sim',
    firmwareVersion: 'bench',
    state: 'ACTIVE',
    cause: 'boot-complete',
    since: Date.now(),
    uptimeS: 1,
    relay: 'processed',
    panelVersion: null,
    automationMode: 'advisory',
    engine,
  }
  return { status: () => status, subscribe: () => () => {} } as unknown as ApplianceApi
}

const section: BenchSection = {
  name: 'telemetry fleet',
  async run(ctx) {
    const n = Number(process.env.TELEMETRY_BENCH_UNITS ?? (ctx.quick ? 20 : 100))
    const seconds = ctx.quick ? 10 : 30
    const dir = join(ctx.tmp, 'telemetry-fleet')
    mkdirSync(dir, { recursive: true })
    const pki = makeBrokerPki(dir)
    // The units' CA and N unit certificates (CN unit-000 ...), as provisioning would make them.
    const os = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
    os([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'units-ca.key',
      '-out',
      'units-ca.crt',
      '-subj',
      '/CN=units CA',
      '-days',
      '2',
    ])
    writeFileSync(join(dir, 'cli.cnf'), 'extendedKeyUsage=clientAuth\n')
    ctx.log(`telemetry fleet: ${n} unit certificates`)
    const units: Array<{ name: string; cert: string; key: Buffer }> = []
    for (let i = 0; i < n; i++) {
      const name = `unit-${String(i).padStart(3, '0')}`
      os(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
      os([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'units-ca.crt',
        '-CAkey',
        'units-ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        'cli.cnf',
      ])
      units.push({ name, cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`)) })
    }
    const broker = new Broker(pki, [join(dir, 'units-ca.crt'), pki.brokerCa], await freePort())
    await broker.start()
    const pubs: Telemetry[] = []
    try {
      const latencies: number[] = []
      let received = 0
      let measuring = false
      const fleet = await client(
        broker.port,
        { cert: readFileSync(pki.fleet.cert), key: readFileSync(pki.fleet.key), ca: readFileSync(pki.fleet.ca) },
        { clientId: 'bench-fleet' },
      )
      fleet.on('message', (topic, payload) => {
        if (!measuring || !topic.endsWith('/health')) return
        received++
        latencies.push(Date.now() - (JSON.parse(payload.toString()) as { at: number }).at)
      })
      await fleet.subscribeAsync('bench/#', { qos: 1 })
      const rss0 = procRssMiB(broker.pid!)
      const unitsCa = readFileSync(join(dir, 'units-ca.crt'), 'utf8')
      for (const u of units) {
        pubs.push(
          await Telemetry.start(
            standInUnit(),
            {
              enabled: true,
              url: `mqtts://127.0.0.1:${broker.port}`,
              site: 'bench',
              stage: `stage-${Number(u.name.slice(5)) % 10}`,
              ca: pki.brokerCa,
              healthS: 1,
              maxRate: 50,
              keepaliveS: 30,
              bufferBytes: 1 << 20,
              bufferAgeS: 600,
            },
            {
              identity: { serial: u.name, caCertPem: unitsCa, deviceCertPem: u.cert, deviceKeyPem: u.key, crlPath: '' },
              queueDir: join(dir, 'queues', u.name),
            },
          ),
        )
      }
      const t0 = Date.now()
      while (pubs.some((p) => !p.stats.connected) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 100))
      const connected = pubs.filter((p) => p.stats.connected).length
      await new Promise((r) => setTimeout(r, 2000))
      const pid = broker.pid!
      const b0 = procCpuS(pid)
      const u0 = process.cpuUsage()
      const w0 = performance.now()
      measuring = true
      await new Promise((r) => setTimeout(r, seconds * 1000))
      measuring = false
      const wall = (performance.now() - w0) / 1000
      const brokerCpu = ((procCpuS(pid) - b0) / wall) * 100
      const u = process.cpuUsage(u0)
      const unitsCpu = ((u.user + u.system) / 1e6 / wall) * 100
      const rss = procRssMiB(pid)
      latencies.sort((a, b) => a - b)
      const rate = received / wall
      await fleet.endAsync(true)
      const rows: BenchRow[] = [
        { metric: `units connected (TLS, client certificates)`, value: `${connected}/${n}` },
        { metric: 'health messages a second at the consumer', value: fixed(rate, 1), unit: '/s', note: `${n} units x 1/s, QoS 1, ${seconds} s` },
        {
          metric: 'end-to-end latency p50',
          value: fixed(percentile(latencies, 50), 0),
          unit: 'ms',
          note: 'publisher at -> consumer, incl. the disk buffer (fsync)',
        },
        { metric: 'end-to-end latency p99', value: fixed(percentile(latencies, 99), 0), unit: 'ms' },
        { metric: 'broker CPU', value: fixed(brokerCpu, 1), unit: '% of a core', note: 'mosquitto 2.0.11, one thread' },
        {
          metric: 'broker memory (RSS)',
          value: fixed(rss, 1),
          unit: 'MiB',
          note: `${fixed(rss0, 1)} MiB before the units, ${fixed(((rss - rss0) * 1024) / n, 0)} KiB per unit`,
        },
        {
          metric: `units' CPU (all ${n} in one process, consumer included)`,
          value: fixed(unitsCpu, 1),
          unit: '% of a core',
          note: `${fixed(unitsCpu / n, 2)} % per unit`,
        },
        {
          metric: 'ESTIMATE for 1,000 units (linear from the above, not measured)',
          value: `${fixed(rate * (1000 / n), 0)} msg/s, broker ${fixed(brokerCpu * (1000 / n), 0)} % CPU, ${fixed(rss0 + (rss - rss0) * (1000 / n), 0)} MiB`,
          note: 'one mosquitto is single-threaded: past ~1 core, a clustered broker (EMQX, HiveMQ, VerneMQ) spreads the TLS connections over nodes and consumers share the load with $share/ subscriptions',
        },
      ]
      return rows
    } finally {
      for (const p of pubs) await p.stop().catch(() => {})
      await broker.stop()
    }
  },
}
export default section
