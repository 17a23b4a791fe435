// The watchdog's own vocabulary: its states and the record of a transition between them. The
// contract (firmware/contract/appliance.ts) passes these on; the watchdog imports nothing above it.
import type { TransitionCause } from './causes.ts'

export type WatchdogStateName = 'BOOT' | 'ACTIVE' | 'DEGRADED' | 'BYPASS' | 'MANUAL_BYPASS'

/** One watchdog transition, as recorded in memory and on disk. */
export interface TransitionRecord {
  /** Milliseconds since the epoch. */
  at: number
  from: WatchdogStateName
  to: WatchdogStateName
  /** One of the causes in firmware/watchdog/causes.ts (docs/watchdog.md, Causes). */
  cause: TransitionCause
  /** Human-readable evidence, e.g. "event-loop lag 812 ms > 250 ms". */
  evidence: string
}
