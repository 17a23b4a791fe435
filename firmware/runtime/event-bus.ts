// Where the appliance publishes its events (transitions, setting changes, meters, DOA, panel
// events, services' own): every subscriber gets each one, and a subscriber that throws reaches
// neither the others nor the tick.
import type { ApplianceEvent } from '../contract/appliance.ts'

export class EventBus {
  #listeners = new Set<(ev: ApplianceEvent) => void>()
  /** Subscribers now (the tick skips meters and DOA when there are none). */
  get size(): number {
    return this.#listeners.size
  }
  /** Returns the unsubscribe function. */
  subscribe(listener: (ev: ApplianceEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
  publish(ev: ApplianceEvent): void {
    for (const l of this.#listeners) {
      try {
        l(ev)
      } catch {
        // A subscriber's bug must not reach the tick.
      }
    }
  }
}
