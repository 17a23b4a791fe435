// The fail-open watchdog as a pure reducer: transition(state, event) -> [next, actions].
// It never reads a clock, touches the engine or the hardware: every event carries its time, and
// what must happen (engage bypass, set the LEDs, log, notify, withhold the panel heartbeat) comes
// back as data for the runtime (firmware/runtime/appliance.ts) to carry out.
import { type FaultCause, type FaultLevel, isFaultCause, type TransitionCause } from './causes.ts'
import type { TransitionRecord, WatchdogStateName } from './types.ts'

export type { FaultLevel } from './causes.ts'

export type StateName = WatchdogStateName
export const STATES: readonly StateName[] = ['BOOT', 'ACTIVE', 'DEGRADED', 'BYPASS', 'MANUAL_BYPASS']

export type WatchdogEvent =
  /** The engine runs and the monitors are armed. */
  | { type: 'boot-complete'; at: number }
  /** A monitor saw a fault at `at`. Monitors repeat it every tick while it lasts, so the healthy
   *  period is counted from the last time it was seen. */
  | { type: 'fault'; at: number; level: FaultLevel; cause: FaultCause; evidence: string }
  /** Time passes (the runtime's tick); lets an automatic bypass or DEGRADED end. */
  | { type: 'tick'; at: number }
  /** A person (button, console, API) asks for manual bypass on or off. */
  | { type: 'manual'; at: number; on: boolean; who: string }
  /** The panel button held long: always bypass, never a toggle (see docs/front-panel-protocol.md). */
  | { type: 'long-press'; at: number; who: string }
  /** The firmware is stopping: go to bypass and stay there. */
  | { type: 'shutdown'; at: number }

export type EventKind = 'boot-complete' | 'degrade' | 'bypass' | 'tick' | 'manual-on' | 'manual-off' | 'long-press' | 'shutdown'

export type WatchdogAction =
  /** engage: audio to dry (engine.setProcessing(false)); release: back to processed. */
  | { type: 'bypass'; engage: boolean }
  /** The relay: energised = processed, de-energised = hard bypass. */
  | { type: 'relay'; energise: boolean }
  /** withhold: stop the heartbeat to the front-panel controller, so it drops the relay by itself. */
  | { type: 'heartbeat'; withhold: boolean }
  /** Inference and automation allowed (only in ACTIVE). */
  | { type: 'inference'; enabled: boolean }
  /** The front-panel LEDs show this state. */
  | { type: 'led'; state: StateName }
  /** Append to the transition log (memory and disk). */
  | { type: 'log'; record: TransitionRecord }
  /** Tell subscribers (console machine mode, API events). */
  | { type: 'notify'; record: TransitionRecord }

export interface WatchdogConfig {
  /** Fault-free time before an automatic BYPASS ends. Defaults to 5000 ms. */
  healthyPeriodMs: number
  /** Degrade-fault-free time before DEGRADED returns to ACTIVE. Defaults to 5000 ms. */
  degradedPeriodMs: number
  /** The automatic bypass that makes this many within `escalateWindowMs` latches instead: the
   *  sound stays in bypass until a person releases it. 0 never latches. Defaults to 3. */
  escalateAfterBypasses: number
  /** The window for `escalateAfterBypasses`. Defaults to 60000 ms. */
  escalateWindowMs: number
}

export const DEFAULT_WATCHDOG_CONFIG: WatchdogConfig = {
  healthyPeriodMs: 5000,
  degradedPeriodMs: 5000,
  escalateAfterBypasses: 3,
  escalateWindowMs: 60_000,
}

export interface FaultSeen {
  at: number
  cause: FaultCause
  evidence: string
}

export interface WatchdogState {
  name: StateName
  cause: TransitionCause
  evidence: string
  /** When this state was entered. */
  since: number
  /** Time of the latest event (events earlier than this are treated as happening now). */
  at: number
  lastBypassFault: FaultSeen | null
  lastDegradeFault: FaultSeen | null
  /** Automatic bypasses (entries into BYPASS caused by a fault) within the escalation window,
   *  oldest first; emptied when a person releases a bypass. */
  recentBypasses: FaultSeen[]
  /** Set by 'shutdown': nothing leaves bypass any more. */
  stopping: boolean
  /** The fault causes recorded since this state was entered (its own cause and each 'note'). */
  noted: FaultCause[]
  config: WatchdogConfig
}

export function initialState(at: number, config: Partial<WatchdogConfig> = {}): WatchdogState {
  return {
    name: 'BOOT',
    cause: 'boot',
    evidence: 'firmware starting',
    since: at,
    at,
    lastBypassFault: null,
    lastDegradeFault: null,
    recentBypasses: [],
    stopping: false,
    noted: [],
    config: { ...DEFAULT_WATCHDOG_CONFIG, ...config },
  }
}

// What each event does in each state. Read a row as "in STATE, on EVENT, go to ...":
//   a state name  go there;
//   'stay'        no transition (faults are still remembered for the healthy period);
//   'note'        no transition, but a fault whose cause this stay has not recorded yet is logged
//                 (from = to = this state) and becomes the state's cause: `faults` and the status
//                 name a hung model that arrives while a busy machine already degraded the unit,
//                 once per cause per stay, so faults that repeat every tick cannot flood the log;
//   'recover'     leave an automatic state once its healthy period has passed, else stay;
//   'escalate'    an automatic bypass: go to BYPASS, unless it is the escalateAfterBypasses-th within
//                 escalateWindowMs: then latch in MANUAL_BYPASS (cause 'escalated'), as if a person
//                 had pressed bypass, and only a person releases it;
//   'resume'      a person releases manual bypass (or an escalation latch): back to BYPASS if a bypass fault is within the
//                 healthy period, else DEGRADED if a degrade fault is recent, else ACTIVE.
// Only 'resume' leaves MANUAL_BYPASS, and only a 'manual' off event (a person) yields 'resume'.
type Target = StateName | 'stay' | 'note' | 'recover' | 'resume' | 'escalate'
const TABLE: Record<StateName, Record<EventKind, Target>> = {
  //              boot-complete  degrade     bypass    tick       manual-on        manual-off  long-press       shutdown
  BOOT: {
    'boot-complete': 'ACTIVE',
    degrade: 'DEGRADED',
    bypass: 'escalate',
    tick: 'stay',
    'manual-on': 'MANUAL_BYPASS',
    'manual-off': 'stay',
    'long-press': 'MANUAL_BYPASS',
    shutdown: 'BYPASS',
  },
  ACTIVE: {
    'boot-complete': 'stay',
    degrade: 'DEGRADED',
    bypass: 'escalate',
    tick: 'stay',
    'manual-on': 'MANUAL_BYPASS',
    'manual-off': 'stay',
    'long-press': 'MANUAL_BYPASS',
    shutdown: 'BYPASS',
  },
  DEGRADED: {
    'boot-complete': 'stay',
    degrade: 'note',
    bypass: 'escalate',
    tick: 'recover',
    'manual-on': 'MANUAL_BYPASS',
    'manual-off': 'stay',
    'long-press': 'MANUAL_BYPASS',
    shutdown: 'BYPASS',
  },
  BYPASS: {
    'boot-complete': 'stay',
    degrade: 'stay',
    bypass: 'note',
    tick: 'recover',
    'manual-on': 'MANUAL_BYPASS',
    'manual-off': 'stay',
    'long-press': 'MANUAL_BYPASS',
    shutdown: 'stay',
  },
  MANUAL_BYPASS: {
    'boot-complete': 'stay',
    degrade: 'stay',
    bypass: 'stay',
    tick: 'stay',
    'manual-on': 'stay',
    'manual-off': 'resume',
    'long-press': 'stay',
    shutdown: 'stay',
  },
}

// What each state means for the audio path and the hardware, carried out on entry.
const ENTRY: Record<StateName, { dry: boolean; relay: boolean; heartbeat: boolean; inference: boolean }> = {
  BOOT: { dry: true, relay: false, heartbeat: true, inference: false },
  ACTIVE: { dry: false, relay: true, heartbeat: true, inference: true },
  DEGRADED: { dry: false, relay: true, heartbeat: true, inference: false },
  BYPASS: { dry: true, relay: false, heartbeat: false, inference: false },
  MANUAL_BYPASS: { dry: true, relay: false, heartbeat: true, inference: false },
}

export function eventKind(e: WatchdogEvent): EventKind {
  switch (e.type) {
    case 'fault':
      return e.level
    case 'manual':
      return e.on ? 'manual-on' : 'manual-off'
    default:
      return e.type
  }
}

/** The actions that put the outside world into `state` (used on entry and at start). */
export function entryActions(state: StateName): WatchdogAction[] {
  const e = ENTRY[state]
  return [
    { type: 'bypass', engage: e.dry },
    { type: 'relay', energise: e.relay },
    { type: 'heartbeat', withhold: !e.heartbeat },
    { type: 'inference', enabled: e.inference },
    { type: 'led', state },
  ]
}

/** The automatic bypasses still inside the escalation window at `now`, oldest first. */
export function bypassesInWindow(s: WatchdogState, now: number): FaultSeen[] {
  return s.recentBypasses.filter((b) => now - b.at < s.config.escalateWindowMs)
}

/** Whether one more automatic bypass at `now` would latch (escalate). */
export function nextBypassLatches(s: WatchdogState, now: number): boolean {
  const n = s.config.escalateAfterBypasses
  return n > 0 && bypassesInWindow(s, now).length + 1 >= n
}

function healthyBypass(s: WatchdogState, now: number): boolean {
  return s.lastBypassFault === null || now - s.lastBypassFault.at >= s.config.healthyPeriodMs
}
function healthyDegrade(s: WatchdogState, now: number): boolean {
  return s.lastDegradeFault === null || now - s.lastDegradeFault.at >= s.config.degradedPeriodMs
}

export function transition(state: WatchdogState, event: WatchdogEvent): [WatchdogState, WatchdogAction[]] {
  const now = Math.max(state.at, event.at)
  let s: WatchdogState = { ...state, at: now }
  if (event.type === 'fault') {
    const seen = { at: now, cause: event.cause, evidence: event.evidence }
    s = event.level === 'bypass' ? { ...s, lastBypassFault: seen } : { ...s, lastDegradeFault: seen }
  }
  if (event.type === 'shutdown') s = { ...s, stopping: true }

  const target = TABLE[s.name][eventKind(event)]
  let to: StateName | null = null
  let cause: TransitionCause = 'boot'
  let evidence = ''
  switch (target) {
    case 'stay':
      break
    case 'note': {
      if (event.type !== 'fault' || s.noted.includes(event.cause)) break
      const record: TransitionRecord = { at: now, from: s.name, to: s.name, cause: event.cause, evidence: event.evidence }
      const noted: WatchdogState = { ...s, cause: event.cause, evidence: event.evidence, noted: [...s.noted, event.cause] }
      return [
        noted,
        [
          { type: 'log', record },
          { type: 'notify', record },
        ],
      ]
    }
    case 'recover': {
      if (s.stopping) break
      if (s.name === 'BYPASS' && healthyBypass(s, now)) {
        to = healthyDegrade(s, now) ? 'ACTIVE' : 'DEGRADED'
        cause = 'recovered'
        evidence = `no bypass fault for ${s.config.healthyPeriodMs} ms (last: ${s.lastBypassFault?.cause ?? 'none'})`
      } else if (s.name === 'DEGRADED' && healthyDegrade(s, now)) {
        to = 'ACTIVE'
        cause = 'recovered'
        evidence = `no degrade fault for ${s.config.degradedPeriodMs} ms (last: ${s.lastDegradeFault?.cause ?? 'none'})`
      }
      break
    }
    case 'escalate': {
      if (event.type !== 'fault') break
      const seen = { at: now, cause: event.cause, evidence: event.evidence }
      const repeats = [...bypassesInWindow(s, now), seen].slice(-Math.max(1, s.config.escalateAfterBypasses))
      if (nextBypassLatches(s, now)) {
        to = 'MANUAL_BYPASS'
        cause = 'escalated'
        const t0 = repeats[0]!.at
        const list = repeats.map((r) => `${r.cause} at +${((r.at - t0) / 1000).toFixed(1)} s`).join(', ')
        evidence = `${repeats.length} automatic bypasses within ${Math.round(s.config.escalateWindowMs / 1000)} s (${list}; last: ${event.evidence}); latched until a person releases it`
        s = { ...s, recentBypasses: [] }
      } else {
        to = 'BYPASS'
        cause = event.cause
        evidence = event.evidence
        s = { ...s, recentBypasses: repeats }
      }
      break
    }
    case 'resume': {
      const who = event.type === 'manual' ? event.who : 'unknown'
      if (s.stopping) break
      // A person decided: the repeats that led here no longer count toward a latch.
      s = { ...s, recentBypasses: [] }
      if (!healthyBypass(s, now) && s.lastBypassFault) {
        to = 'BYPASS'
        cause = s.lastBypassFault.cause
        evidence = `manual bypass released by ${who}; ${s.lastBypassFault.cause} seen ${Math.round(now - s.lastBypassFault.at)} ms ago (${s.lastBypassFault.evidence}), healthy period ${s.config.healthyPeriodMs} ms`
      } else if (!healthyDegrade(s, now) && s.lastDegradeFault) {
        to = 'DEGRADED'
        cause = s.lastDegradeFault.cause
        evidence = `manual bypass released by ${who}; ${s.lastDegradeFault.evidence}`
      } else {
        to = 'ACTIVE'
        cause = 'manual-release'
        evidence = `manual bypass released by ${who}`
      }
      break
    }
    default: {
      to = target
      switch (event.type) {
        case 'fault':
          cause = event.cause
          evidence = event.evidence
          break
        case 'manual':
          cause = 'manual'
          evidence = `bypass ${event.on ? 'on' : 'off'} by ${event.who}`
          break
        case 'long-press':
          cause = 'manual'
          evidence = `long press by ${event.who}`
          break
        case 'boot-complete':
          cause = 'boot-complete'
          evidence = 'engine running, monitors armed'
          break
        case 'shutdown':
          cause = 'shutdown'
          evidence = 'firmware stopping'
          break
        case 'tick':
          to = null
          break // no row sends a tick straight to a state
      }
    }
  }
  if (to === null || to === s.name) return [s, []]

  const record: TransitionRecord = { at: now, from: s.name, to, cause, evidence }
  const next: WatchdogState = { ...s, name: to, cause, evidence, since: now, noted: isFaultCause(cause) ? [cause] : [] }
  return [next, [...entryActions(to), { type: 'log', record }, { type: 'notify', record }]]
}
