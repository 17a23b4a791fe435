// FeedbackSuppressor: the notch plan (firmware/inference/feedback.ts NotchPlanner) run under the
// automation's modes, with rollback. Notches go to a NotchSink (the engine's setNotch: the
// command ring into the audio thread).
//   advisory    an alarm becomes a published proposal; nothing is ever applied.
//   supervised  a proposal waits for an operator: accept places the notch, reject discards it.
//   auto        an alarm places (or deepens) a notch at once; a howl that persists deepens it.
// In every mode applied notches release back to flat when their howl stays away; rollback takes
// every notch back to flat at once. Bad limits: FW_ERR_FEEDBACK_SETTINGS, nothing changed.

import { FirmwareError } from '../errors.ts'
import { type FeedbackAlarm, type HowlCandidate, type Notch, type NotchLimits, NotchPlanner } from '../inference/feedback.ts'
import type { AutomationMode } from './machine.ts'

/** Where notches go (Engine.setNotch). */
export interface NotchSink {
  setNotch(n: Notch): void
}

export interface FeedbackProposal {
  id: number
  alarm: FeedbackAlarm
}

export interface FeedbackSuppressorOptions {
  outputs: number
  sink: NotchSink
  /** Defaults to advisory. */
  mode?: AutomationMode
  limits?: Partial<NotchLimits>
  log?: (level: 'info' | 'warn', message: string) => void
}

export class FeedbackSuppressor {
  readonly #planner: NotchPlanner
  readonly #sink: NotchSink
  readonly #log: (level: 'info' | 'warn', message: string) => void
  #mode: AutomationMode
  #pending: FeedbackProposal[] = []
  #nextId = 1

  constructor(o: FeedbackSuppressorOptions) {
    this.#planner = new NotchPlanner(o.outputs, o.limits ?? {})
    this.#sink = o.sink
    this.#mode = o.mode ?? 'advisory'
    this.#log = o.log ?? (() => {})
  }

  get mode(): AutomationMode {
    return this.#mode
  }

  setMode(mode: AutomationMode): void {
    if (!['advisory', 'supervised', 'auto'].includes(mode))
      throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `feedback: mode must be advisory, supervised or auto, got ${JSON.stringify(mode)}`)
    this.#mode = mode
    if (mode === 'advisory') this.#pending = []
  }

  get limits(): NotchLimits {
    return this.#planner.limits
  }

  setLimits(l: Partial<NotchLimits>): NotchLimits {
    return this.#planner.setLimits(l)
  }

  notches(): Notch[] {
    return this.#planner.notches()
  }

  pending(): FeedbackProposal[] {
    return [...this.#pending]
  }

  #apply(ns: Notch[]): void {
    for (const n of ns) {
      this.#sink.setNotch(n)
      this.#log('info', `feedback notch ${n.enabled ? `${n.hz} Hz ${n.gainDb} dB Q ${n.q}` : 'released'} on output ${n.output} (slot ${n.slot})`)
    }
  }

  /** A feedback alarm: a proposal (advisory, supervised) or a notch (auto). */
  alarm(a: FeedbackAlarm): FeedbackProposal | null {
    if (this.#mode === 'auto') {
      this.#apply(this.#planner.alarm(a))
      return null
    }
    const p = { id: this.#nextId++, alarm: a }
    // Newest per output and frequency: a repeated alarm replaces its proposal.
    this.#pending = this.#pending.filter((q) => q.alarm.output !== a.output || Math.abs(q.alarm.hz - a.hz) > 5)
    this.#pending.push(p)
    return p
  }

  /** The detector's candidates of one frame (auto: a howl still there deepens its notch; any mode: keeps it from releasing). */
  observe(t: number, output: number, candidates: readonly HowlCandidate[]): void {
    // Outside auto the planner only notes the hit (its deepening is a proposal nobody made): the
    // notch stays as the operator accepted it.
    if (this.#mode === 'auto') this.#apply(this.#planner.observe(t, output, candidates))
    else
      this.#planner.observe(
        t,
        output,
        candidates.map((c) => ({ ...c, growthDbPerS: -100 })),
      )
  }

  accept(id: number, who: string): Notch[] {
    if (this.#mode !== 'supervised') throw new FirmwareError('FW_ERR_AUTOMATION', `feedback: accept needs supervised mode (mode is ${this.#mode})`)
    const p = this.#pending.find((q) => q.id === id)
    if (!p) throw new FirmwareError('FW_ERR_AUTOMATION', `feedback: no proposal ${id} (pending: ${this.#pending.map((q) => q.id).join(', ') || 'none'})`)
    this.#pending = this.#pending.filter((q) => q !== p)
    const ns = this.#planner.alarm(p.alarm)
    this.#log('info', `${who} accepted feedback proposal ${id}`)
    this.#apply(ns)
    return ns
  }

  reject(id: number, who: string): void {
    const before = this.#pending.length
    this.#pending = this.#pending.filter((q) => q.id !== id)
    if (this.#pending.length === before) throw new FirmwareError('FW_ERR_AUTOMATION', `feedback: no proposal ${id}`)
    this.#log('info', `${who} rejected feedback proposal ${id}`)
  }

  /** Time passes: notches whose howl stayed away climb back to flat. */
  tick(t: number): void {
    this.#apply(this.#planner.tick(t))
  }

  /** Every notch back to flat now, every proposal dropped. */
  rollback(who: string): Notch[] {
    this.#pending = []
    const ns = this.#planner.clear()
    this.#log('warn', `${who} rolled the feedback notches back to flat (${ns.length})`)
    this.#apply(ns)
    return ns
  }
}
