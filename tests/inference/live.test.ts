import t from 'tap'
import { AutomationController } from '../../firmware/automation/controller.ts'
import { createEngineFromProfile } from '../../firmware/board/engine.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { EngineEvent } from '../../firmware/engine/types.ts'
import { LiveInference } from '../../firmware/inference/live.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { InferenceService } from '../../firmware/inference/service.ts'

const FAULTS = new URL('./fixtures/fault-backend.ts', import.meta.url).href
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('on the simulated stage: features flow to the models, supervised automation applies nothing, a hung worker leaves the audio alone', async (t) => {
  // A generous heartbeat timeout: this shared test machine runs at several times its core count,
  // and the point here is what the worker's hang does, not how loaded the machine is.
  const engine = createEngineFromProfile(loadProfile('sim'), { heartbeatTimeoutMs: 1000 })
  const svc = new InferenceService({ backendModule: FAULTS, hungMs: 1000, backoffInitialMs: 50 })
  const applied: number[] = []
  const auto = new AutomationController({
    outputs: 4,
    bandsHz: [63, 125, 250, 500, 1000, 2000, 4000, 8000],
    mode: 'supervised',
    sink: { applyGains: (o) => applied.push(o) },
  })
  const classes: string[] = []
  const live = new LiveInference(svc, auto, { eqEveryS: 0.5, onClass: (c) => classes.push(c.label) })
  const events: EngineEvent[] = []
  await svc.start()
  for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
  engine.start()
  const tick = setInterval(() => {
    events.push(...engine.poll().events)
    live.feed(engine.pollFeatures())
  }, 10)
  t.teardown(async () => {
    clearInterval(tick)
    engine.stop()
    await svc.stop()
  })

  await sleep(2500)
  const s1 = live.stats()
  t.ok(classes.length >= 3, `the classifier ran on engine log-mel frames (${classes.length} results)`)
  t.ok(s1.vadWindows >= 20, `the VAD ran on engine 16 kHz windows (${s1.vadWindows})`)
  t.ok(s1.recommendations >= 1, 'EQ recommendations were made from output spectra')
  t.ok(auto.state.pending.length >= 1, 'and wait for an operator')
  t.same(applied, [], 'supervised: nothing applied')
  t.equal(s1.featureDrops, 0, 'no feature records dropped')

  // Hang the worker (blocked in a run, as in a native deadlock): the engine keeps running processed audio.
  const blocksBefore = engine.blockCounter()
  const hung = await svc.infer(
    'crowd-state',
    { logmel: { type: 'float32', dims: [1, 50, 40], data: new Float32Array(2000) }, __fault: { type: 'float32', dims: [1], data: Float32Array.of(6) } },
    { deadlineMs: 20 },
  )
  t.equal(hung.status, 'late')
  while (svc.stats().restarts < 1 || !svc.running) await sleep(20)
  const classesAtRestart = classes.length
  t.ok(engine.blockCounter() > blocksBefore, 'audio blocks kept flowing while the worker hung')
  t.ok(engine.stats().processed, 'the output stayed processed')
  t.same(
    events.filter((e) => e.type === 'native-bypass'),
    [],
    'no native bypass',
  )
  await sleep(1000)
  t.ok(classes.length > classesAtRestart, 'classification resumed after the restart')
  t.same(applied, [], 'still nothing applied')
})

t.test('a listener or a sink that throws is counted, never an unhandled rejection that ends the process', async (t) => {
  const engine = createEngineFromProfile(loadProfile('sim'), { heartbeatTimeoutMs: 1000 })
  const svc = new InferenceService({ backendModule: FAULTS, hungMs: 1000 })
  // Automation refuses a recommendation it cannot take (FW_ERR_BAD_ARG); a listener may have a bug.
  const sink = {
    outputs: 4,
    recommend: () => {
      throw new Error('sink refused')
    },
  }
  const live = new LiveInference(svc, sink, {
    eqEveryS: 0.2,
    onClass: () => {
      throw new Error('listener bug')
    },
  })
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  await svc.start()
  for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
  engine.start()
  const tick = setInterval(() => live.feed(engine.pollFeatures()), 10)
  t.teardown(async () => {
    process.off('unhandledRejection', onUnhandled)
    clearInterval(tick)
    engine.stop()
    await svc.stop()
  })
  const end = Date.now() + 10_000
  while (!(live.stats().patches >= 2 && live.stats().recommendations >= 2) && Date.now() < end) await sleep(50)
  await sleep(100)
  t.same(unhandled, [], 'no unhandled rejection')
  t.ok(live.stats().errors >= 2, `errors counted (${live.stats().errors})`)
  t.ok(live.stats().patches >= 1 && live.stats().recommendations >= 1, 'the loop kept running')
})
