// The inference child process on its own, as InferenceService forks it: each request it serves
// (load, unload, run), what it answers when a model is missing, broken or does not match its
// manifest, the heartbeat, a deliberate shutdown that lets a run in flight finish, and refusing
// to start without a parent. A real child process over real IPC; the backend is a simulation.
import { type ChildProcess, fork, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { WireFeeds } from '../../firmware/inference/backend.ts'
import type { FromChild, ToChild } from '../../firmware/inference/child.ts'
import type { ModelManifest } from '../../firmware/inference/manifest.ts'
import { until } from '../helpers/until.ts'

const CHILD = fileURLToPath(new URL('../../firmware/inference/child.ts', import.meta.url))
const ECHO = new URL('./fixtures/echo-backend.ts', import.meta.url).href

const tensor = { name: 'x', type: 'float32', shape: [1, 4] }
const manifest = { name: 'echo', version: '1.0.0', inputs: [tensor], outputs: [tensor] } as unknown as ModelManifest
const bytes = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))
const feeds = (delayMs = 0): WireFeeds => ({
  x: { type: 'float32', dims: [1, 4], data: Float32Array.of(1, 2, 3, 4) },
  ...(delayMs > 0 ? { delay: { type: 'float32' as const, dims: [1], data: Float32Array.of(delayMs) } } : {}),
})

/** A request without its number (the helper numbers it). */
type Unnumbered<M> = M extends { req: number } ? Omit<M, 'req'> : never

/** The child forked as the service forks it, every message it sends kept in order. */
async function started(t: Test) {
  const proc: ChildProcess = fork(CHILD, ['--inference-child', '--backend', ECHO, '--heartbeat-ms', '20'], {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const got: FromChild[] = []
  proc.on('message', (m: FromChild) => got.push(m))
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL')
  })
  await until(() => got.some((m) => m.type === 'ready'), 20_000, 'the child says ready')
  let req = 0
  /** Sends a request and waits for the answer that carries its number. */
  const ask = async (m: Unnumbered<ToChild>): Promise<FromChild> => {
    const n = ++req
    proc.send({ ...m, req: n } as ToChild)
    await until(() => got.some((g) => 'req' in g && g.req === n), 20_000, `an answer to request ${n}`)
    return got.find((g) => 'req' in g && g.req === n)!
  }
  return { proc, got, ask, exited }
}

t.test('load, run, unload: each request answered; a missing, broken or mismatched model is refused by name', async (t) => {
  const { ask, got } = await started(t)
  t.match(await ask({ type: 'run', id: 'echo-1', feeds: feeds() }), { type: 'failed', message: 'model echo-1 is not loaded in the inference process' })
  t.match(await ask({ type: 'load', id: 'echo-1', manifest, bytes: bytes({ broken: true }) }), {
    type: 'loaded',
    ok: false,
    message: /^model echo-1 cannot be loaded by onnxruntime \(protobuf parsing failed\); the file is corrupt or not an ONNX model$/,
  })
  const other = { name: 'y', type: 'float32', shape: [1, 4] }
  t.match(await ask({ type: 'load', id: 'echo-1', manifest, bytes: bytes({ inputs: [other], outputs: [tensor] }) }), {
    type: 'loaded',
    ok: false,
    message: /model echo-1 does not match its manifest: input "x" missing \(model has y\); input "y" is not in the manifest/,
  })
  t.match(await ask({ type: 'run', id: 'echo-1', feeds: feeds() }), { type: 'failed' }, 'a refused load leaves nothing loaded')
  t.same(await ask({ type: 'load', id: 'echo-1', manifest, bytes: bytes({ inputs: [tensor], outputs: [tensor] }) }), { type: 'loaded', req: 5, ok: true })
  const r = await ask({ type: 'run', id: 'echo-1', feeds: feeds() })
  t.equal(r.type, 'result')
  if (r.type === 'result') {
    t.same([...(r.outputs.x!.data as Float32Array)], [1, 2, 3, 4], 'the outputs cross as typed arrays')
    t.ok(r.runMs >= 0, 'the run time is reported')
  }
  t.same(await ask({ type: 'unload', id: 'echo-1' }), { type: 'loaded', req: 7, ok: true })
  t.match(await ask({ type: 'run', id: 'echo-1', feeds: feeds() }), { type: 'failed', message: /not loaded/ }, 'gone after unload')
  t.same(await ask({ type: 'unload', id: 'never-loaded' }), { type: 'loaded', req: 9, ok: true }, 'unloading what is not there is harmless')
  t.ok(got.filter((m) => m.type === 'heartbeat').length > 0, 'heartbeats arrive')
})

t.test('shutdown lets the run in flight finish, answers it, and exits 0', async (t) => {
  const { proc, got, ask, exited } = await started(t)
  await ask({ type: 'load', id: 'echo-1', manifest, bytes: bytes({ inputs: [tensor], outputs: [tensor] }) })
  proc.send({ type: 'run', req: 100, id: 'echo-1', feeds: feeds(300) } satisfies ToChild)
  proc.send({ type: 'shutdown' } satisfies ToChild)
  proc.send({ type: 'run', req: 101, id: 'echo-1', feeds: feeds() } satisfies ToChild)
  t.equal(await exited, 0, 'a deliberate stop exits 0')
  t.match(
    got.find((m) => 'req' in m && m.req === 100),
    { type: 'result' },
    'the run in flight was answered',
  )
  t.notOk(
    got.some((m) => 'req' in m && m.req === 101),
    'a request after shutdown is not served',
  )
})

t.test('started by hand, without a parent, it refuses with exit 2', async (t) => {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, '--inference-child'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(r.status, 2)
  t.match(r.stderr, /is started by the inference service \(child_process\.fork with IPC\), not by hand/)
})
