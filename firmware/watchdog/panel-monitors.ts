// The front panel as a fault source: its UART gone, the controller dropping the relay for want of
// our heartbeat, and a relay it has not confirmed. (Its silence is PanelSilenceMonitor in
// monitors.ts.) The runtime reads the link and hands the figures in; these only judge them.
import type { Fault } from './monitors.ts'

/** The front-panel UART closed under us (unplugged): the relay is down by the controller's
 *  timeout for as long as it is gone. */
export class PanelLinkMonitor {
  check(link: { linkUp: boolean; path: string }): Fault | null {
    if (link.linkUp) return null
    return { level: 'bypass', cause: 'panel-link-lost', evidence: `front-panel UART ${link.path} is gone; the relay is down by the controller's timeout` }
  }
}

/** The controller reports `RELAY OFF TIMEOUT` while we meant to process: our heartbeats did not
 *  reach it in time. A fault, so the state says bypass and recovery re-energises the relay. */
export class PanelHeartbeatTimeoutMonitor {
  /** `processing`: the watchdog is ACTIVE or DEGRADED (it wants the relay on). */
  check(ev: { state: 'ON' | 'OFF'; reason: string; detail: string }, processing: boolean): Fault | null {
    if (ev.state !== 'OFF' || ev.reason !== 'TIMEOUT' || !processing) return null
    return { level: 'bypass', cause: 'panel-heartbeat-timeout', evidence: `front panel dropped the relay: no heartbeat for ${ev.detail || '?'} ms` }
  }
}

/** What the relay-confirmation check reads each tick. */
export interface RelayReading {
  /** The relay should be on and the controller can say so: the watchdog is ACTIVE or DEGRADED,
   *  the link is up, the controller answers and nobody holds the bypass button. */
  expected: boolean
  /** The relay as the controller last reported it. */
  relay: string
  /** The controller's version, null while it has said nothing. */
  controller: string | null
}

/** ACTIVE or DEGRADED but the controller has not confirmed the relay on: the audience hears the
 *  hard bypass, so the state must not claim otherwise. Degrade, not bypass: bypassing would
 *  withhold the heartbeat the relay needs. */
export class RelayConfirmMonitor {
  /** Unconfirmed for longer than this is the fault. Defaults to 1000 ms. */
  readonly confirmMs: number
  #since: number | null = null
  constructor(confirmMs = 1000) {
    this.confirmMs = confirmMs
  }
  /** How long the relay has gone unconfirmed (0 when it is confirmed or not expected). */
  unconfirmedMs(now: number): number {
    return this.#since === null ? 0 : now - this.#since
  }
  check(now: number, r: RelayReading): Fault | null {
    if (!r.expected || r.relay === 'processed') {
      this.#since = null
      return null
    }
    this.#since ??= now
    const ms = now - this.#since
    if (ms <= this.confirmMs) return null
    return {
      level: 'degrade',
      cause: 'relay-not-confirmed',
      evidence: `the front panel has not confirmed the relay on for ${Math.round(ms)} ms (relay ${r.relay}, controller ${r.controller ?? 'silent'})`,
    }
  }
}
