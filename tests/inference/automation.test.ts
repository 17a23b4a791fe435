import t from 'tap'
import { AutomationController, applianceEqSink } from '../../firmware/automation/controller.ts'
import { type AutomationEvent, type AutomationState, initialState, transition } from '../../firmware/automation/machine.ts'
import type { BandParams } from '../../firmware/engine/types.ts'

const BANDS = [63, 125, 250, 500, 1000, 2000, 4000, 8000]

function rig(mode: 'advisory' | 'supervised' | 'auto', limits = {}) {
  let now = 1000
  const applied: Array<{ output: number; gains: number[] }> = []
  const published: string[] = []
  const c = new AutomationController({
    outputs: 2,
    bandsHz: BANDS,
    mode,
    limits,
    sink: { applyGains: (output, gains) => applied.push({ output, gains: [...gains] }) },
    now: () => now,
  })
  c.onRecommendation((e) => published.push(`${e.action}:${e.rec.id}`))
  return {
    c,
    applied,
    published,
    advance: (ms: number) => {
      now += ms
      c.tick(now)
    },
  }
}

const rec = (output: number, delta: number, confidence = 0.9) => ({
  output,
  deltaDb: BANDS.map((_, i) => (i === 3 ? delta : 0)),
  confidence,
  model: 'eq-recommender-1.0.0',
})

t.test('advisory mode publishes recommendations and applies nothing', async (t) => {
  const { c, applied, published } = rig('advisory')
  c.recommend(rec(0, 3))
  c.recommend(rec(1, -2))
  t.same(published, ['suggested:1', 'suggested:2'])
  t.same(applied, [])
  t.throws(() => c.accept(1, 'fohtech'), { code: 'FW_ERR_AUTOMATION' }, 'accepting is for supervised mode')
  t.same(c.state.current, c.state.approved)
})

t.test('supervised mode applies nothing until an operator accepts', async (t) => {
  const { c, applied, advance } = rig('supervised')
  c.recommend(rec(0, 3))
  c.recommend(rec(1, -4))
  for (let i = 0; i < 100; i++) advance(100)
  t.same(applied, [], 'ten seconds of ticks apply nothing')
  t.equal(c.state.pending.length, 2)
  c.accept(1, 'fohtech')
  t.same(applied, [{ output: 0, gains: [0, 0, 0, 3, 0, 0, 0, 0] }], 'exactly the accepted recommendation is applied')
  t.same(c.state.approved[0], [0, 0, 0, 3, 0, 0, 0, 0], 'accepted gains become the approved state')
  c.reject(2, 'fohtech')
  t.equal(applied.length, 1, 'a rejected recommendation applies nothing')
  t.throws(() => c.accept(2, 'fohtech'), { code: 'FW_ERR_AUTOMATION' }, 'a rejected recommendation cannot be accepted later')
  t.throws(() => c.accept(99, 'fohtech'), /no pending recommendation 99/)
})

t.test('a newer recommendation for the same output replaces the pending one', async (t) => {
  const { c } = rig('supervised')
  c.recommend(rec(0, 3))
  c.recommend(rec(0, 1))
  t.same(
    c.state.pending.map((p) => p.id),
    [2],
  )
})

t.test('auto mode applies only confident recommendations, at a limited rate and within range', async (t) => {
  const { c, applied, published, advance } = rig('auto', { minConfidence: 0.8, maxStepDbPerS: 2, maxRangeDb: 4, settleMs: 0 })
  c.tick(1000)
  c.recommend(rec(0, 10, 0.5))
  t.same(published, ['below-threshold:1'])
  for (let i = 0; i < 10; i++) advance(100)
  t.same(applied, [], 'a low-confidence recommendation is not applied')
  c.recommend(rec(0, 10, 0.95))
  t.same(published.at(-1), 'adopted:2')
  let prev = 0
  for (let i = 0; i < 50; i++) {
    advance(100)
    const g = c.state.current[0]![3]!
    t.ok(g - prev <= 2 * 0.1 + 1e-9, `step ${i} moves at most 0.2 dB per 100 ms`)
    prev = g
  }
  t.equal(c.state.current[0]![3], 4, 'stops at the range limit (approved 0 + 4 dB), not at +10')
  t.ok(applied.length > 1, 'applied in several small steps')
  t.ok(
    applied.every((a) => Math.abs(a.gains[3]!) <= 4 + 1e-9),
    'never beyond the range',
  )
})

t.test('rollback restores exactly the last operator-approved state', async (t) => {
  const { c, applied, advance } = rig('supervised', { settleMs: 0, maxStepDbPerS: 100 })
  c.tick(1000)
  c.recommend({ output: 0, deltaDb: [1, -2, 0.5, 0, 0, 0, 0, 1.25], confidence: 0.9, model: 'm' })
  c.accept(1, 'fohtech')
  c.recommend({ output: 1, deltaDb: [0, 0, -3, 0, 0, 2, 0, 0], confidence: 0.9, model: 'm' })
  c.accept(2, 'fohtech')
  const approved = structuredClone(c.state.approved)
  c.setMode('auto', 'fohtech')
  c.recommend({ output: 0, deltaDb: [3, 3, 3, 3, 3, 3, 3, 3], confidence: 0.99, model: 'm' })
  c.recommend({ output: 1, deltaDb: [-2, -2, -2, -2, -2, -2, -2, -2], confidence: 0.99, model: 'm' })
  for (let i = 0; i < 20; i++) advance(100)
  t.notSame(c.state.current, approved, 'automatic changes moved away from the approved state')
  applied.length = 0
  c.rollback('fohtech')
  t.same(c.state.current, approved, 'current equals the approved state exactly')
  t.same(applied.map((a) => a.output).sort(), [0, 1], 'both changed outputs are re-applied')
  for (const a of applied) t.same(a.gains, approved[a.output], `output ${a.output + 1} gets exactly its approved gains`)
  for (let i = 0; i < 20; i++) advance(100)
  t.same(c.state.current, approved, 'the abandoned targets are not resumed after rollback')
})

t.test('undo steps back through applied changes', async (t) => {
  const { c } = rig('supervised')
  c.recommend(rec(0, 2))
  c.accept(1, 'a')
  c.recommend(rec(0, 1))
  c.accept(2, 'a')
  t.equal(c.state.current[0]![3], 3)
  c.undo('a')
  t.equal(c.state.current[0]![3], 2)
  c.undo('a')
  t.equal(c.state.current[0]![3], 0)
  t.throws(() => c.undo('a'), /nothing to undo/)
})

t.test('automation pauses while the watchdog disables inference', async (t) => {
  const { c, applied, advance } = rig('auto', { settleMs: 0 })
  c.tick(1000)
  c.recommend(rec(0, 2))
  c.setEnabled(false, 'watchdog DEGRADED')
  for (let i = 0; i < 50; i++) advance(100)
  t.same(applied, [], 'the adopted target is dropped, nothing applied')
  c.recommend(rec(0, 2))
  t.equal(c.state.targets[0], null, 'new recommendations are ignored while paused')
})

t.test('the reducer is pure: the input state is never changed', async (t) => {
  const s0: AutomationState = initialState(1, 8, { mode: 'supervised' })
  const frozen = JSON.stringify(s0)
  const evs: AutomationEvent[] = [
    { type: 'recommendation', at: 1, rec: rec(0, 2) },
    { type: 'accept', at: 2, id: 1, who: 'x' },
    { type: 'rollback', at: 3, who: 'x' },
  ]
  let s = s0
  for (const e of evs) s = transition(s, e).state
  t.equal(JSON.stringify(s0), frozen)
})

t.test('the appliance sink sets one peaking band per automation band', async (t) => {
  const calls: Array<[number, number, BandParams]> = []
  const whos = new Set<string | undefined>()
  const sink = applianceEqSink(
    {
      setEqBand: (o, b, p, who) => {
        calls.push([o, b, p])
        whos.add(who)
      },
    },
    BANDS,
    { bandSlots: [2, 3, 4, 5, 6, 7, 8, 9] },
  )
  sink.applyGains(1, [0, 0, 0, 3, 0, 0, 0, -1.234], 'console:foh')
  t.equal(calls.length, 8)
  t.same([...whos], ['console:foh'], 'every band under the name of who decided it')
  t.same(calls[3], [1, 5, { type: 'peak', freqHz: 500, gainDb: 3, q: 1.4, enabled: true }])
  t.equal(calls[7]![2].gainDb, -1.23)
})
