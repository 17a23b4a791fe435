// AutomationController: runs the automation reducer and carries out its effects: EQ gains go to
// an EqSink (the appliance's output EQ), recommendations to subscribers (event stream, console),
// log lines to the log. Errors from the reducer become FirmwareErrors for the command registry.

import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import {
  type AutomationDecision,
  type AutomationEffect,
  type AutomationEvent,
  type AutomationLimits,
  type AutomationMode,
  type AutomationState,
  type Gains,
  initialState,
  type Recommendation,
  type RecommendationInput,
  transition,
} from './machine.ts'

/** Where applied gains go. */
export interface EqSink {
  applyGains(output: number, gains: number[], who: string): void
}

export interface AutomationControllerOptions {
  outputs: number
  /** Centre frequencies of the automation bands (the recommender's). */
  bandsHz: number[]
  sink: EqSink
  mode?: AutomationMode
  limits?: Partial<AutomationLimits>
  /** The operator-approved gains at start. Defaults to all 0 dB. */
  approved?: Gains
  log?: (level: 'info' | 'warn', message: string) => void
  /** Clock (ms). Defaults to Date.now. */
  now?: () => number
}

export type DecisionListener = (ev: { decision: AutomationDecision; id: number | null; output: number | null; who: string }) => void
export type RecommendationListener = (ev: { rec: Recommendation; mode: AutomationMode; action: string; bandsHz: number[] }) => void

export class AutomationController {
  #state: AutomationState
  readonly #o: AutomationControllerOptions
  readonly #now: () => number
  readonly #listeners = new Set<RecommendationListener>()
  readonly #decisionListeners = new Set<DecisionListener>()

  constructor(opts: AutomationControllerOptions) {
    this.#o = opts
    this.#now = opts.now ?? Date.now
    this.#state = initialState(opts.outputs, opts.bandsHz.length, {
      ...(opts.mode ? { mode: opts.mode } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.approved ? { approved: opts.approved } : {}),
    })
  }

  /** How many outputs it governs (the recommendation sink's contract, firmware/inference/live.ts). */
  get outputs(): number {
    return this.#state.current.length
  }
  get state(): AutomationState {
    return this.#state
  }

  get mode(): AutomationMode {
    return this.#state.mode
  }

  get bandsHz(): number[] {
    return this.#o.bandsHz
  }

  /** What an engineer did with the recommendations (accepted, rejected, undone, rolled back). */
  onDecision(l: DecisionListener): () => void {
    this.#decisionListeners.add(l)
    return () => this.#decisionListeners.delete(l)
  }

  onRecommendation(l: RecommendationListener): () => void {
    this.#listeners.add(l)
    return () => this.#listeners.delete(l)
  }

  /** Runs one event; throws FirmwareError when the reducer refuses it. Returns the effects carried out. */
  dispatch(ev: AutomationEvent): AutomationEffect[] {
    const step = transition(this.#state, ev)
    if (step.error) throw new FirmwareError(step.error.code, step.error.message)
    this.#state = step.state
    for (const e of step.effects) this.#carryOut(e)
    return step.effects
  }

  recommend(rec: RecommendationInput): AutomationEffect[] {
    return this.dispatch({ type: 'recommendation', at: this.#now(), rec })
  }
  setMode(mode: AutomationMode, who: string): void {
    this.dispatch({ type: 'set-mode', at: this.#now(), mode, who })
  }
  accept(id: number, who: string): void {
    this.dispatch({ type: 'accept', at: this.#now(), id, who })
  }
  reject(id: number, who: string): void {
    this.dispatch({ type: 'reject', at: this.#now(), id, who })
  }
  approve(who: string): void {
    this.dispatch({ type: 'approve', at: this.#now(), who })
  }
  undo(who: string): void {
    this.dispatch({ type: 'undo', at: this.#now(), who })
  }
  rollback(who: string): void {
    this.dispatch({ type: 'rollback', at: this.#now(), who })
  }
  /** The watchdog's inference enable (ACTIVE only): automation pauses while it is off. */
  setEnabled(enabled: boolean, cause: string): void {
    this.dispatch({ type: 'enable', at: this.#now(), enabled, cause })
  }
  /** Call from the control tick (10 ms); moves auto-mode gains toward their targets. */
  tick(at = this.#now()): void {
    this.dispatch({ type: 'tick', at })
  }

  #carryOut(e: AutomationEffect): void {
    switch (e.type) {
      case 'apply':
        this.#o.sink.applyGains(e.output, e.gains, e.who)
        return
      case 'publish':
        for (const l of this.#listeners) {
          try {
            l({ rec: e.rec, mode: e.mode, action: e.action, bandsHz: this.#o.bandsHz })
          } catch {
            // A listener's failure is its own.
          }
        }
        return
      case 'log':
        this.#o.log?.(e.level, e.message)
        return
      case 'decision':
        for (const l of this.#decisionListeners) {
          try {
            l({ decision: e.decision, id: e.id, output: e.output, who: e.who })
          } catch {
            // A listener's failure is its own.
          }
        }
        return
    }
  }
}

export interface ApplianceEqSinkOptions {
  /** Which EQ band slots of each output automation owns, one per automation band. Defaults to 0..n-1. */
  bandSlots?: number[]
  /** Q of the peaking bands. Defaults to 1.4 (about an octave). */
  q?: number
}

/** An EqSink over the appliance: one peaking band per automation band. */
export function applianceEqSink(app: Pick<ApplianceApi, 'setEqBand'>, bandsHz: number[], opts: ApplianceEqSinkOptions = {}): EqSink {
  const slots = opts.bandSlots ?? bandsHz.map((_, i) => i)
  const q = opts.q ?? 1.4
  return {
    applyGains(output, gains, who) {
      gains.forEach((gainDb, i) => {
        app.setEqBand(output, slots[i]!, { type: 'peak', freqHz: bandsHz[i]!, gainDb: Math.round(gainDb * 100) / 100, q, enabled: true }, who)
      })
    },
  }
}
