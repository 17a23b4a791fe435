// Automation as a pure reducer: (state, event) -> { state, effects, error? }. Effects are data
// (apply these EQ gains to an output, publish a recommendation, log) carried out by
// AutomationController. No clock, no I/O: every event carries its own time.
//
// Modes:
//   advisory    recommendations are published; nothing is ever applied.
//   supervised  each recommendation waits for an operator: accept applies it (and makes the result
//               the operator-approved state), reject discards it. Nothing is applied otherwise.
//   auto        a recommendation at or above the confidence threshold becomes a target; ticks move
//               the applied gains toward it no faster than maxStepDbPerS, never further than
//               maxRangeDb from the operator-approved state. Lower-confidence ones are only published.
// Every applied change pushes the previous gains on the undo stack; rollback returns exactly to
// the last operator-approved state.

export type AutomationMode = 'advisory' | 'supervised' | 'auto'

/** Gains in dB, per output, per automation band (the recommender's octave bands). */
export type Gains = number[][]

export interface AutomationLimits {
  /** Auto mode acts only on recommendations at or above this confidence. Defaults to 0.8. */
  minConfidence: number
  /** Fastest change of any band in auto mode, dB per second. Defaults to 1. */
  maxStepDbPerS: number
  /** Furthest any band may move from the operator-approved state, dB. Defaults to 6. */
  maxRangeDb: number
  /** After reaching a target, auto mode ignores recommendations this long (the measurement lags). Defaults to 5000 ms. */
  settleMs: number
  /** Largest undo stack kept. Defaults to 50. */
  maxUndo: number
}

export const DEFAULT_LIMITS: AutomationLimits = { minConfidence: 0.8, maxStepDbPerS: 1, maxRangeDb: 6, settleMs: 5000, maxUndo: 50 }

/** A recommendation as the recommender makes it: gain changes (dB) relative to what is applied now. */
export interface RecommendationInput {
  output: number
  deltaDb: number[]
  confidence: number
  /** Model id that made it. */
  model: string
}

export interface Recommendation extends RecommendationInput {
  id: number
  at: number
  /** The gains accepting it would apply (current + delta, limited to the approved range). */
  proposed: number[]
}

export interface AutomationState {
  mode: AutomationMode
  limits: AutomationLimits
  /** The last operator-approved gains (accepted, approved, or set at start). */
  approved: Gains
  /** The gains applied now. */
  current: Gains
  /** Recommendations awaiting an operator (supervised) or shown (advisory), newest per output. */
  pending: Recommendation[]
  /** Auto mode: where each output is heading, or null. */
  targets: Array<number[] | null>
  /** Auto mode: per output, time until which new recommendations are ignored. */
  settleUntil: number[]
  undo: Gains[]
  /** False while the watchdog has inference disabled (DEGRADED and worse): nothing new is applied. */
  enabled: boolean
  nextId: number
  lastTick: number | null
}

export type AutomationEvent =
  | { type: 'recommendation'; at: number; rec: RecommendationInput }
  | { type: 'accept'; at: number; id: number; who: string }
  | { type: 'reject'; at: number; id: number; who: string }
  | { type: 'set-mode'; at: number; mode: AutomationMode; who: string }
  /** The operator approves what is applied now (e.g. after setting EQ by hand). */
  | { type: 'approve'; at: number; who: string }
  | { type: 'undo'; at: number; who: string }
  | { type: 'rollback'; at: number; who: string }
  | { type: 'enable'; at: number; enabled: boolean; cause: string }
  | { type: 'tick'; at: number }

export type AutomationEffect =
  /** `who`: the operator whose accept, undo or rollback it carries out, or 'automation' (auto mode). */
  | { type: 'apply'; output: number; gains: number[]; reason: string; who: string }
  | { type: 'publish'; rec: Recommendation; mode: AutomationMode; action: 'suggested' | 'awaiting-operator' | 'adopted' | 'below-threshold' }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  /** What an engineer did with the recommendations: one per accept, reject, undo, rollback. */
  | { type: 'decision'; decision: AutomationDecision; id: number | null; output: number | null; who: string }

export type AutomationDecision = 'accepted' | 'rejected' | 'undone' | 'rolled-back'

export interface AutomationError {
  code: 'FW_ERR_AUTOMATION' | 'FW_ERR_BAD_ARG'
  message: string
}

export interface Step {
  state: AutomationState
  effects: AutomationEffect[]
  error?: AutomationError
}

export function initialState(
  outputs: number,
  bands: number,
  opts: { mode?: AutomationMode; limits?: Partial<AutomationLimits>; approved?: Gains } = {},
): AutomationState {
  const approved = opts.approved ? copy(opts.approved) : Array.from({ length: outputs }, () => new Array<number>(bands).fill(0))
  return {
    mode: opts.mode ?? 'advisory',
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    approved,
    current: copy(approved),
    pending: [],
    targets: new Array(outputs).fill(null),
    settleUntil: new Array<number>(outputs).fill(0),
    undo: [],
    enabled: true,
    nextId: 1,
    lastTick: null,
  }
}

function copy(g: Gains): Gains {
  return g.map((row) => [...row])
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

/** The most an EQ band can boost or cut, dB (the engine refuses more: firmware/engine/engine.ts setEq). */
export const EQ_BAND_LIMIT_DB = 24

/** Within the approved range and within what an EQ band can do: applied gains never leave it. */
function limitToRange(gains: number[], approved: number[], range: number): number[] {
  const lim = (g: number) => Math.min(EQ_BAND_LIMIT_DB, Math.max(-EQ_BAND_LIMIT_DB, g))
  return gains.map((g, i) => round(lim(Math.min(approved[i]! + range, Math.max(approved[i]! - range, g)))))
}

function same(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) < 1e-9)
}

/** Effects that take `current` to `next`, output by output. */
function applyAll(current: Gains, next: Gains, reason: string, who: string): AutomationEffect[] {
  const out: AutomationEffect[] = []
  next.forEach((row, o) => {
    if (!same(row, current[o]!)) out.push({ type: 'apply', output: o, gains: [...row], reason, who })
  })
  return out
}

function pushUndo(s: AutomationState): Gains[] {
  const u = [...s.undo, copy(s.current)]
  return u.length > s.limits.maxUndo ? u.slice(u.length - s.limits.maxUndo) : u
}

/** The state unchanged, with an error and no effects. */
function refuse(s: AutomationState, code: AutomationError['code'], message: string): Step {
  return { state: s, effects: [], error: { code, message } }
}

function log(message: string, level: 'info' | 'warn' = 'info'): AutomationEffect {
  return { type: 'log', level, message }
}

/** Why a recommendation is refused as bad input, or null. */
function badRecommendation(s: AutomationState, r: RecommendationInput): string | null {
  if (!Number.isInteger(r.output) || r.output < 0 || r.output >= s.current.length) {
    return `recommendation for output ${r.output + 1}, this unit has ${s.current.length}`
  }
  if (!Array.isArray(r.deltaDb) || r.deltaDb.length > s.current[r.output]!.length || !r.deltaDb.every(Number.isFinite) || !Number.isFinite(r.confidence)) {
    return `recommendation for output ${r.output + 1}: deltaDb must be at most ${s.current[r.output]!.length} finite numbers and confidence a finite number`
  }
  return null
}

/** A checked recommendation, numbered, with the gains accepting it would apply; `base` has the id taken. */
type Recommend = (s: AutomationState, rec: Recommendation, base: AutomationState) => Step

/** Kept as the output's pending recommendation (the newest per output), published with `action`. */
const keepPending =
  (action: 'suggested' | 'awaiting-operator'): Recommend =>
  (s, rec, base) => ({
    state: { ...base, pending: [...s.pending.filter((p) => p.output !== rec.output), rec] },
    effects: [{ type: 'publish', rec, mode: s.mode, action }],
  })

/** Auto mode: a confident recommendation becomes the output's target, unless it is moving or settling. */
const adopt: Recommend = (s, rec, base) => {
  if (rec.confidence < s.limits.minConfidence) {
    return { state: base, effects: [{ type: 'publish', rec, mode: s.mode, action: 'below-threshold' }] }
  }
  if (s.targets[rec.output] !== null || rec.at < s.settleUntil[rec.output]!) return { state: base, effects: [] }
  if (same(rec.proposed, s.current[rec.output]!)) return { state: base, effects: [] }
  const targets = [...s.targets]
  targets[rec.output] = rec.proposed
  return {
    state: { ...base, targets, undo: pushUndo(s) },
    effects: [{ type: 'publish', rec, mode: s.mode, action: 'adopted' }],
  }
}

// What a recommendation does in each mode (read a row as "in MODE, a recommendation is ..."):
//   advisory    published and shown as pending; nothing is ever applied;
//   supervised  published and pending until an operator accepts or rejects it;
//   auto        adopted as a target (at or above minConfidence, the output neither moving nor
//               settling, and a change), else published as below-threshold or dropped.
const ON_RECOMMENDATION: Record<AutomationMode, Recommend> = {
  advisory: keepPending('suggested'),
  supervised: keepPending('awaiting-operator'),
  auto: adopt,
}

function recommendation(s: AutomationState, ev: Extract<AutomationEvent, { type: 'recommendation' }>): Step {
  const r = ev.rec
  const bad = badRecommendation(s, r)
  if (bad !== null) return refuse(s, 'FW_ERR_BAD_ARG', bad)
  if (!s.enabled) return { state: s, effects: [] }
  const proposed = limitToRange(
    s.current[r.output]!.map((g, i) => g + (r.deltaDb[i] ?? 0)),
    s.approved[r.output]!,
    s.limits.maxRangeDb,
  )
  const rec: Recommendation = { ...r, deltaDb: [...r.deltaDb], id: s.nextId, at: ev.at, proposed }
  return ON_RECOMMENDATION[s.mode](s, rec, { ...s, nextId: s.nextId + 1 })
}

/** accept and reject: supervised mode only, on a pending recommendation. */
function decide(s: AutomationState, ev: Extract<AutomationEvent, { type: 'accept' | 'reject' }>): Step {
  if (s.mode !== 'supervised') {
    return refuse(s, 'FW_ERR_AUTOMATION', `${ev.type} is for supervised mode; the mode is ${s.mode} (use: mode supervised)`)
  }
  const rec = s.pending.find((p) => p.id === ev.id)
  if (!rec) {
    const ids = s.pending.map((p) => p.id).join(', ')
    return refuse(s, 'FW_ERR_AUTOMATION', `no pending recommendation ${ev.id}${ids ? ` (pending: ${ids})` : ' (none pending)'}`)
  }
  const pending = s.pending.filter((p) => p.id !== ev.id)
  if (ev.type === 'reject') {
    return {
      state: { ...s, pending },
      effects: [
        log(`recommendation ${rec.id} for output ${rec.output + 1} rejected by ${ev.who}`),
        { type: 'decision', decision: 'rejected', id: rec.id, output: rec.output, who: ev.who },
      ],
    }
  }
  if (!s.enabled) return refuse(s, 'FW_ERR_AUTOMATION', 'automation is paused while the watchdog has inference disabled; nothing was applied')
  const current = copy(s.current)
  current[rec.output] = [...rec.proposed]
  return {
    state: { ...s, pending, current, approved: copy(current), undo: pushUndo(s) },
    effects: [
      ...applyAll(s.current, current, `recommendation ${rec.id} accepted by ${ev.who}`, ev.who),
      log(`recommendation ${rec.id} for output ${rec.output + 1} accepted by ${ev.who}`),
      { type: 'decision', decision: 'accepted', id: rec.id, output: rec.output, who: ev.who },
    ],
  }
}

function setMode(s: AutomationState, ev: Extract<AutomationEvent, { type: 'set-mode' }>): Step {
  if (ev.mode === s.mode) return { state: s, effects: [] }
  return {
    state: { ...s, mode: ev.mode, pending: [], targets: s.targets.map(() => null) },
    effects: [log(`automation mode ${s.mode} -> ${ev.mode} by ${ev.who}`)],
  }
}

function approve(s: AutomationState, ev: Extract<AutomationEvent, { type: 'approve' }>): Step {
  return { state: { ...s, approved: copy(s.current) }, effects: [log(`current EQ approved by ${ev.who}`)] }
}

function undo(s: AutomationState, ev: Extract<AutomationEvent, { type: 'undo' }>): Step {
  const prev = s.undo[s.undo.length - 1]
  if (!prev) return refuse(s, 'FW_ERR_AUTOMATION', 'nothing to undo')
  return {
    state: { ...s, current: copy(prev), undo: s.undo.slice(0, -1), targets: s.targets.map(() => null) },
    effects: [
      ...applyAll(s.current, prev, `undo by ${ev.who}`, ev.who),
      log(`automation change undone by ${ev.who}`),
      { type: 'decision', decision: 'undone', id: null, output: null, who: ev.who },
    ],
  }
}

function rollback(s: AutomationState, ev: Extract<AutomationEvent, { type: 'rollback' }>): Step {
  const changed = !s.current.every((row, o) => same(row, s.approved[o]!))
  return {
    state: { ...s, current: copy(s.approved), undo: changed ? pushUndo(s) : s.undo, targets: s.targets.map(() => null), pending: [] },
    effects: [
      ...applyAll(s.current, s.approved, `rollback by ${ev.who}`, ev.who),
      log(`rolled back to the last operator-approved EQ by ${ev.who}`),
      { type: 'decision', decision: 'rolled-back', id: null, output: null, who: ev.who },
    ],
  }
}

function enable(s: AutomationState, ev: Extract<AutomationEvent, { type: 'enable' }>): Step {
  if (ev.enabled === s.enabled) return { state: s, effects: [] }
  return {
    state: { ...s, enabled: ev.enabled, targets: ev.enabled ? s.targets : s.targets.map(() => null) },
    effects: [log(`automation ${ev.enabled ? 'resumed' : 'paused'}: ${ev.cause}`, ev.enabled ? 'info' : 'warn')],
  }
}

/** Auto mode: each output with a target moves toward it by at most maxStepDbPerS; on arrival it settles. */
function tick(s: AutomationState, ev: Extract<AutomationEvent, { type: 'tick' }>): Step {
  const dt = s.lastTick === null ? 0 : Math.max(0, ev.at - s.lastTick) / 1000
  const next: AutomationState = { ...s, lastTick: ev.at }
  if (s.mode !== 'auto' || !s.enabled || s.targets.every((t) => t === null)) return { state: next, effects: [] }
  const step = s.limits.maxStepDbPerS * dt
  const current = copy(s.current)
  const targets = [...s.targets]
  const settleUntil = [...s.settleUntil]
  s.targets.forEach((target, o) => {
    if (!target) return
    current[o] = current[o]!.map((g, i) => g + Math.max(-step, Math.min(step, target[i]! - g)))
    if (same(current[o]!, target)) {
      targets[o] = null
      settleUntil[o] = ev.at + s.limits.settleMs
    }
  })
  return { state: { ...next, current, targets, settleUntil }, effects: applyAll(s.current, current, 'automatic', 'automation') }
}

type Handler<T extends AutomationEvent['type']> = (s: AutomationState, ev: Extract<AutomationEvent, { type: T }>) => Step

// What each event does (the mode-dependent parts are in ON_RECOMMENDATION and in the handlers'
// first lines). Every handler returns the state unchanged, with an error, for input it refuses.
const ON: { [T in AutomationEvent['type']]: Handler<T> } = {
  recommendation, // checked, then by mode (ON_RECOMMENDATION); nothing new while disabled
  accept: decide, // supervised only: apply the pending recommendation and approve the result
  reject: decide, // supervised only: drop the pending recommendation
  'set-mode': setMode, // clears pending recommendations and targets
  approve, // what is applied now becomes the operator-approved state
  undo, // back to the gains before the last applied change
  rollback, // back to the operator-approved state (itself undoable)
  enable, // the watchdog allows or pauses inference; pausing drops the targets
  tick, // auto mode: move toward the targets
}

export function transition(s: AutomationState, ev: AutomationEvent): Step {
  return (ON[ev.type] as (s: AutomationState, ev: AutomationEvent) => Step)(s, ev)
}
