// The native layer's own reports, as faults. The audio thread publishes records through its event
// ring; firmware/engine/events.ts decodes them into a typed union, and the tick hands each one
// here. The watchdog sits beside the engine face in the layer table (it cannot import it), so the
// shape it reads is declared here: the engine's EngineEvent is assignable to NativeEvent, and a
// native cause the watchdog does not know fails to typecheck where the runtime joins the two.
import type { FaultCause } from './causes.ts'
import type { Fault } from './monitors.ts'

/** Why the audio thread went dry by itself (addons/src/engine.cc). */
export type NativeBypassCause = 'heartbeat-stale' | 'dsp-overrun' | 'non-finite-output' | 'runaway-output'

/** The engine events the watchdog reads; the others pass through as their type alone. */
export type NativeEvent =
  | { type: 'native-bypass'; cause: NativeBypassCause; detail: number }
  | { type: 'backend-error' }
  | { type: 'xrun' | 'overrun' | 'processed' | 'end-of-input' }

/** The engine's fail-open limits, quoted in the evidence. */
export interface NativeLimits {
  heartbeatTimeoutMs: number
  overrunBlocks: number
  /** Defaults to 24 dBFS. */
  runawayDb?: number
}

const CAUSE: Record<NativeBypassCause, FaultCause> = {
  'heartbeat-stale': 'native-heartbeat-stale',
  'dsp-overrun': 'native-dsp-overrun',
  'non-finite-output': 'native-non-finite-output',
  'runaway-output': 'native-runaway-output',
}

/** The audio thread went dry by itself (native-bypass), or the backend failed: both bypass. One
 *  fault per event; the engine sends a native-bypass once per episode, so the healthy period
 *  counts from it. */
export class NativeEventMonitor {
  readonly limits: NativeLimits
  constructor(limits: NativeLimits) {
    this.limits = limits
  }
  check(ev: NativeEvent): Fault | null {
    switch (ev.type) {
      case 'native-bypass':
        return { level: 'bypass', cause: CAUSE[ev.cause], evidence: `audio thread went dry: ${this.#why(ev.cause, ev.detail)}` }
      case 'backend-error':
        return { level: 'bypass', cause: 'backend-error', evidence: 'the audio backend reported an error' }
      default:
        return null
    }
  }
  #why(cause: NativeBypassCause, detail: number): string {
    const l = this.limits
    switch (cause) {
      case 'heartbeat-stale':
        return `heartbeat ${Math.round(detail)} ms old > ${l.heartbeatTimeoutMs} ms`
      case 'dsp-overrun':
        return `DSP over budget ${l.overrunBlocks} blocks in a row (${Math.round(detail)} us)`
      case 'non-finite-output':
        return 'a NaN or infinity left the DSP chain'
      case 'runaway-output':
        return `a processed sample above ${l.runawayDb ?? 24} dBFS (runaway)`
    }
  }
}
