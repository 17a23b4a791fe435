// The bypass relay: energised = processed audio reaches the outputs, de-energised = the inputs
// are wired straight to the outputs (hard bypass). On this appliance the relay hangs off the
// front-panel controller, which also drops it by itself when heartbeats stop or the bypass button
// is pressed; the firmware can only ask.
import type { PanelLink } from '../panel/panel.ts'

export type RelayState = 'processed' | 'bypass' | 'unknown'

export interface BypassRelay {
  /** What the relay is doing, as last reported by the hardware. */
  readonly state: RelayState
  /** Asks for processed audio (the controller refuses without a fresh heartbeat). */
  energise(): void
  /** Drops to hard bypass. */
  release(): void
}

/** The relay on the front-panel controller. */
export class PanelBypassRelay implements BypassRelay {
  readonly #panel: PanelLink
  constructor(panel: PanelLink) {
    this.#panel = panel
  }
  get state(): RelayState {
    return this.#panel.relay
  }
  energise(): void {
    this.#panel.setRelay(true)
  }
  release(): void {
    this.#panel.setRelay(false)
  }
}

/** A relay with no hardware behind it (offline tools, unit tests): it just remembers. */
export class SimulatedRelay implements BypassRelay {
  state: RelayState = 'bypass'
  /** Every change, for tests. */
  readonly history: RelayState[] = []
  energise(): void {
    this.state = 'processed'
    this.history.push(this.state)
  }
  release(): void {
    this.state = 'bypass'
    this.history.push(this.state)
  }
}
