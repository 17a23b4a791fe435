// The appliance's in-memory log: the last lines from the runtime, the watchdog, the panel and the
// services, for `log` on the console and /api/log. Bounded; never written to disk (the transition
// log is the durable record).
import type { LogLine } from '../contract/appliance.ts'

export class LogBuffer {
  /** Lines kept; older ones are dropped. Defaults to 500. */
  readonly capacity: number
  #lines: LogLine[] = []
  constructor(capacity = 500) {
    this.capacity = capacity
  }
  push(level: LogLine['level'], source: string, message: string): void {
    this.#lines.push({ at: Date.now(), level, source, message })
    if (this.#lines.length > this.capacity) this.#lines.splice(0, this.#lines.length - this.capacity)
  }
  /** The last `n` lines, oldest first. */
  tail(n: number): LogLine[] {
    return this.#lines.slice(Math.max(0, this.#lines.length - n))
  }
}
