// Many units, one broker: N units of the sim board's light telemetry-only mode
// (board/sim/telemetry-unit.ts: the real publisher, disk buffer and TLS client with its own client
// certificate, in front of a stand-in appliance reporting the idle sim board; no engine), ONE OS
// PROCESS PER UNIT by default (TELEMETRY_BENCH_PER_PROCESS=k puts k units in each process), against
// Mosquitto from Debian with TLS, client certificates and the ACL of docs/telemetry.md. One consumer
// (in this process) subscribes to everything. Figures: messages a second, end-to-end latency p50/p99
// (the publisher's `at` to the consumer, one clock), the broker's CPU and memory, the units' CPU and
// memory (summed over their processes, from /proc). Then 1,000 units, ESTIMATED by scaling.
// TELEMETRY_BENCH_UNITS overrides the count (100; --quick 20).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { until } from '../helpers/until.ts'
import { Broker, bounded, client, freePort, makeBrokerPki } from '../telemetry/helpers.ts'
import { type BenchRow, type BenchSection, fixed, percentile } from './lib.ts'

function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in clock ticks (100 Hz on Linux)
}

function procRssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) / 1024
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
    const perProcess = Math.max(1, Number(process.env.TELEMETRY_BENCH_PER_PROCESS ?? 1))
    const broker = new Broker(pki, [join(dir, 'units-ca.crt'), pki.brokerCa], await freePort())
    await broker.start()
    const procs: Array<{ proc: ChildProcess; out: string; connected: number }> = []
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
      await bounded(fleet.subscribeAsync('bench/#', { qos: 1 }), 10000, "the consumer's subscription")
      const rss0 = procRssMiB(broker.pid!)
      // The unit processes, started 4 at a time (each loads Node, TypeScript and mqtt: ~1 s of CPU).
      const specs: string[] = []
      for (let i = 0; i < units.length; i += perProcess) {
        const spec = join(dir, `spec-${i}.json`)
        writeFileSync(
          spec,
          JSON.stringify({
            url: `mqtts://127.0.0.1:${broker.port}`,
            ca: pki.brokerCa,
            site: 'bench',
            healthS: 1,
            keepaliveS: 30,
            units: units.slice(i, i + perProcess).map((u) => ({
              name: u.name,
              stage: `stage-${Number(u.name.slice(5)) % 10}`,
              cert: join(dir, `${u.name}.crt`),
              key: join(dir, `${u.name}.key`),
              caCert: join(dir, 'units-ca.crt'),
              queueDir: join(dir, 'queues', u.name),
            })),
          }),
        )
        specs.push(spec)
      }
      ctx.log(`telemetry fleet: starting ${specs.length} unit processes (${perProcess} unit(s) each)`)
      const script = join(ctx.repoRoot, 'board', 'sim', 'telemetry-unit.ts')
      for (let i = 0; i < specs.length; i += 4) {
        const batch = specs.slice(i, i + 4).map((spec) => {
          const p = { proc: spawn(process.execPath, [script, spec], { stdio: ['ignore', 'pipe', 'pipe'] }), out: '', connected: 0 }
          p.proc.stdout?.on('data', (d: Buffer) => {
            p.out += d.toString()
            const m = [...p.out.matchAll(/connected (\d+)/g)].at(-1)
            if (m) p.connected = Number(m[1])
          })
          p.proc.stderr?.on('data', (d: Buffer) => {
            p.out += d.toString()
          })
          procs.push(p)
          return p
        })
        await until(() => batch.every((p) => p.out.includes('ready') || p.proc.exitCode !== null), 60000, 'a batch of unit processes to start')
        const dead = batch.find((p) => p.proc.exitCode !== null)
        if (dead) throw new Error(`a unit process exited: ${dead.out.slice(-400)}`)
      }
      const connectedNow = () => procs.reduce((a, p) => a + p.connected, 0)
      await until(() => connectedNow() === n, 120000, `all ${n} units connected`).catch(() => {})
      const connected = connectedNow()
      await new Promise((r) => setTimeout(r, 3000))
      const pid = broker.pid!
      const pids = procs.map((p) => p.proc.pid!)
      const unitsCpu0 = pids.reduce((a, q) => a + procCpuS(q), 0)
      const b0 = procCpuS(pid)
      const c0 = process.cpuUsage()
      const w0 = performance.now()
      measuring = true
      await new Promise((r) => setTimeout(r, seconds * 1000))
      measuring = false
      const wall = (performance.now() - w0) / 1000
      const brokerCpu = ((procCpuS(pid) - b0) / wall) * 100
      const unitsCpu = ((pids.reduce((a, q) => a + procCpuS(q), 0) - unitsCpu0) / wall) * 100
      const c = process.cpuUsage(c0)
      const consumerCpu = ((c.user + c.system) / 1e6 / wall) * 100
      const unitsRss = pids.reduce((a, q) => a + procRssMiB(q), 0)
      const rss = procRssMiB(pid)
      latencies.sort((x, y) => x - y)
      const rate = received / wall
      await bounded(fleet.endAsync(true), 5000, "closing the consumer's client").catch(() => {})
      const rows: BenchRow[] = [
        {
          metric: 'units connected (TLS, client certificates)',
          value: `${connected}/${n}`,
          note: `${procs.length} OS processes, ${perProcess} unit(s) each (board/sim/telemetry-unit.ts)`,
        },
        { metric: 'health messages a second at the consumer', value: fixed(rate, 1), unit: '/s', note: `${n} units x 1/s, QoS 1, ${seconds} s` },
        {
          metric: 'end-to-end latency p50',
          value: fixed(percentile(latencies, 50), 0),
          unit: 'ms',
          note: 'publisher at -> consumer, incl. the disk buffer (20 ms batching window + fsync)',
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
          metric: `units' CPU (all ${n}, summed over their processes)`,
          value: fixed(unitsCpu, 1),
          unit: '% of a core',
          note: `${fixed(unitsCpu / n, 2)} % per unit; the consumer ${fixed(consumerCpu, 1)} %`,
        },
        { metric: "units' memory (RSS, summed)", value: fixed(unitsRss, 0), unit: 'MiB', note: `${fixed(unitsRss / procs.length, 0)} MiB per process` },
        {
          metric: 'ESTIMATE for 1,000 units (linear from the above, not measured)',
          value: `${fixed(rate * (1000 / n), 0)} msg/s, broker ${fixed(brokerCpu * (1000 / n), 0)} % CPU, ${fixed(rss0 + (rss - rss0) * (1000 / n), 0)} MiB`,
          note: 'one mosquitto is single-threaded: past ~1 core, a clustered broker (EMQX, HiveMQ, VerneMQ) spreads the TLS connections over nodes and consumers share the load with $share/ subscriptions',
        },
      ]
      return rows
    } finally {
      for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGTERM')
      await until(() => procs.every((p) => p.proc.exitCode !== null || p.proc.signalCode !== null), 15000, 'the unit processes to stop').catch(() => {
        for (const p of procs) p.proc.kill('SIGKILL')
      })
      await broker.stop()
    }
  },
}
export default section
