// The automation limits at their edges and what happens to a recommendation that is stale, unknown
// or already applied, through the controller an appliance uses (the reducer, its effects carried
// out into a recording EQ sink, the clock under the test's control).
import t from 'tap'
import { AutomationController } from '../../firmware/automation/controller.ts'
import type { AutomationLimits, AutomationMode } from '../../firmware/automation/machine.ts'

const BANDS = [63, 125, 250, 500, 1000, 2000, 4000, 8000]

function rig(mode: AutomationMode, limits: Partial<AutomationLimits> = {}, approved?: number[][]) {
  let now = 10_000
  const applied: Array<{ output: number; gains: number[] }> = []
  const published: string[] = []
  const logs: string[] = []
  const c = new AutomationController({
    outputs: 2,
    bandsHz: BANDS,
    mode,
    limits,
    ...(approved ? { approved } : {}),
    sink: { applyGains: (output, gains) => applied.push({ output, gains: [...gains] }) },
    log: (_l, m) => logs.push(m),
    now: () => now,
  })
  c.onRecommendation((e) => published.push(`${e.action}:${e.rec.id}`))
  c.tick(now)
  return {
    c,
    applied,
    published,
    logs,
    /** Runs the 10 ms control tick for ms milliseconds. */
    run: (ms: number, tickMs = 10) => {
      for (let i = 0; i < ms / tickMs; i++) {
        now += tickMs
        c.tick(now)
      }
    },
    at: () => now,
  }
}

/** A recommendation that moves band 3 (500 Hz) of one output by delta dB. */
const rec = (output: number, delta: number, confidence = 0.9) => ({
  output,
  deltaDb: BANDS.map((_, i) => (i === 3 ? delta : 0)),
  confidence,
  model: 'eq-recommender-1.0.0',
})
const band3 = (g: number[] | undefined) => g?.[3]
/** Gains glide in float steps: equal to a hundredth of a dB (what the EQ sink sends). */
const near = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) < 0.005

t.test('approved range: a recommendation is limited to exactly maxRangeDb either side of the approved EQ', async (t) => {
  const { c, applied } = rig('supervised', { maxRangeDb: 6 })
  c.recommend(rec(0, 6))
  t.equal(band3(c.state.pending[0]!.proposed), 6, 'exactly at the edge: kept')
  c.recommend(rec(0, 6.01))
  t.equal(band3(c.state.pending[0]!.proposed), 6, 'just past the edge: held at the edge')
  c.recommend(rec(0, -40))
  t.equal(band3(c.state.pending[0]!.proposed), -6, 'far below: held at the lower edge')
  c.accept(c.state.pending[0]!.id, 'foh')
  t.same(applied, [{ output: 0, gains: [0, 0, 0, -6, 0, 0, 0, 0] }], 'the engine gets the limited gains')
  c.recommend(rec(0, -40))
  t.equal(band3(c.state.pending[0]!.proposed), -12, 'accepting moves the approved state, and the range moves with it')
  c.recommend(rec(1, 3))
  t.equal(band3(c.state.pending.find((p) => p.output === 1)!.proposed), 3, 'the other output keeps its own range')
})

t.test('no recommendation takes a band past what an EQ band can do (±24 dB), even inside the approved range', async (t) => {
  const { c, applied } = rig('supervised', { maxRangeDb: 6 }, [
    [0, 0, 0, 21, 0, 0, 0, -22],
    [0, 0, 0, 0, 0, 0, 0, 0],
  ])
  c.recommend({ output: 0, deltaDb: [0, 0, 0, 5, 0, 0, 0, -5], confidence: 0.9, model: 'm' })
  t.same(c.state.pending[0]!.proposed, [0, 0, 0, 24, 0, 0, 0, -24])
  c.accept(1, 'foh')
  t.same(applied, [{ output: 0, gains: [0, 0, 0, 24, 0, 0, 0, -24] }])
  t.same(c.state.current[0], [0, 0, 0, 24, 0, 0, 0, -24], 'the automation records what the engine got')
})

t.test('auto mode: the confidence threshold is inclusive', async (t) => {
  const { c, published } = rig('auto', { minConfidence: 0.8, settleMs: 0 })
  c.recommend(rec(0, 1, 0.7999))
  c.recommend(rec(0, 1, 0.8))
  t.same(published, ['below-threshold:1', 'adopted:2'])
})

t.test('auto mode: no band ever moves faster than maxStepDbPerS, whatever the tick spacing', async (t) => {
  const { c, applied, run } = rig('auto', { maxStepDbPerS: 2, maxRangeDb: 6, settleMs: 0 })
  c.recommend({ output: 0, deltaDb: [6, -6, 3, 0, 0, 0, 0, 0.5], confidence: 0.95, model: 'm' })
  run(1000, 10)
  run(2000, 250)
  // 10 ms ticks (the first 100 changes) may move 0.02 dB, 250 ms ticks 0.5 dB.
  let prev = [0, 0, 0, 0, 0, 0, 0, 0]
  let fastest10 = 0,
    fastest250 = 0
  applied.forEach((a, k) => {
    const step = Math.max(...a.gains.map((g, i) => Math.abs(g - prev[i]!)))
    if (k < 100) fastest10 = Math.max(fastest10, step)
    else fastest250 = Math.max(fastest250, step)
    prev = a.gains
  })
  t.ok(fastest10 <= 0.02 + 1e-9, `10 ms ticks: largest step ${fastest10} dB`)
  t.ok(fastest250 <= 0.5 + 1e-9, `250 ms ticks: largest step ${fastest250} dB`)
  t.ok(
    c.state.current[0]!.every((g, i) => near(g, [6, -6, 3, 0, 0, 0, 0, 0.5][i]!)),
    'reaches the target',
  )
  t.ok(applied.findIndex((a) => near(a.gains[0], 6)) >= 100, 'and 6 dB at 2 dB/s takes the whole 3 s, not less')
  t.equal(band3(applied.at(-1)!.gains), 0, 'an untouched band never moves')
})

t.test('auto mode: a recommendation while heading for a target, or inside the settle time, is ignored; at the settle edge it is taken', async (t) => {
  const { c, published, run, at } = rig('auto', { maxStepDbPerS: 10, settleMs: 1000 })
  c.recommend(rec(0, 1))
  run(50)
  c.recommend(rec(0, 3))
  t.same(published, ['adopted:1'], 'the second one arrived mid-glide and is dropped')
  run(60)
  t.ok(Math.abs(band3(c.state.current[0])! - 1) < 1e-9, 'the first target is reached')
  t.equal(c.state.targets[0], null)
  const reached = at()
  run(800)
  c.recommend(rec(0, 2))
  t.same(published, ['adopted:1'], 'inside the settle time: ignored')
  // settleUntil is the tick that reached the target plus settleMs.
  const until = c.state.settleUntil[0]!
  t.ok(until > reached - 100 && until <= reached + 1000, 'the settle time runs from when the target was reached')
  run(until - at() - 10)
  c.recommend(rec(0, 2))
  t.same(published, ['adopted:1'], '10 ms before the edge: still ignored')
  run(10)
  c.recommend(rec(0, 2))
  t.same(published, ['adopted:1', 'adopted:5'], 'at the edge: taken (ids 2-4 were dropped)')
  c.recommend(rec(1, 2))
  t.equal(published.at(-1), 'adopted:6', 'the other output was never settling')
})

t.test('the undo stack keeps at most maxUndo changes, the newest', async (t) => {
  const { c, applied } = rig('supervised', { maxUndo: 3, maxRangeDb: 24 })
  for (let i = 1; i <= 5; i++) {
    c.recommend(rec(0, 1))
    c.accept(c.state.pending[0]!.id, 'foh')
  }
  t.equal(band3(c.state.current[0]), 5)
  for (const expect of [4, 3, 2]) {
    c.undo('foh')
    t.equal(band3(c.state.current[0]), expect)
  }
  const n = applied.length
  t.throws(() => c.undo('foh'), { code: 'FW_ERR_AUTOMATION', message: /nothing to undo/ })
  t.equal(applied.length, n, 'a refused undo applies nothing')
})

t.test('accepting or rejecting a recommendation that is unknown, stale or already applied is refused and changes nothing', async (t) => {
  const { c, applied, logs } = rig('supervised')
  c.recommend(rec(0, 2))
  c.recommend(rec(0, 4)) // replaces #1: #1 is stale
  c.recommend(rec(1, -3))
  const before = structuredClone(c.state)
  const refusals: Array<[string, () => void, RegExp]> = [
    ['unknown', () => c.accept(99, 'foh'), /no pending recommendation 99 \(pending: 2, 3\)/],
    ['stale (replaced by a newer one)', () => c.accept(1, 'foh'), /no pending recommendation 1\b/],
    ['stale, rejected', () => c.reject(1, 'foh'), /no pending recommendation 1\b/],
    ['id 0', () => c.accept(0, 'foh'), /no pending recommendation 0/],
  ]
  for (const [what, f, msg] of refusals) t.throws(f, { code: 'FW_ERR_AUTOMATION', message: msg }, what)
  t.same(c.state, before, 'state unchanged')
  t.same(applied, [], 'nothing applied')
  c.accept(2, 'foh')
  t.same(applied, [{ output: 0, gains: [0, 0, 0, 4, 0, 0, 0, 0] }], 'the newest one applies')
  const after = structuredClone(c.state)
  t.throws(() => c.accept(2, 'foh'), { code: 'FW_ERR_AUTOMATION', message: /no pending recommendation 2 \(pending: 3\)/ }, 'already applied: refused')
  t.throws(() => c.reject(2, 'foh'), { code: 'FW_ERR_AUTOMATION' }, 'already applied: cannot be rejected either')
  t.same(c.state, after)
  t.equal(applied.length, 1, 'applied once')
  c.rollback('foh')
  t.throws(() => c.accept(3, 'foh'), { code: 'FW_ERR_AUTOMATION', message: /none pending/ }, 'rollback discards what was pending')
  c.recommend(rec(1, -3))
  c.setMode('advisory', 'foh')
  c.setMode('supervised', 'foh')
  t.throws(() => c.accept(5, 'foh'), { code: 'FW_ERR_AUTOMATION' }, 'a mode change discards what was pending')
  t.ok(
    logs.some((l) => /recommendation 2 for output 1 accepted by foh/.test(l)),
    'the acceptance is logged with who',
  )
})

t.test('rollback: of an applied recommendation, mid-glide, and when nothing changed', async (t) => {
  const { c, applied, run } = rig('auto', { maxStepDbPerS: 1, settleMs: 0 }, [
    [0, 0, 0, 1.5, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
  ])
  c.rollback('foh')
  t.same(applied, [], 'nothing changed: nothing applied')
  t.same(c.state.undo, [], 'and nothing to undo')
  c.recommend(rec(0, 4))
  run(1000)
  t.ok(near(band3(c.state.current[0]), 2.5), `one second into a 4 dB glide at 1 dB/s: ${band3(c.state.current[0])}`)
  c.rollback('foh')
  t.same(applied.at(-1), { output: 0, gains: [0, 0, 0, 1.5, 0, 0, 0, 0] }, 'exactly the approved EQ, mid-glide')
  const n = applied.length
  run(3000)
  t.equal(applied.length, n, 'the glide does not resume')
  c.rollback('foh')
  t.equal(applied.length, n, 'a second rollback applies nothing')
  c.undo('foh')
  t.ok(near(band3(c.state.current[0]), 2.5), 'undo returns to where the rollback started')
})

t.test('the watchdog pausing automation mid-recommendation, and resuming it', async (t) => {
  await t.test('auto: the glide stops where it is and does not resume on its own', async (t) => {
    const { c, applied, published, run } = rig('auto', { maxStepDbPerS: 1, settleMs: 0 })
    c.recommend(rec(0, 3))
    run(1000)
    c.setEnabled(false, 'watchdog BYPASS')
    const held = c.state.current[0]![3]!
    const n = applied.length
    run(5000)
    t.equal(applied.length, n, 'paused: nothing applied')
    c.recommend(rec(0, 3))
    t.same(published, ['adopted:1'], 'a recommendation while paused is not even published')
    c.setEnabled(true, 'watchdog ACTIVE')
    run(5000)
    t.equal(applied.length, n, 'resumed: the old target is gone')
    t.equal(band3(c.state.current[0]), held)
    c.recommend(rec(0, 1))
    run(2000)
    t.ok(near(band3(c.state.current[0]), held + 1), 'a new recommendation after ACTIVE is applied')
  })
  await t.test('supervised: accept is refused while paused and the recommendation waits', async (t) => {
    const { c, applied } = rig('supervised')
    c.recommend(rec(0, 2))
    c.setEnabled(false, 'watchdog BYPASS')
    t.throws(() => c.accept(1, 'foh'), { code: 'FW_ERR_AUTOMATION', message: /paused/ })
    t.same(applied, [])
    t.equal(c.state.pending.length, 1, 'still pending')
    c.setEnabled(true, 'watchdog ACTIVE')
    c.accept(1, 'foh')
    t.same(applied, [{ output: 0, gains: [0, 0, 0, 2, 0, 0, 0, 0] }])
  })
})

t.test('a recommendation for an output the unit does not have is refused', async (t) => {
  const { c, published } = rig('auto')
  for (const output of [-1, 2, 0.5, NaN]) t.throws(() => c.recommend(rec(output, 1)), { code: 'FW_ERR_BAD_ARG' }, `output ${output}`)
  t.same(published, [])
  t.equal(c.state.nextId, 1, 'no id was used')
})

t.test('a recommendation with non-finite gains or confidence is refused and changes nothing', async (t) => {
  for (const mode of ['advisory', 'supervised', 'auto'] as const) {
    const { c, applied, published, run } = rig(mode, { settleMs: 0 })
    const before = structuredClone(c.state)
    const bad: Array<[string, { output: number; deltaDb: number[]; confidence: number; model: string }]> = [
      ['a NaN gain', { output: 0, deltaDb: [0, 0, 0, NaN], confidence: 0.9, model: 'm' }],
      ['an infinite gain', { output: 0, deltaDb: [Infinity], confidence: 0.9, model: 'm' }],
      ['a NaN confidence', { output: 0, deltaDb: [1], confidence: NaN, model: 'm' }],
      ['gains that are not a list', { output: 0, deltaDb: 'loud' as unknown as number[], confidence: 0.9, model: 'm' }],
    ]
    for (const [what, r] of bad) t.throws(() => c.recommend(r), { code: 'FW_ERR_BAD_ARG' }, `${mode}: ${what}`)
    run(1000)
    t.same(applied, [], `${mode}: nothing applied`)
    t.same(published, [], `${mode}: nothing published`)
    t.same({ ...c.state, lastTick: null }, { ...before, lastTick: null }, `${mode}: state unchanged`)
  }
})

t.test('each mode takes a recommendation as its row of the table says, and accept is only for supervised', async (t) => {
  await t.test('advisory: published as suggested, only the newest per output pending, nothing applied', async (t) => {
    const { c, applied, published } = rig('advisory')
    c.recommend(rec(0, 2))
    c.recommend(rec(0, 4))
    c.recommend(rec(1, -3))
    t.same(published, ['suggested:1', 'suggested:2', 'suggested:3'])
    t.same(
      c.state.pending.map((p) => p.id),
      [2, 3],
      'the newest per output',
    )
    t.throws(() => c.accept(2, 'foh'), { code: 'FW_ERR_AUTOMATION', message: /accept is for supervised mode; the mode is advisory/ })
    t.throws(() => c.reject(2, 'foh'), { code: 'FW_ERR_AUTOMATION', message: /reject is for supervised mode/ })
    t.same(applied, [], 'nothing applied')
  })
  await t.test('supervised: published as awaiting-operator and pending', async (t) => {
    const { c, published } = rig('supervised')
    c.recommend(rec(1, 2))
    t.same(published, ['awaiting-operator:1'])
    t.same(
      c.state.pending.map((p) => p.id),
      [1],
    )
  })
  await t.test('auto: a confident recommendation that changes nothing is dropped: not published, not a target, no undo entry', async (t) => {
    const { c, applied, published, run } = rig('auto')
    c.recommend(rec(0, 0))
    run(1000)
    t.same(published, [])
    t.same(applied, [])
    t.same(c.state.undo, [])
    t.same(c.state.targets, [null, null])
    t.equal(c.state.nextId, 2, 'it still took an id')
  })
  await t.test('setting the mode it already has changes nothing and logs nothing', async (t) => {
    const { c, logs } = rig('supervised')
    c.recommend(rec(0, 2))
    const before = structuredClone(c.state)
    const logged = logs.length
    c.setMode('supervised', 'foh')
    t.same(c.state, before)
    t.equal(logs.length, logged)
  })
})
