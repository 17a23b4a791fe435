// Time for the watchdog. The reducer never reads a clock itself: every event carries its time.
// The runtime stamps events from a Clock; tests use SimulatedClock, which refuses to run
// backwards so a test cannot accidentally fake a healthy period by rewinding.
import { performance } from 'node:perf_hooks'
import { FirmwareError } from '../errors.ts'

export interface Clock {
  /** Milliseconds since the epoch, monotonic (never goes back while the process runs). */
  now(): number
}

/** Wall-aligned monotonic time: performance.timeOrigin + performance.now(). */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
}

export class SimulatedClock implements Clock {
  #t: number
  constructor(start = 1_700_000_000_000) {
    this.#t = start
  }
  now(): number {
    return this.#t
  }
  /** Moves time forward by `ms` (>= 0). */
  advance(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new FirmwareError('FW_ERR_BAD_OPTION', `simulated clock: cannot advance by ${ms} ms; time only moves forward`)
    }
    this.#t += ms
    return this.#t
  }
  /** Sets the time; refuses to go backwards. */
  set(t: number): number {
    if (!(t >= this.#t)) {
      throw new FirmwareError('FW_ERR_BAD_OPTION', `simulated clock: cannot go back from ${this.#t} to ${t}`)
    }
    this.#t = t
    return t
  }
}
