import { createHash } from 'node:crypto'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { WireFeeds } from '../../firmware/inference/backend.ts'
import { loadManifest, modelsDir } from '../../firmware/inference/manifest.ts'
import { classifyPatches } from '../../firmware/inference/models.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import type { InferenceHealthEvent } from '../../firmware/watchdog/inference-health.ts'
import { InferenceMonitor } from '../../firmware/watchdog/inference-health.ts'

const CROWD = join(modelsDir, 'crowd_state.manifest.json')
const FAULTS = new URL('./fixtures/fault-backend.ts', import.meta.url).href

const patch = (v = -12): WireFeeds => ({ logmel: { type: 'float32', dims: [1, 50, 40], data: new Float32Array(2000).fill(v) } })
/** Polls until cond holds (the test's own timeout bounds it). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((res) => setTimeout(res, 20))
}
const fault = (kind: number): WireFeeds => ({ ...patch(), __fault: { type: 'float32', dims: [1], data: Float32Array.of(kind) } })

async function started(t: Test, opts: ConstructorParameters<typeof InferenceService>[0] = {}) {
  const events: InferenceHealthEvent[] = []
  const logs: string[] = []
  const monitor = new InferenceMonitor({ hungMs: 1000 })
  const svc = new InferenceService({
    backendModule: FAULTS,
    backoffInitialMs: 50,
    // Long enough that a heavily loaded test machine does not look like a hung worker.
    hungMs: 1000,
    onHealth: (e) => {
      monitor.onEvent(e)
      if (e.type !== 'inference-heartbeat') events.push(e)
    },
    log: (_l, m) => logs.push(m),
    ...opts,
  })
  t.teardown(() => svc.stop())
  await svc.start()
  await svc.activate(CROWD)
  return { svc, events, logs, monitor }
}

/** Writes a copy of the crowd-state model + manifest into dir, with edits. */
function modelCopy(dir: string, edit: { bytes?: (b: Buffer) => Buffer; manifest?: (m: Record<string, unknown>) => void; rehash?: boolean }) {
  let bytes: Buffer = readFileSync(join(modelsDir, 'crowd_state.onnx'))
  if (edit.bytes) bytes = edit.bytes(Buffer.from(bytes))
  writeFileSync(join(dir, 'crowd_state.onnx'), bytes)
  const m = JSON.parse(readFileSync(CROWD, 'utf8')) as Record<string, unknown>
  m.version = '9.9.9'
  if (edit.rehash) m.sha256 = createHash('sha256').update(bytes).digest('hex')
  edit.manifest?.(m)
  writeFileSync(join(dir, 'm.manifest.json'), JSON.stringify(m))
  return join(dir, 'm.manifest.json')
}

t.test('the committed models load and answer within their budgets', async (t) => {
  const { svc } = await started(t, { backendModule: new URL('../../firmware/inference/backend.ts', import.meta.url).href })
  for (const f of ['eq_recommender.manifest.json', 'silero_vad.manifest.json']) await svc.activate(join(modelsDir, f))
  t.same(
    svc
      .models()
      .map((m) => m.active?.id)
      .sort(),
    ['crowd-state-2.0.0', 'eq-recommender-1.0.0', 'silero-vad-1.0.3-16k-op15'],
  )
  const r = await classifyPatches(svc, new Float32Array(2000).fill(-18.4), { deadlineMs: 2000 })
  t.equal(r?.length, 1)
  t.ok(r![0]!.probs.every((p) => p >= 0 && p <= 1))
  t.ok(Math.abs(r![0]!.probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'probabilities sum to 1')
})

t.test('a corrupt model file is refused and the previous model stays active', async (t) => {
  const { svc } = await started(t)
  const dir = t.testdir({})
  const flipped = modelCopy(dir, {
    bytes: (b) => {
      for (let i = 100; i < 400; i++) b[i] = b[i]! ^ 0xff
      return b
    },
  })
  await t.rejects(svc.activate(flipped), { code: 'FW_ERR_MODEL', message: /sha256 .* corrupt/ })
  const garbage = modelCopy(dir, { bytes: () => Buffer.from('this is not an onnx model at all'), rehash: true })
  await t.rejects(svc.activate(garbage), { code: 'FW_ERR_MODEL', message: /cannot be loaded by onnxruntime/ })
  const missing = modelCopy(dir, {
    manifest: (m) => {
      m.file = 'nowhere.onnx'
    },
  })
  await t.rejects(svc.activate(missing), { code: 'FW_ERR_MODEL', message: /cannot be read/ })
  writeFileSync(join(dir, 'bad.json'), '{ not json')
  await t.rejects(svc.activate(join(dir, 'bad.json')), { code: 'FW_ERR_MODEL' })
  t.equal(svc.active('crowd-state')?.id, 'crowd-state-2.0.0', 'still the good model')
  t.equal((await svc.infer('crowd-state', patch())).status, 'ok', 'and it still answers')
})

t.test('a model whose shapes differ from its manifest is refused', async (t) => {
  const { svc } = await started(t)
  const dir = t.testdir({})
  const wrongIn = modelCopy(dir, {
    manifest: (m) => {
      ;(m.inputs as Array<{ shape: number[] }>)[0]!.shape = [-1, 50, 64]
    },
  })
  await t.rejects(svc.activate(wrongIn), {
    code: 'FW_ERR_MODEL',
    message: /input "logmel" has shape \[N,50,40\], manifest says \[-1,50,64\].*previous model stays active/,
  })
  const wrongOut = modelCopy(dir, {
    manifest: (m) => {
      ;(m.outputs as Array<{ name: string }>)[0]!.name = 'scores'
    },
  })
  await t.rejects(svc.activate(wrongOut), { code: 'FW_ERR_MODEL', message: /output "scores" missing/ })
  t.equal(svc.active('crowd-state')?.id, 'crowd-state-2.0.0')
  t.equal((await svc.infer('crowd-state', patch())).status, 'ok')
})

t.test('model A/B slots: activate keeps the previous for rollback', async (t) => {
  const { svc } = await started(t)
  const dir = t.testdir({})
  copyFileSync(join(modelsDir, 'crowd_state.onnx'), join(dir, 'x.onnx'))
  const v2 = modelCopy(dir, {})
  await svc.activate(v2)
  t.same(
    svc.models().find((m) => m.name === 'crowd-state'),
    { name: 'crowd-state', active: { id: 'crowd-state-9.9.9', version: '9.9.9' }, previous: { id: 'crowd-state-2.0.0', version: '2.0.0' } },
  )
  t.equal((await svc.infer('crowd-state', patch())).status, 'ok')
  await svc.rollback('crowd-state')
  t.equal(svc.active('crowd-state')?.id, 'crowd-state-2.0.0')
  t.equal((await svc.infer('crowd-state', patch())).status, 'ok', 'the rolled-back model answers at once')
  await svc.rollback('crowd-state')
  t.equal(svc.active('crowd-state')?.id, 'crowd-state-9.9.9', 'rollback again swaps back')
  await t.rejects(svc.rollback('silero-vad'), { code: 'FW_ERR_MODEL' })
  t.equal(loadManifest(v2).id, 'crowd-state-9.9.9')
})

t.test('a result past its deadline is dropped and counted', async (t) => {
  const { svc, events } = await started(t)
  const r = await svc.infer('crowd-state', fault(4), { deadlineMs: 50 })
  t.same(r, { status: 'late', deadlineMs: 50 }, 'the caller hears "late" at the deadline')
  await until(() => events.some((e) => e.type === 'inference-result'))
  t.equal(svc.stats().late, 1)
  t.equal(svc.stats().ok, 0, 'the late result was not delivered')
  const res = events.filter((e) => e.type === 'inference-result')
  t.equal(res.length, 1)
  t.ok(res[0]!.type === 'inference-result' && res[0]!.latencyMs > res[0]!.deadlineMs, 'reported to the watchdog as late')
  t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 1000 })).status, 'ok')
})

t.test('an inference that hangs past its deadline: inference process restarted, watchdog told, control loop unaffected', async (t) => {
  const { svc, events, monitor } = await started(t)
  let ticks = 0
  const tick = setInterval(() => ticks++, 10)
  t.teardown(() => clearInterval(tick))
  const r = await svc.infer('crowd-state', fault(1), { deadlineMs: 50 })
  t.equal(r.status, 'late', 'the caller is released at the deadline')
  const ticksAtDeadline = ticks
  await until(() => svc.stats().restarts === 1 && svc.running)
  t.ok(ticks > ticksAtDeadline, 'this process kept ticking while the inference process hung')
  const types = events.map((e) => e.type)
  t.match(
    events.find((e) => e.type === 'inference-hung'),
    { message: /(no heartbeat from the inference process|has been running) for \d+ ms/ },
    'an inference-hung names the hang',
  )
  t.notOk(types.includes('inference-error'), 'a hang is not reported as an error')
  t.match(
    events.find((e) => e.type === 'inference-exit'),
    { reason: 'hung' },
  )
  t.equal(types.filter((x) => x === 'inference-started').length, 2, 'started again')
  t.equal(svc.stats().restarts, 1)
  t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 1000 })).status, 'ok', 'the model was reloaded and answers')
  t.ok(monitor.counts.hangs === 1 && monitor.counts.errors === 0 && monitor.counts.exits === 1, 'the watchdog monitor saw the hang and the exit')
})

t.test('an inference process that crashes is restarted with backoff and its models reloaded', async (t) => {
  const { svc, events, logs } = await started(t)
  const r = await svc.infer('crowd-state', fault(2), { deadlineMs: 500 })
  t.equal(r.status, 'dropped')
  await until(() => svc.stats().restarts === 1 && svc.running)
  t.match(
    events.find((e) => e.type === 'inference-exit'),
    { code: 7, reason: 'crash' },
  )
  t.equal((await svc.infer('crowd-state', fault(2), { deadlineMs: 500 })).status, 'dropped')
  await until(() => svc.stats().restarts === 2 && svc.running)
  const delays = logs.filter((l) => /restart \d+ in/.test(l)).map((l) => Number(/in (\d+) ms/.exec(l)![1]))
  t.same(delays, [50, 100], 'the second restart waits twice as long')
  t.equal((await svc.infer('crowd-state', patch(), { deadlineMs: 1000 })).status, 'ok')
  t.equal(svc.active('crowd-state')?.id, 'crowd-state-2.0.0')
})

t.test('a run that throws, or answers garbage, is reported and not delivered', async (t) => {
  const { svc, events } = await started(t)
  const r = await svc.infer('crowd-state', fault(3), { deadlineMs: 1000 })
  t.match(r, { status: 'dropped', reason: /injected failure/ })
  t.match(events.at(-1), { type: 'inference-error', message: /injected failure/ })
  const g = await svc.infer('crowd-state', fault(5), { deadlineMs: 1000 })
  t.match(g, { status: 'dropped', reason: /non-finite/ })
  t.match(events.at(-1), { type: 'inference-result', valid: false })
  t.equal(svc.stats().restarts, 0, 'no restart needed for these')
})

t.test('requests while no model is active are dropped, not queued', async (t) => {
  const { svc } = await started(t)
  t.match(await svc.infer('no-such-model', patch()), { status: 'dropped', reason: /no active model/ })
  await svc.stop()
  t.match(await svc.infer('crowd-state', patch()), { status: 'dropped' })
  await t.rejects(svc.activate(CROWD), { code: 'FW_ERR_INFERENCE' })
})

t.test('stop lets a run in flight finish before the inference process leaves; a blocked one is still stopped', async (t) => {
  // A deliberate stop lets the run finish (here a 300 ms one) and the inference process exits itself.
  const { svc, events } = await started(t)
  const inflight = svc.infer('crowd-state', fault(4), { deadlineMs: 5000 })
  await new Promise((r) => setTimeout(r, 50))
  const t0 = performance.now()
  await svc.stop()
  const waited = performance.now() - t0
  t.ok(waited >= 200, `stop waited ${waited.toFixed(0)} ms for the run in flight`)
  t.match(await inflight, { status: 'dropped' }, 'the caller is told its request was dropped by the stop')
  t.ok(
    events.some((e) => e.type === 'inference-stopped'),
    'the watchdog is told it was a deliberate stop',
  )

  // A process blocked for good (as in a native deadlock) cannot finish: stop falls back to SIGKILL.
  const blocked = await started(t)
  const pid = blocked.svc.pid!
  void blocked.svc.infer('crowd-state', fault(6), { deadlineMs: 60_000 })
  await new Promise((r) => setTimeout(r, 100))
  await blocked.svc.stop()
  t.notOk(blocked.svc.running, 'stopped even though the inference process never answered')
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'and the process is gone')
})
