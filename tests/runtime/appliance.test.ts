import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { Appliance } from '../../firmware/runtime/appliance.ts'
import { statusLines } from '../../firmware/runtime/run.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { InferenceMonitor } from '../../firmware/watchdog/inference-health.ts'
import { readTransitionFile, TransitionLog } from '../../firmware/watchdog/log.ts'
import { EngineStallMonitor, MemoryMonitor, OverrunRateMonitor, ThermalMonitor, XrunRateMonitor } from '../../firmware/watchdog/monitors.ts'
import { until } from '../helpers/until.ts'

const profile = loadProfile('sim')
const root = join(import.meta.dirname, '..', '..')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
t.test('monitors turn signals into faults with evidence a person can read', async (t) => {
  const stall = new EngineStallMonitor(200)
  t.equal(stall.check(0, 10), null)
  t.equal(stall.check(150, 10), null)
  t.match(stall.check(260, 10), { level: 'bypass', cause: 'engine-stall', evidence: 'engine block counter stuck at 10 for 260 ms > 200 ms' })
  const ov = new OverrunRateMonitor(10)
  let f = null
  for (let ms = 0, n = 0; ms <= 1000; ms += 10, n += 1) f = ov.check(ms, n) // 100 per second
  t.match(f, { level: 'bypass', cause: 'dsp-overrun-rate' })
  const ok = new OverrunRateMonitor(10)
  for (let ms = 0; ms <= 1000; ms += 10) f = ok.check(ms, Math.floor(ms / 200)) // 5 per second
  t.equal(f, null)
  const xr = new XrunRateMonitor(2)
  for (let ms = 0, n = 0; ms <= 1000; ms += 100, n += 1) f = xr.check(ms, n)
  t.match(f, { level: 'degrade', cause: 'xruns' })
  // One xrun just after start (a busy machine at boot) is one in a second, not ten a second.
  const once = new XrunRateMonitor(2)
  t.equal(once.check(0, 0), null)
  t.equal(once.check(100, 1), null, 'a single early xrun does not degrade')
  t.equal(once.check(200, 2), null)
  t.match(once.check(300, 3), { level: 'degrade', cause: 'xruns' }, 'three within a second do')
  const th = new ThermalMonitor(profile.thermalZones)
  t.match(th.check(new Map([['cpu', 96]])), { level: 'bypass', evidence: 'cpu 96.0 °C >= 95 °C' })
  t.match(th.check(new Map([['cpu', 86]])), { level: 'degrade' })
  t.equal(th.check(new Map([['cpu', 50]])), null)
  t.match(new MemoryMonitor(100 * 1024 * 1024).check(200 * 1024 * 1024), { level: 'degrade', evidence: 'resident memory 200 MiB > 100 MiB' })
  const inf = new InferenceMonitor({ hungMs: 1000, maxLatePerWindow: 2, windowMs: 1000 })
  t.same(inf.check(5000), [], 'not armed before inference-started')
  inf.onEvent({ type: 'inference-started', at: 0 })
  for (let i = 0; i < 3; i++) inf.onEvent({ type: 'inference-result', at: 100 + i, latencyMs: 80, deadlineMs: 50, valid: true })
  t.match(inf.check(200), [{ cause: 'inference-latency' }])
  t.match(inf.check(1500), [{ cause: 'inference-hung' }])
  inf.onEvent({ type: 'inference-stopped', at: 1600 })
  t.same(inf.check(9000), [], 'a deliberate stop disarms it')
})

t.test('the transition log keeps a bounded ring and rotates its file', async (t) => {
  const dir = t.testdir()
  const log = new TransitionLog({ dir, capacity: 5, maxBytes: 600, keep: 2 })
  for (let i = 0; i < 40; i++) log.append({ at: i, from: 'ACTIVE', to: 'BYPASS', cause: 'event-loop-lag', evidence: `event-loop lag ${300 + i} ms > 250 ms` })
  t.same(
    log.recent().map((r) => r.at),
    [35, 36, 37, 38, 39],
  )
  const files = readdirSync(dir).sort()
  t.same(files, ['transitions.jsonl', 'transitions.jsonl.1', 'transitions.jsonl.2'])
  const last = readTransitionFile(join(dir, 'transitions.jsonl'))
  t.equal(last[last.length - 1]!.at, 39)
  for (const f of files) t.ok(readFileSync(join(dir, f)).length <= 600, `${f} within the size limit`)
})

t.test('a thermal limit bypasses, a warning degrades, and cooling recovers in steps', async (t) => {
  const logDir = t.testdir()
  const app = await Appliance.start(profile, { logDir, watchdog: { healthyPeriodMs: 300, degradedPeriodMs: 300 } })
  t.teardown(() => app.stop())
  await until(() => app.status().state === 'ACTIVE', 2000, 'ACTIVE')
  app.setSimTemperature('cpu', 97)
  await until(() => app.status().state === 'BYPASS', 2000, 'BYPASS')
  t.match(app.faults(1)[0], { cause: 'thermal', evidence: 'cpu 97.0 °C >= 95 °C' })
  await sleep(100)
  t.notOk(app.engine.stats().processed, 'the engine is dry')
  app.setSimTemperature('cpu', 88)
  await until(() => app.status().state === 'DEGRADED', 3000, 'DEGRADED')
  await until(() => app.engine.stats().processed, 1000, 'processing again')
  t.pass('processing again, inference off')
  t.notOk(app.inferenceEnabled)
  app.setSimTemperature('cpu', 50)
  await until(() => app.status().state === 'ACTIVE', 3000, 'ACTIVE')
  await app.stop()
  const onDisk = readTransitionFile(join(logDir, 'transitions.jsonl'))
  t.same(onDisk, app.faults(100), 'every transition is on disk, as in memory')
  // (The states themselves were checked above as they happened; a loaded machine may add an
  // event-loop or native heartbeat bypass in between, which is the watchdog doing its job.)
  const seq = onDisk.map((r) => `${r.from}->${r.to}:${r.cause}`)
  t.ok(
    seq.includes('ACTIVE->BYPASS:thermal') && seq.some((x) => x.endsWith('->DEGRADED:recovered')),
    `thermal bypass and stepwise recovery on disk: ${seq.join(', ')}`,
  )
  t.equal(seq[seq.length - 1], 'ACTIVE->BYPASS:shutdown')
  t.throws(() => app.setManualBypass(false, 'test'), { code: 'FW_ERR_ENGINE' }, 'no controls once stopped')
})

t.test('a stalled engine (block counter stops) bypasses', async (t) => {
  // The audio thread ends by itself after 0.3 s of audio: its block counter stops moving.
  const app = await Appliance.start(profile, { logDir: null, engine: { maxBlocks: 225 } })
  t.teardown(() => app.stop())
  await until(() => app.faults(10).some((r) => r.cause === 'engine-stall'), 3000, 'an engine-stall bypass')
  const r = app.faults(10).find((x) => x.cause === 'engine-stall')!
  t.match(r, { to: 'BYPASS', evidence: /engine block counter stuck at 225 for \d+ ms > 200 ms/ }, JSON.stringify(app.faults(10)))
  t.equal(app.relay.state, 'bypass', 'the relay drops: the engine cannot pass dry audio either')
})

t.test('startAppliance starts services after the appliance and stops them first', async (t) => {
  const order: string[] = []
  const svc = (name: string) => async (app: Appliance) => {
    order.push(`start ${name} (${app.status().state})`)
    return {
      stop: async () => {
        order.push(`stop ${name} (${app.status().state})`)
      },
    }
  }
  const running = await startAppliance('sim', { panelPort: null, logDir: null, hardwareWatchdogs: [], services: [svc('console'), svc('api')] })
  t.ok(
    statusLines(running.app).some((l) => l.startsWith('state ACTIVE')),
    'the status screen shows the state',
  )
  await running.stop()
  await running.stop()
  t.same(order, ['start console (ACTIVE)', 'start api (ACTIVE)', 'stop api (ACTIVE)', 'stop console (ACTIVE)'])
  t.equal(running.app.status().state, 'BYPASS')
})

t.test('firmware run --board sim shows status until Ctrl-C, then stops cleanly and reaps its children', async (t) => {
  const child = spawn(process.execPath, ['bin/firmware.js', 'run', '--board', 'sim'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  await until(() => /state ACTIVE\s+cause \S+\s+relay processed\s+panel SIM-FP/.test(out) && /DOA\s+az/.test(out), 15000, 'a live status line')
  const kids = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(child.pid)
      } catch {
        return false
      }
    })
  t.ok(kids.length >= 2, `it runs ${kids.length} children (socat, the simulated panel)`)
  child.kill('SIGINT')
  const code = await new Promise((r) => child.once('exit', r))
  t.equal(code, 0, `exit code 0 ${err}`)
  t.match(out, /stopped: state BYPASS \(shutdown\), relay bypass/)
  for (const k of kids) t.notOk(readdirSync('/proc').includes(k), `child ${k} reaped`)
})

t.test('an exception in the control tick is a bypass fault, not a crash', async (t) => {
  const app = await Appliance.start(profile, { logDir: null, watchdog: { healthyPeriodMs: 300 } })
  t.teardown(() => app.stop())
  await until(() => app.status().state === 'ACTIVE', 2000, 'ACTIVE')
  const engine = app.engine as { poll: () => unknown }
  const poll = engine.poll
  let failures = 5
  engine.poll = function (this: unknown) {
    if (failures > 0) {
      failures--
      throw new Error('ring record malformed')
    }
    return poll.call(this)
  }
  await until(() => app.status().state === 'BYPASS', 1000, 'BYPASS')
  t.match(app.faults(1)[0], { cause: 'runtime-error', evidence: 'control tick failed: ring record malformed' })
  await until(() => app.tickErrors === 5, 1000, 'five failed ticks counted')
  t.equal(app.status().state, 'BYPASS', 'still bypassed while the ticks fail')
  await until(() => app.status().state === 'ACTIVE', 2000, 'ACTIVE again once the ticks are clean')
})

t.test('an engine that cannot start is a clear error, and nothing is left running', async (t) => {
  const bad = { ...profile, audio: { ...profile.audio, backend: 'alsa' as const, alsa: { capture: 'hw:CARD=NoSuchCard', playback: 'hw:CARD=NoSuchCard' } } }
  const kidsOf = (pid: number) =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid)
        } catch {
          return false
        }
      })
  const before = kidsOf(process.pid)
  await t.rejects(startAppliance(bad, { logDir: null, hardwareWatchdogs: [] }), { code: 'FW_ERR_UNKNOWN_DEVICE' })
  await sleep(200)
  t.same(
    kidsOf(process.pid).filter((k) => !before.includes(k)),
    [],
    'the simulated panel and socat were stopped',
  )
})
