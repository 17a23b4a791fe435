// The control tick itself as a fault source. A bug in the control plane must not crash the
// process (the relay would drop, but the console and API would go too): the runtime catches the
// exception and hands it here. It bypasses for as long as ticks keep failing.
import type { Fault } from './monitors.ts'

export class TickErrorMonitor {
  /** Failed ticks so far. */
  count = 0
  check(err: unknown): Fault {
    this.count++
    return { level: 'bypass', cause: 'runtime-error', evidence: `control tick failed: ${errorText(err)}` }
  }
  /** Whether the latest failure should be logged: the first five, then every hundredth. */
  get worthLogging(): boolean {
    return this.count <= 5 || this.count % 100 === 0
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
