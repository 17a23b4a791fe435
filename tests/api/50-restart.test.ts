// The API survives its own crash: a worker that throws, is terminated, or hangs is replaced on the
// same port after a backoff, while the appliance stays ACTIVE and keeps processing. Real TLS clients
// (Node https with the operator's client certificate) talk to it throughout.

import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createServer } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { connect } from 'node:tls'
import t from 'tap'
import { type ApiHandle, type ApiStats, startApi } from '../../firmware/api/server.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type CommandRegistry, createRegistry } from '../../firmware/commands/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import type { TransitionRecord } from '../../firmware/watchdog/types.ts'
import { issueClient, revokeClient } from '../../provisioning/provision.ts'
import { startStarvationProbe, starvedNear } from '../helpers/starvation.ts'
import { type Creds, call, type Fixture, makeFixture } from './helpers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

let fx: Fixture
let op: Creds
let app: ApplianceApi
let api: ApiHandle
let hooks: NonNullable<ApiHandle['testHooks']>
let late: ReturnType<typeof issueClient>

// A slow state-changing command, to have a request in flight when the worker dies. Each call waits
// until the test releases it and answers with its call number.
let slowCalls = 0
const slowGates: Array<() => void> = []

// What the appliance did while the API was crashing: sampled every 20 ms from the first test on.
const samples: Array<{ state: string; processed: boolean; blocks: number }> = []
let sampler: NodeJS.Timeout | null = null
// Faults are judged from here on: what happened while the unit booted (a CI machine busy with other
// suites can lag the event loop then) is not what this file checks.
let measureFrom = 0
const loopDelay = monitorEventLoopDelay({ resolution: 5 })
// Another process's view of the cores over the same time: a stall the witness shared was the
// machine's, not the API's (tests/helpers/starvation.ts).
const witness = startStarvationProbe()

t.before(async () => {
  fx = await makeFixture(t.testdir())
  op = fx.creds(fx.operator)
  // Issued before the measurement starts (issuing runs openssl synchronously).
  late = issueClient(fx.dataDir, { outParent: fx.crew, name: 'late-tablet', role: 'operator' })
  let rig: { app: ApplianceApi; registry: CommandRegistry; api: ApiHandle } | null = null
  // The engine's stale-heartbeat limit is raised from 100 to 500 ms: the test machine's two cores are
  // shared with other suites, and a load spike there is not what this file checks. A restart costs
  // the main thread a few ms (the longest stall is printed at the end); a stall the API caused
  // past 500 ms would still fail the last test.
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir: fx.dataDir },
    {
      engine: { heartbeatTimeoutMs: 500 },
      services: [
        async (a) => {
          const registry = createRegistry(a)
          registry.register({
            name: 'slowtest',
            summary: 'test only: waits until released',
            examples: ['slowtest'],
            permission: 'operate',
            args: [],
            timeoutMs: 30_000,
            handler: async () => {
              const n = ++slowCalls
              await new Promise<void>((r) => slowGates.push(r))
              return { call: n }
            },
          })
          const handle = await startApi(a, registry, a.profile, {
            port: 0,
            host: '127.0.0.1',
            testHooks: true,
            restart: { initialDelayMs: 100, maxDelayMs: 1600, healthyMs: 3000, pingMs: 200, hangMs: 1000 },
          })
          rig = { app: a, registry, api: handle }
          return handle
        },
      ],
    },
  )
  t.teardown(async () => {
    await witness.stop()
    if (sampler) clearInterval(sampler)
    for (const g of slowGates) g()
    await run.stop()
  })
  app = rig!.app
  api = rig!.api
  hooks = api.testHooks!
  await until('the appliance to be ACTIVE', () => app.status().state === 'ACTIVE')
  loopDelay.enable()
  measureFrom = Date.now()
  sampler = setInterval(() => {
    const s = app.status()
    samples.push({ state: s.state, processed: s.engine.processed, blocks: s.engine.blocks })
  }, 20)
})

/** The SHA-256 fingerprint of the certificate the unit presents (a full mutual-TLS handshake). */
function unitFingerprint(port: number, c: Creds): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: c.ca, cert: c.cert, key: c.key, minVersion: 'TLSv1.3' }, () => {
      const fp = s.getPeerCertificate().fingerprint256
      s.end()
      resolve(fp)
    })
    s.on('error', reject)
  })
}

/** An event stream; `events` fills as they arrive, `ended` resolves when the connection goes. */
function openStream(port: number, c: Creds, query: string) {
  const events: string[] = []
  let resolveEnd: (how: string) => void = () => {}
  const ended = new Promise<string>((r) => {
    resolveEnd = r
  })
  const req = httpsRequest(
    { host: '127.0.0.1', port, path: `/api/events?${query}`, servername: 'localhost', agent: false, ca: c.ca, cert: c.cert, key: c.key },
    (res) => {
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        for (const m of d.matchAll(/^event: (\w+)$/gm)) events.push(m[1]!)
      })
      res.on('close', () => resolveEnd('closed'))
    },
  )
  req.on('error', (e) => resolveEnd(`error ${e.message}`))
  req.end()
  return { events, ended, close: () => req.destroy() }
}

const upAgain = (n: (s: ApiStats) => boolean) => until('the API worker to be back', () => api.stats().state === 'up' && n(api.stats()))

t.test('a crashed worker is restarted on the same port and the next request succeeds', async (t) => {
  const port = api.port
  t.equal((await call(port, op, 'GET', '/api/status')).status, 200, 'up before the crash')
  hooks.crash()
  await upAgain((s) => s.restarts === 1)
  const s = api.stats()
  t.equal(s.crashes, 1, 'one crash counted')
  t.match(s.last?.cause, /crashed: test-only crash of the API worker/)
  t.equal(api.port, port, 'same port')
  const r = await call(port, op, 'GET', '/api/status')
  t.equal(r.status, 200, 'the next request succeeds')
  t.match(r.json.value.api, { restarts: 1, crashes: 1, hangs: 0, last_restart: { cause: /crashed: test-only crash/ } }, 'the API status says so')
  // Starting a worker can starve the sim audio thread into xruns on 2 cores (DEGRADED, tolerated and
  // said in the last test), and a machine busy with other suites can hold up the control plane, seen
  // by the witness process at the same moment; any other state or cause is a failure.
  const st = r.json.value as { state: string; cause: string }
  const machine = (st.cause === 'event-loop-lag' || st.cause === 'control-plane-stall') && starvedNear(witness.seen(), Date.now(), 50, 3000)
  t.ok(st.state === 'ACTIVE' || (st.state === 'DEGRADED' && (st.cause === 'xruns' || machine)), `state ${st.state} (${st.cause})`)
  const w = await call(port, op, 'POST', '/api/gain', { output: 1, db: -3 })
  t.equal(w.status, 200, 'a write works after the restart too')
  const log = readFileSync(api.files.log, 'utf8')
  t.match(log, /API worker crashed: test-only crash of the API worker; restarting it in 100 ms on port \d+/)
  t.match(log, /API worker restarted \(restart 1\); listening again on port \d+/)
  // The appliance log, as an operator reads it through the restarted API (log tail).
  const tail = await call(port, op, 'GET', '/api/log/tail?count=500')
  t.equal(tail.status, 200)
  const lines = (tail.json.value as Array<{ source: string; message: string }>)
    .filter((l) => l.source === 'api')
    .map((l) => l.message)
    .join('\n')
  t.match(lines, /API worker crashed: test-only crash/, 'the appliance log has the crash')
  t.match(lines, /API worker restarted \(restart 1\)/, 'and the restart')
})

t.test('a worker terminated through the handle is restarted the same way', async (t) => {
  const before = api.stats()
  const w = hooks.worker()
  t.ok(w, 'the handle reaches the worker')
  await w!.terminate()
  await upAgain((s) => s.restarts === before.restarts + 1)
  t.equal(api.stats().crashes, before.crashes + 1)
  t.match(api.stats().last?.cause, /exited \(code 1\)/)
  t.not(hooks.worker(), w, 'a new worker')
  const r = await call(api.port, op, 'GET', '/api/status')
  t.equal(r.status, 200)
  t.equal(r.json.value.api.restarts, before.restarts + 1)
})

t.test('a hung worker stops answering the ping, is terminated and restarted', async (t) => {
  const before = api.stats()
  hooks.hang(60_000)
  // While it spins, requests get nothing; once it is replaced they work again.
  await upAgain((s) => s.hangs === before.hangs + 1)
  const s = api.stats()
  t.equal(s.restarts, before.restarts + 1, 'restarted once')
  t.equal(s.crashes, before.crashes, 'counted as a hang, not a crash')
  t.match(s.last?.cause, /stopped answering for 1000 ms/)
  const r = await call(api.port, op, 'GET', '/api/status')
  t.equal(r.status, 200, 'the next request succeeds')
  t.equal(r.json.value.api.hangs, before.hangs + 1)
  t.match(readFileSync(api.files.log, 'utf8'), /API worker has not answered for \d+ ms; terminating it/)
})

t.test('an event stream ends with its worker; one opened after the restart gets meters again', async (t) => {
  const first = openStream(api.port, op, 'types=meters&metersHz=20')
  t.teardown(first.close)
  await until('meters on the first stream', () => first.events.includes('meters'))
  const r0 = api.stats().restarts
  hooks.crash()
  t.match(await first.ended, /closed|error/, 'the stream ends at the crash')
  await upAgain((s) => s.restarts === r0 + 1)
  const second = openStream(api.port, op, 'types=meters&metersHz=20')
  t.teardown(second.close)
  await until('meters on the new stream', () => second.events.includes('meters'))
  t.pass('the new worker streams meters from the appliance')
})

t.test('a request in flight at the crash gets a clean error and its command runs once', async (t) => {
  // Start from a fresh worker so the slow request is its first: request ids then collide on purpose.
  const r0 = api.stats().restarts
  hooks.crash()
  await upAgain((s) => s.restarts === r0 + 1)
  const calls0 = slowCalls
  const inflight = call(api.port, op, 'POST', '/api/slowtest', {}).then(
    (r) => ({ ok: true as const, r }),
    (e: Error & { code?: string }) => ({ ok: false as const, e }),
  )
  await until('the command to start', () => slowCalls === calls0 + 1)
  const restarts = api.stats().restarts
  hooks.crash()
  const got = await inflight
  t.equal(got.ok, false, 'the client sees the connection go')
  if (!got.ok) t.match(got.e.code ?? got.e.message, /ECONNRESET|socket hang up/)
  await upAgain((s) => s.restarts === restarts + 1)
  // In the new worker, request ids start again; the old worker's answer must not reach this one.
  const second = call(api.port, op, 'POST', '/api/slowtest', {})
  await until('the second command to start', () => slowCalls === calls0 + 2)
  slowGates.shift()!() // the first call finishes now: its answer has nowhere to go
  await sleep(200)
  slowGates.shift()!()
  const r = await second
  t.equal(r.status, 200)
  t.same(r.json.value, { call: calls0 + 2 }, "the reply is the second call's own")
  t.equal(slowCalls, calls0 + 2, 'nothing ran twice: one run per request')
})

t.test('a restarted worker presents the same certificate and reads the CRL as it is on disk', async (t) => {
  const fp = await unitFingerprint(api.port, op)
  const lateCreds = fx.creds(late)
  t.equal((await call(api.port, lateCreds, 'GET', '/api/status')).status, 200, 'a new certificate works')
  const r0 = api.stats().restarts
  // Revoked and crashed at once: the restarted worker must not serve from an older list.
  revokeClient(fx.dataDir, { serial: late.serial })
  hooks.crash()
  await upAgain((s) => s.restarts === r0 + 1)
  t.equal(await unitFingerprint(api.port, op), fp, 'the same device certificate')
  await t.rejects(call(api.port, lateCreds, 'GET', '/api/status'), 'the certificate revoked before the crash is refused')
  await t.rejects(call(api.port, fx.creds(fx.revoked), 'GET', '/api/status'), 'and so is the one revoked at provisioning')
  await t.rejects(call(api.port, fx.creds(fx.foreign), 'GET', '/api/status'), 'and one from another CA')
  t.equal((await call(api.port, op, 'GET', '/api/status')).status, 200, 'the operator still gets in')
})

t.test('restarts back off while the port cannot be bound, then recover; a healthy worker resets the delay', async (t) => {
  const port = api.port
  const failed0 = api.stats().failedStarts
  const restarts0 = api.stats().restarts
  await sleep(3100) // the current worker has been healthy for longer than healthyMs
  const logBefore = readFileSync(api.files.log, 'utf8').length
  const w = hooks.worker()!
  await w.terminate()
  // Someone else takes the port before the restart (100 ms later): each attempt fails and waits longer.
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()))
  await until('three failed restarts', () => api.stats().failedStarts >= failed0 + 3)
  t.equal(api.stats().state, 'restarting')
  const log = readFileSync(api.files.log, 'utf8').slice(logBefore)
  t.match(log, /API worker exited \(code 1\); restarting it in 100 ms/, 'a worker that ran a healthy while restarts after the first delay')
  t.match(log, /restart failed: .*EADDRINUSE.*; trying again in 400 ms/)
  t.match(log, /restart failed: .*EADDRINUSE.*; trying again in 800 ms/)
  await new Promise<void>((r) => blocker.close(() => r()))
  await upAgain((s) => s.restarts === restarts0 + 1)
  t.equal(api.port, port)
  t.equal((await call(port, op, 'GET', '/api/version')).status, 200, 'serving again on the same port')
  // A crash right after a restart waits longer than the first delay: the backoff was not reset.
  t.ok(api.stats().nextDelayMs > 100, `backoff stands at ${api.stats().nextDelayMs} ms`)
})

t.test('the appliance stayed ACTIVE and processing while the API crashed and hung', async (t) => {
  loopDelay.disable()
  t.comment(
    `main thread while the API crashed, hung and restarted: longest event-loop stall ${(loopDelay.max / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms`,
  )
  t.ok(samples.length > 50, `${samples.length} samples`)
  // Starting a worker (a V8 isolate, TLS contexts) costs CPU; on this 2-core machine the sim
  // backend's audio thread runs without real-time priority, so a restart can starve it into
  // missed deadlines (counted as xruns, DEGRADED by the xrun monitor). That is the machine, not the
  // API: it is tolerated, and said. Anything else is a failure: the sound going dry, a bypass, or
  // a fault from the control plane (stale heartbeat, event-loop lag) or from the API itself.
  const late = await witness.stop()
  t.comment(`the witness process: ${late.length} late ticks, the latest by ${Math.max(0, ...late.map((l) => l.ms))} ms`)
  const faults = app.faults(20).filter((f) => f.at >= measureFrom && f.to !== 'ACTIVE')
  // A stale heartbeat, a late event loop or a silent front panel is the API's fault unless another
  // process was held up about as long at the same moment: then the machine's cores were taken (CI
  // shares them with other suites), and the fail-safe did what it is for.
  // The witness sleeps on a timer, so the scheduler favours it over busy threads: it is held up
  // less than they are, hence a third of the stall suffices.
  const starved = (f: TransitionRecord) => {
    if (f.cause === 'xruns') return true
    if (!/lag|stall|heartbeat|silent/.test(f.cause)) return false
    const ms = Number(/(\d+) ms/.exec(f.evidence)?.[1] ?? 0)
    return starvedNear(late, f.at, Math.max(30, ms / 3), ms + 1000)
  }
  // A recovery from a tolerated fault is part of it.
  const recent = faults.filter((f, i) => !(f.cause === 'recovered' && faults.slice(0, i).some(starved)))
  const tolerated = recent.filter(starved)
  if (tolerated.length) t.comment(`tolerated: ${tolerated.map((f) => `${f.to} (${f.cause}: ${f.evidence})`).join('; ')}`)
  const others = recent.filter((f) => !starved(f))
  t.same(others, [], `no fault recorded but from CPU starvation${others.length ? `: ${others.map((f) => `${f.cause} (${f.evidence})`).join('; ')}` : ''}`)
  // Every departure from ACTIVE was the machine's (above): only then may the samples show one.
  const explained = recent.length > 0 && others.length === 0
  t.same(
    samples.filter((s) => !s.processed && !explained),
    [],
    'never went dry but when the whole machine stalled',
  )
  t.same(
    samples.filter((s) => (s.state === 'BYPASS' || s.state === 'MANUAL_BYPASS') && !explained),
    [],
    'never bypassed but when the whole machine stalled',
  )
  t.same(
    samples.filter((s) => s.state !== 'ACTIVE' && !explained),
    [],
    'never left ACTIVE but for CPU starvation',
  )
  t.ok(samples[samples.length - 1]!.blocks > samples[0]!.blocks, 'blocks kept coming')
  const log = readFileSync(api.files.log, 'utf8')
  t.notMatch(log, /PRIVATE KEY|BEGIN CERTIFICATE/, 'no key material in api.log')
})

t.test('stop() during a restart stops for good: no worker is left and none is started later', async (t) => {
  const { FakeAppliance } = await import('../commands/fake-appliance.ts')
  const fake = new FakeAppliance()
  const h = await startApi(fake, createRegistry(fake), fake.profile, {
    port: 0,
    host: '127.0.0.1',
    dataDir: fx.dataDir,
    testHooks: true,
    restart: { initialDelayMs: 300 },
  })
  const w = h.testHooks!.worker()!
  await w.terminate()
  t.equal(h.stats().state, 'restarting')
  await h.stop()
  t.equal(h.stats().state, 'stopped')
  await sleep(700)
  t.equal(h.testHooks!.worker(), null, 'no worker')
  t.equal(h.stats().restarts, 0, 'no restart after stop')
  await t.rejects(call(h.port, op, 'GET', '/api/status'), 'the port is closed')
})

t.test('a worker that runs out of its heap is restarted; the process lives on', async (t) => {
  const { FakeAppliance } = await import('../commands/fake-appliance.ts')
  const fake = new FakeAppliance()
  const h = await startApi(fake, createRegistry(fake), fake.profile, { port: 0, host: '127.0.0.1', dataDir: fx.dataDir, testHooks: true, maxHeapMb: 64 })
  t.teardown(() => h.stop())
  h.testHooks!.leak()
  await until('the API worker to be back', () => h.stats().state === 'up' && h.stats().restarts === 1, 30_000)
  t.match(h.stats().last?.cause, /crashed: .*(heap|memory)/i, `cause: ${h.stats().last?.cause}`)
  t.equal((await call(h.port, op, 'GET', '/api/status')).status, 200, 'serving again')
})
