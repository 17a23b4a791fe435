// Issue 11: a slow model never kills the unit. The models run in a child process; whatever they do
// (hang inside onnxruntime, spin, block, get SIGSTOPped or kill -9ed) the process that holds the
// audio lives on, the watchdog hears one cause per kind of fault, and a fresh child takes over.
// The harness (fixtures/hang-harness.ts) stands in for the firmware process, so a test can see it
// die: an abort inside onnxruntime ends a whole process, not just a thread.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { WireFeeds } from '../../firmware/inference/backend.ts'
import { modelsDir } from '../../firmware/inference/manifest.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { type InferenceHealthEvent, InferenceMonitor } from '../../firmware/watchdog/inference-health.ts'
import { until } from '../helpers/until.ts'

const HARNESS = join(import.meta.dirname, 'fixtures', 'hang-harness.ts')
const FAULTS = new URL('./fixtures/fault-backend.ts', import.meta.url).href
const CROWD = join(modelsDir, 'crowd_state.manifest.json')
const patch = (): WireFeeds => ({ logmel: { type: 'float32', dims: [1, 50, 40], data: new Float32Array(2000).fill(-12) } })
const fault = (kind: number): WireFeeds => ({ ...patch(), __fault: { type: 'float32', dims: [1], data: Float32Array.of(kind) } })

interface HarnessResult {
  rounds: number
  restarts: number
  hangs: number
  crashes: number
  ok: number
  causes: string[]
}

/** Runs the harness as its own process; returns how it ended and what it printed. */
function harness(args: string[]) {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', HARNESS, ...args], { encoding: 'utf8', timeout: 240_000 })
  const line = r.stdout.trim().split('\n').at(-1) ?? ''
  let result: HarnessResult | null = null
  try {
    result = JSON.parse(line) as HarnessResult
  } catch {
    /* died before it printed */
  }
  return { status: r.status, signal: r.signal, stderr: r.stderr, result }
}

/** A service with the fault backend whose health events feed a watchdog monitor, ticked every 10 ms. */
async function watched(t: Test, opts: ConstructorParameters<typeof InferenceService>[0] = {}) {
  const events: InferenceHealthEvent[] = []
  const logs: string[] = []
  const causes: string[] = []
  const monitor = new InferenceMonitor({ hungMs: 1000 })
  const svc = new InferenceService({
    backendModule: FAULTS,
    backoffInitialMs: 50,
    hungMs: 1000,
    onHealth: (e) => {
      monitor.onEvent(e)
      if (e.type !== 'inference-heartbeat') events.push(e)
    },
    log: (_l, m) => logs.push(m),
    ...opts,
  })
  const tick = setInterval(() => {
    for (const f of monitor.check(Date.now())) causes.push(f.cause)
  }, 10)
  t.teardown(async () => {
    clearInterval(tick)
    await svc.stop()
  })
  await svc.start()
  await svc.activate(CROWD)
  return { svc, events, logs, causes, monitor }
}

t.test('a model run that hangs inside onnxruntime: the process lives, the run is killed as hung, a fresh child answers', async (t) => {
  // The slow model takes seconds inside libonnxruntime.so; with the models in a worker thread,
  // terminating it mid-run aborted the whole process ("terminate called after throwing an
  // instance of 'Napi::Error'").
  const r = harness(['--kinds', 'slow', '--rounds', '3'])
  t.equal(r.signal, null, `the process was not killed by a signal (${r.signal}); stderr: ${r.stderr.slice(-300)}`)
  t.equal(r.status, 0, 'the process exited normally after three hung runs')
  t.match(r.result, { rounds: 3, crashes: 0, ok: 3 }, 'the model answers after each hung run')
  t.ok(
    r.result && r.result.hangs >= 3 && r.result.restarts === r.result.hangs,
    `each hung run killed and restarted (${r.result?.hangs} hangs, ${r.result?.restarts} restarts)`,
  )
  t.same(new Set(r.result?.causes), new Set(['inference-hung', 'exit:hung']), 'reported as hangs, nothing else')
})

t.test('24 hangs and kills in a row (slow model, spin, blocked, busy loop over a run, native block, SIGSTOP, kill -9): no process death', async (t) => {
  const kinds = ['slow', 'spin', 'blocked', 'busy-run', 'native-block', 'sigstop', 'kill9', 'slow']
  const r = harness(['--kinds', kinds.join(','), '--rounds', '24', '--hung-ms', '400'])
  t.equal(r.signal, null, `no signal ended the process; stderr: ${r.stderr.slice(-300)}`)
  t.equal(r.status, 0, 'the process exited normally')
  t.match(r.result, { rounds: 24, crashes: 3, ok: 24 }, '3 crashes restarted, the model answered after every round')
  // 21 hangs made on purpose; a starved machine may add one (a probe held up past hungMs).
  t.ok(
    r.result && r.result.hangs >= 21 && r.result.restarts === r.result.hangs + 3,
    `every hang killed and restarted (${r.result?.hangs} hangs, ${r.result?.restarts} restarts)`,
  )
  t.equal(r.result?.causes.filter((c) => c === 'inference-error').length, 0, 'no hang and no crash recorded as an inference-error')
})

t.test('a SIGSTOPped inference process is a hang: killed with SIGKILL after the grace period, reported as inference-hung, replaced', async (t) => {
  const { svc, events, causes } = await watched(t, { killGraceMs: 300 })
  const pid = svc.pid!
  t.ok(pid > 0 && pid !== process.pid, 'the models run in another process')
  process.kill(pid, 'SIGSTOP')
  await until(() => svc.stats().restarts === 1 && svc.running, 30_000, 'a fresh inference process')
  t.not(svc.pid, pid, 'a new process')
  t.match(
    events.find((e) => e.type === 'inference-hung'),
    { message: /no heartbeat from the inference process for \d+ ms/ },
  )
  t.match(
    events.find((e) => e.type === 'inference-exit'),
    { signal: 'SIGKILL', reason: 'hung' },
    'a stopped process ignores SIGTERM: SIGKILL after the grace period',
  )
  t.equal(events.filter((e) => e.type === 'inference-error').length, 0)
  t.ok(causes.length > 0 && causes.every((c) => c === 'inference-hung'), `the watchdog saw only inference-hung (${[...new Set(causes)].join(', ')})`)
  t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 2000 })).status, 'ok', 'the fresh process has the model loaded and answers')
})

t.test('kill -9 of the inference process is a crash: recorded as inference-exit, restarted with backoff', async (t) => {
  const { svc, events, logs, causes } = await watched(t)
  for (let i = 1; i <= 2; i++) {
    const pid = svc.pid!
    process.kill(pid, 'SIGKILL')
    await until(() => svc.stats().restarts === i && svc.running, 30_000, `restart ${i}`)
    t.not(svc.pid, pid)
  }
  const exits = events.filter((e) => e.type === 'inference-exit')
  t.match(exits, [
    { signal: 'SIGKILL', reason: 'crash' },
    { signal: 'SIGKILL', reason: 'crash' },
  ])
  t.equal(svc.stats().crashes, 2)
  t.equal(svc.stats().hangs, 0, 'a crash is not a hang')
  t.ok(
    logs.some((l) => /the inference process crashed \(code -, signal SIGKILL\)/.test(l)),
    'logged as a crash',
  )
  const delays = logs.filter((l) => /restart \d+ in/.test(l)).map((l) => Number(/in (\d+) ms/.exec(l)![1]))
  t.same(delays, [50, 100], 'the second restart waits twice as long')
  t.ok(causes.length > 0 && causes.every((c) => c === 'inference-exit'), `the watchdog saw only inference-exit (${[...new Set(causes)].join(', ')})`)
  t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 2000 })).status, 'ok')
})

t.test('a hang is always recorded as inference-hung, never as inference-error (spinning, blocked, outstanding request)', async (t) => {
  // Before: the service reported its own hang verdict as inference-error, the monitor's heartbeat
  // silence as inference-hung; whichever reached the watchdog first named the DEGRADED state.
  for (const kind of [1, 6, 8]) {
    const { svc, events, causes } = await watched(t)
    t.equal((await svc.infer('crowd-state', fault(kind), { deadlineMs: 50 })).status, 'late')
    await until(() => svc.stats().restarts === 1 && svc.running, 30_000, `restart after fault ${kind}`)
    await new Promise((r) => setTimeout(r, 50))
    t.equal(events.filter((e) => e.type === 'inference-error').length, 0, `fault ${kind}: no inference-error`)
    t.match(
      events.filter((e) => e.type === 'inference-exit'),
      [{ reason: 'hung' }],
      `fault ${kind}: the exit is the hang's`,
    )
    t.ok(
      causes.length > 0 && causes.every((c) => c === 'inference-hung'),
      `fault ${kind}: the watchdog saw only inference-hung (${[...new Set(causes)].join(', ')})`,
    )
    await svc.stop()
  }
})

t.test('a 1.5 s stall of this process while inference runs: no abort, and not mistaken for a hung child', async (t) => {
  const { svc, events } = await watched(t)
  for (let i = 0; i < 3; i++) {
    const pending = svc.infer('crowd-state', fault(4), { deadlineMs: 5000 }) // answers after 300 ms
    // Blocked from a setImmediate callback (as a slow synchronous call after I/O would be): the
    // next loop turn runs the timers, the watch among them, before it reads the child's messages.
    await new Promise<void>((r) =>
      setTimeout(
        () =>
          setImmediate(() => {
            const end = performance.now() + 1500
            while (performance.now() < end) {
              /* this process's event loop is blocked */
            }
            r()
          }),
        5,
      ),
    )
    t.equal((await pending).status, 'ok', `stall ${i + 1}: the run in flight is answered after the stall`)
    t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 2000 })).status, 'ok', `stall ${i + 1}: the same child answers`)
  }
  t.equal(svc.stats().restarts, 0, 'no restart: the child was healthy throughout')
  t.equal(events.filter((e) => e.type === 'inference-hung' || e.type === 'inference-exit').length, 0, 'no hang, no exit reported')
})

/** Starts the hang harness as a stand-in firmware with `extra` arguments; returns it, the pid of its
 *  inference process, and whether that process is alive (a zombie counts as gone). */
async function firmwareWithInference(t: Test, extra: string[] = []) {
  const fw = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', HARNESS, '--print-pid', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (fw.exitCode === null && fw.signalCode === null) fw.kill('SIGKILL')
  })
  let out = ''
  fw.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  await until(() => out.includes('\n'), 60_000, 'the inference process to start')
  const pid = (JSON.parse(out.split('\n')[0]!) as { pid: number }).pid
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  })
  const alive = () => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  return { fw, alive }
}

t.test('the firmware process killed (kill -9): its inference process does not linger', async (t) => {
  const { fw, alive } = await firmwareWithInference(t)
  t.ok(alive(), 'the inference process runs')
  fw.kill('SIGKILL')
  await until(() => !alive(), 10_000, 'the orphaned inference process to exit')
  t.pass('it saw its channel close and exited')
})

t.test('the firmware process killed while its inference process is stuck in a run: the stuck process goes too', async (t) => {
  // Stuck for 30 s with its event loop blocked, it cannot see its channel close; the parent's own
  // hang verdict is set past the test (60 s), so only the orphan guard can end it.
  const { fw, alive } = await firmwareWithInference(t, ['--stall-ms', '30000', '--hung-ms', '60000'])
  await new Promise((r) => setTimeout(r, 300))
  t.ok(alive(), 'the inference process runs (stuck)')
  fw.kill('SIGKILL')
  const t0 = Date.now()
  await until(() => !alive(), 5_000, 'the stuck orphan to exit')
  t.pass(`gone ${Date.now() - t0} ms after the firmware died`)
})

t.test('the inference process needs no orphan-guard thread: the kernel ends it with the firmware (setpriv --pdeathsig)', async (t) => {
  const { fw, alive } = await firmwareWithInference(t, ['--stall-ms', '30000', '--hung-ms', '60000'])
  const child = (readFileSync(`/proc/${fw.pid}/task/${fw.pid}/children`, 'utf8').trim().split(/\s+/).map(Number) as number[]).filter((p) => p > 0)
  t.equal(child.length, 1, 'the firmware has one child, its inference process')
  const threads = readdirSync(`/proc/${child[0]}/task`).map((task) => readFileSync(`/proc/${child[0]}/task/${task}/comm`, 'utf8').trim())
  t.notOk(threads.includes('WorkerThread'), `no Worker thread in the inference process (${[...new Set(threads)].join(', ')})`)
  t.match(readFileSync(`/proc/${child[0]}/cmdline`, 'utf8'), /--pdeathsig/, 'started with the parent-death signal set')
  fw.kill('SIGKILL')
  const t0 = Date.now()
  await until(() => !alive(), 5_000, 'the stuck orphan to exit')
  t.pass(`gone ${Date.now() - t0} ms after the firmware died`)
})
