// A rehearsal: inject one fault class on the live unit, watch the watchdog's transitions, and
// report how long it took to bypass (or degrade) and to recover, so a crew can prove failover
// before the show. It refuses to start unless the unit is ACTIVE (never in MANUAL_BYPASS: a person
// decided that), runs one at a time, refuses a fault that would latch the escalation, undoes the
// fault when its time is up and again when the rehearsal ends, and gives up waiting after a time
// limit. It never releases a bypass itself: if the unit does not come back, the report says so.

import type { ApplianceEvent, TransitionRecord, WatchdogStateName } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { type Clock, systemClock } from '../watchdog/clock.ts'
import { bypassesInWindow, nextBypassLatches, type WatchdogState } from '../watchdog/machine.ts'
import { FAULTS, type FaultClass, type FaultTargets, panelControllerOf } from './faults.ts'

/** The appliance as a rehearsal sees it (firmware/runtime/appliance.ts's Appliance). */
export interface RehearsalAppliance {
  readonly watchdogState: Readonly<WatchdogState>
  readonly engine: unknown
  subscribe(listener: (ev: ApplianceEvent) => void): () => void
  logLine?(level: 'info' | 'warn', source: string, message: string): void
}

export interface RehearsalOptions {
  /** The inference service, if it has the stall hook. Asked at each rehearsal. Defaults to none. */
  inference: () => unknown
  /** The simulated front-panel controller's process (sim board). Asked at each rehearsal. Defaults
   *  to the one firmware/runtime/start.ts spawned for this appliance, if any. */
  panelController: () => { pid: number } | null
  /** How long after the fault ends a detection still counts. Defaults to 2000 ms. */
  detectGraceMs: number
  /** Extra time allowed for recovery beyond the watchdog's own periods. Defaults to 5000 ms. */
  recoverMarginMs: number
  /** Must be the appliance's clock (transition times are compared with it). Defaults to the system clock. */
  clock: Clock
}

export interface RehearsalReport {
  fault: FaultClass
  what: string
  /** How long the fault was held, ms. */
  faultMs: number
  /** What the watchdog should do: bypass or degrade. */
  expect: 'bypass' | 'degrade'
  startedAt: number
  /** The watchdog left ACTIVE (or a later state) with a cause this fault explains. */
  detected: boolean
  /** From injection to that transition, ms (null: not detected). */
  detectMs: number | null
  /** The state that transition went to, its cause and evidence. */
  detectedAs: WatchdogStateName | null
  cause: string | null
  evidence: string | null
  /** The detection came only after the fault had been undone (late, not while it lasted). */
  detectedAfterRestore: boolean
  /** Back in ACTIVE before the time limit. */
  recovered: boolean
  /** From injection to ACTIVE again, ms (null: not recovered). */
  recoverMs: number | null
  /** Every transition during the rehearsal, in order. */
  transitions: TransitionRecord[]
  /** Transitions to a fault state whose cause this fault does not explain (other faults meanwhile). */
  unrelated: TransitionRecord[]
  /** The state the rehearsal left the unit in. */
  endState: WatchdogStateName
  note: string
}

function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13
  return `${n}${teen ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')}`
}

export class Rehearsal {
  readonly #app: RehearsalAppliance
  readonly #o: RehearsalOptions
  #running: FaultClass | null = null

  constructor(app: RehearsalAppliance, options: Partial<RehearsalOptions> = {}) {
    this.#app = app
    this.#o = {
      inference: () => null,
      panelController: () => panelControllerOf(app),
      detectGraceMs: 2000,
      recoverMarginMs: 5000,
      clock: systemClock,
      ...options,
    }
  }

  get running(): FaultClass | null {
    return this.#running
  }

  /** The longest a rehearsal of `ms` can take (its time limit), ms. */
  timeLimitMs(ms: number): number {
    const c = this.#app.watchdogState.config
    return ms + this.#o.detectGraceMs + c.healthyPeriodMs + c.degradedPeriodMs + this.#o.recoverMarginMs
  }

  /** Checks that `fault` may run now; throws FW_ERR_REHEARSAL_REFUSED saying why not. */
  check(fault: FaultClass): void {
    const s = this.#app.watchdogState
    const refuse = (why: string): never => {
      throw new FirmwareError('FW_ERR_REHEARSAL_REFUSED', `rehearse ${fault}: refused: ${why}; nothing was injected`)
    }
    if (this.#running) refuse(`a rehearsal of ${this.#running} is running; one at a time`)
    if (s.name === 'MANUAL_BYPASS')
      refuse(`the unit is in MANUAL_BYPASS (${s.cause}: ${s.evidence}); a person latched it: release it first (bypass off), then rehearse`)
    if (s.name !== 'ACTIVE')
      refuse(`the unit is ${s.name} (${s.cause}), not ACTIVE; wait until it is ACTIVE so the rehearsal can measure a failover and a recovery`)
    const now = this.#o.clock.now()
    if (FAULTS[fault].expect === 'bypass' && nextBypassLatches(s, now)) {
      const recent = bypassesInWindow(s, now)
      const waitS = recent.length > 0 ? Math.ceil((recent[0]!.at + s.config.escalateWindowMs - now) / 1000) : 0
      refuse(
        `one more automatic bypass would be the ${ordinal(s.config.escalateAfterBypasses)} within ${Math.round(s.config.escalateWindowMs / 1000)} s and latch the bypass until a person releases it; try again in ${waitS} s`,
      )
    }
  }

  /** Injects `fault` for `ms` (its default when undefined) and reports detection and recovery. */
  async run(fault: FaultClass, ms: number | undefined, who: string): Promise<RehearsalReport> {
    const spec = FAULTS[fault]
    const faultMs = ms ?? spec.defaultMs
    const targets: FaultTargets = {
      engine: this.#app.engine as FaultTargets['engine'],
      inference: (this.#o.inference() as FaultTargets['inference']) ?? null,
      panelController: this.#o.panelController(),
    }
    // What this unit cannot do at all comes first: no point waiting for a better moment.
    const missing = spec.unavailable(targets)
    if (missing) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `rehearse ${fault}: not available on this unit: ${missing}`)
    this.check(fault)
    const clock = this.#o.clock
    const transitions: TransitionRecord[] = []
    let wake: (() => void) | null = null
    const unsubscribe = this.#app.subscribe((ev) => {
      if (ev.type !== 'transition') return
      transitions.push(ev.record)
      wake?.()
    })
    this.#running = fault
    let restore: (() => void) | null = null
    let restoreTimer: NodeJS.Timeout | null = null
    let restoredAt = Infinity
    const undo = () => {
      if (restoreTimer) clearTimeout(restoreTimer)
      restoreTimer = null
      if (!restore) return
      const r = restore
      restore = null
      restoredAt = Math.min(restoredAt, clock.now())
      try {
        r()
      } catch {
        /* the hook is gone: nothing left to undo */
      }
    }
    const startedAt = clock.now()
    const limit = startedAt + this.timeLimitMs(faultMs)
    const waitUntil = async (cond: () => boolean, deadline: number): Promise<boolean> => {
      while (!cond()) {
        const left = deadline - clock.now()
        if (left <= 0) return false
        await new Promise<void>((r) => {
          const timer = setTimeout(
            () => {
              wake = null
              r()
            },
            Math.min(left, 50),
          )
          wake = () => {
            clearTimeout(timer)
            wake = null
            r()
          }
        })
      }
      return true
    }
    this.#app.logLine?.('warn', 'rehearsal', `rehearse ${fault} for ${faultMs} ms by ${who}: injecting`)
    try {
      restore = spec.inject(targets, faultMs)
      const injectedEnd = clock.now()
      // Self-limiting injectors (the control stall) have already ended; the others end on a timer.
      if (injectedEnd - startedAt >= faultMs) undo()
      else restoreTimer = setTimeout(undo, Math.max(0, startedAt + faultMs - injectedEnd))
      const detection = () => transitions.find((r) => r.to !== 'ACTIVE' && spec.causes.test(r.cause))
      await waitUntil(() => detection() !== undefined, startedAt + faultMs + this.#o.detectGraceMs)
      const first = detection()
      undo()
      let recoveredAt: number | null = null
      let note = ''
      if (first) {
        // Wait for ACTIVE again, unless a person takes over (MANUAL_BYPASS is theirs to end).
        const back = () => this.#app.watchdogState.name === 'ACTIVE' || this.#app.watchdogState.name === 'MANUAL_BYPASS'
        await waitUntil(back, limit)
        const s = this.#app.watchdogState
        if (s.name === 'ACTIVE') recoveredAt = [...transitions].reverse().find((r) => r.to === 'ACTIVE')?.at ?? clock.now()
        else if (s.name === 'MANUAL_BYPASS')
          note =
            s.cause === 'escalated'
              ? 'the escalation latched the bypass: a person must release it'
              : 'a person engaged manual bypass during the rehearsal; left as it is'
        else note = `not back in ACTIVE within the time limit (${Math.round(limit - startedAt)} ms); the watchdog is ${s.name} (${s.cause})`
      } else {
        note = `not detected: no transition with a cause this fault explains in ${faultMs} ms of fault plus ${this.#o.detectGraceMs} ms`
        // Something else may have taken the unit out of ACTIVE meanwhile: let it come back too.
        if (transitions.length > 0) await waitUntil(() => this.#app.watchdogState.name === 'ACTIVE' || this.#app.watchdogState.name === 'MANUAL_BYPASS', limit)
      }
      // Steps of a recovery (BYPASS -> DEGRADED 'recovered') are not faults of their own.
      const unrelated = transitions.filter((r) => r.to !== 'ACTIVE' && r.cause !== 'recovered' && r !== first && !spec.causes.test(r.cause))
      if (unrelated.length > 0) note += `${note ? '; ' : ''}unrelated meanwhile: ${unrelated.map((r) => `${r.to} ${r.cause}`).join(', ')}`
      const report: RehearsalReport = {
        fault,
        what: spec.what,
        faultMs,
        expect: spec.expect,
        startedAt,
        detected: first !== undefined,
        detectMs: first ? Math.round(first.at - startedAt) : null,
        detectedAs: first?.to ?? null,
        cause: first?.cause ?? null,
        evidence: first?.evidence ?? null,
        detectedAfterRestore: first !== undefined && first.at > restoredAt + 1 && fault !== 'control-stall',
        recovered: recoveredAt !== null,
        recoverMs: recoveredAt === null ? null : Math.round(recoveredAt - startedAt),
        transitions: [...transitions],
        unrelated,
        endState: this.#app.watchdogState.name,
        note,
      }
      this.#app.logLine?.(
        report.recovered ? 'info' : 'warn',
        'rehearsal',
        `rehearse ${fault}: ${report.detected ? `${report.detectedAs} after ${report.detectMs} ms (${report.cause})` : 'not detected'}, ${report.recovered ? `ACTIVE again after ${report.recoverMs} ms` : `not recovered (${note})`}`,
      )
      return report
    } finally {
      undo()
      unsubscribe()
      this.#running = null
    }
  }
}
