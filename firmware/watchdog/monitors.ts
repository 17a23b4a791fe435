// Monitors: small objects that look at one signal each tick and say whether it is a fault, with
// evidence a person can read ("event-loop lag 812 ms > 250 ms"). They hold only the state they
// need (the last counter value, a short rate window) and never act: the runtime turns their
// faults into watchdog events. Every check is O(1) so the 10 ms tick stays cheap.
import { type ELDHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { FaultCause, FaultLevel } from './causes.ts'

/** What a monitor reports: the level it asks for, a cause from firmware/watchdog/causes.ts, and
 *  evidence a person can read. */
export interface Fault {
  level: FaultLevel
  cause: FaultCause
  evidence: string
}

/** The engine's block counter stops moving: the audio thread (or its device) is stuck. The
 *  engine's own dry path cannot help then, so this bypasses, which drops the relay. With the
 *  sentinel thread running (addons/src/sentinel.h) the relay has long dropped natively by the
 *  time this fires; it remains the backstop for engines without one. */
export class EngineStallMonitor {
  /** No new block for this long is a stall. Defaults to 200 ms. */
  readonly stallMs: number
  #lastBlocks = -1
  #lastChange = 0
  constructor(stallMs = 200) {
    this.stallMs = stallMs
  }
  check(now: number, blocks: number): Fault | null {
    if (blocks !== this.#lastBlocks) {
      this.#lastBlocks = blocks
      this.#lastChange = now
      return null
    }
    const stuck = now - this.#lastChange
    if (stuck <= this.stallMs) return null
    return { level: 'bypass', cause: 'engine-stall', evidence: `engine block counter stuck at ${blocks} for ${Math.round(stuck)} ms > ${this.stallMs} ms` }
  }
}

/** Events per second of a monotonically growing counter, over a sliding window. */
export class RateWindow {
  readonly windowMs: number
  #samples: Array<{ at: number; total: number }> = []
  constructor(windowMs = 1000) {
    this.windowMs = windowMs
  }
  /** Adds a sample (at most one every windowMs/10 is kept) and returns the events in the last
   *  window, per second. Divided by the whole window even when less time has passed: one xrun in
   *  the first 100 ms after start is one in a second, not a rate of ten a second. */
  update(now: number, total: number): number {
    const last = this.#samples[this.#samples.length - 1]
    if (!last || now - last.at >= this.windowMs / 10) this.#samples.push({ at: now, total })
    while (this.#samples.length > 2 && now - this.#samples[1]!.at >= this.windowMs) this.#samples.shift()
    const first = this.#samples[0]!
    const span = now - first.at
    if (span <= 0) return 0
    return ((total - first.total) * 1000) / Math.max(span, this.windowMs)
  }
}

/** DSP block overruns per second (the native layer handles K in a row; this catches a chain that
 *  overruns often but not in a row). */
export class OverrunRateMonitor {
  readonly maxPerSecond: number
  #rate = new RateWindow(1000)
  constructor(maxPerSecond = 10) {
    this.maxPerSecond = maxPerSecond
  }
  check(now: number, overrunsTotal: number): Fault | null {
    const r = this.#rate.update(now, overrunsTotal)
    if (r <= this.maxPerSecond) return null
    return { level: 'bypass', cause: 'dsp-overrun-rate', evidence: `DSP overruns ${r.toFixed(1)}/s > ${this.maxPerSecond}/s` }
  }
}

/** Audio device xruns per second. Bypass would not cure a device problem, so this degrades. */
export class XrunRateMonitor {
  readonly maxPerSecond: number
  #rate = new RateWindow(1000)
  constructor(maxPerSecond = 2) {
    this.maxPerSecond = maxPerSecond
  }
  check(now: number, xrunsTotal: number): Fault | null {
    const r = this.#rate.update(now, xrunsTotal)
    if (r <= this.maxPerSecond) return null
    return { level: 'degrade', cause: 'xruns', evidence: `audio xruns ${r.toFixed(1)}/s > ${this.maxPerSecond}/s` }
  }
}

/** JavaScript event-loop lag, measured as the gap between ticks (the signal the watchdog acts
 *  on), plus perf_hooks' event-loop delay histogram for status figures. A late control plane is
 *  not an audio fault: the audio thread holds the last parameters and the sound does not change,
 *  so this degrades (the crew is told), never bypasses (docs/watchdog.md). */
export class EventLoopMonitor {
  readonly tickMs: number
  readonly maxLagMs: number
  #last = -1
  #hist: ELDHistogram
  constructor(tickMs = 10, maxLagMs = 100) {
    this.tickMs = tickMs
    this.maxLagMs = maxLagMs
    this.#hist = monitorEventLoopDelay({ resolution: 10 })
    this.#hist.enable()
  }
  /** `now` from performance.now() (or a simulated clock). */
  check(now: number = performance.now()): Fault | null {
    const last = this.#last
    this.#last = now
    if (last < 0) return null
    const lag = now - last - this.tickMs
    if (lag <= this.maxLagMs) return null
    return {
      level: 'degrade',
      cause: 'event-loop-lag',
      evidence: `event-loop lag ${Math.round(lag)} ms > ${this.maxLagMs} ms (parameters held, sound unchanged)`,
    }
  }
  /** Event-loop delay since the last reset, in ms. */
  delay(): { p50: number; p99: number; max: number } {
    const h = this.#hist
    return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }
  }
  resetDelay(): void {
    this.#hist.reset()
  }
  close(): void {
    this.#hist.disable()
  }
}

/** Temperature of the board's thermal zones (°C per zone name). */
export class ThermalMonitor {
  readonly zones: ReadonlyArray<{ name: string; warnC: number; bypassC: number }>
  constructor(zones: ReadonlyArray<{ name: string; warnC: number; bypassC: number }>) {
    this.zones = zones
  }
  check(readingsC: ReadonlyMap<string, number>): Fault | null {
    let worst: Fault | null = null
    for (const z of this.zones) {
      const c = readingsC.get(z.name)
      if (c === undefined || !Number.isFinite(c)) continue
      if (c >= z.bypassC) return { level: 'bypass', cause: 'thermal', evidence: `${z.name} ${c.toFixed(1)} °C >= ${z.bypassC} °C` }
      if (c >= z.warnC && !worst) worst = { level: 'degrade', cause: 'thermal', evidence: `${z.name} ${c.toFixed(1)} °C >= ${z.warnC} °C` }
    }
    return worst
  }
}

/** What the sentinel thread reports, turned into faults: each new audio-thread stall bypasses
 *  (the sentinel has already sent RELAY OFF), each new control-plane hold degrades (it has already
 *  shown DEGRADED on the panel). Counters, so a stall that came and went between two ticks is
 *  still reported. */
export class SentinelMonitor {
  #stalls = 0
  #holds = 0
  #timeouts = 0
  check(
    s: { audioStalls: number; lastStallMs: number; controlHolds: number; lastHoldAgeMs: number; controlTimeouts: number; stalled: boolean },
    holdAfterMs: number,
  ): Fault[] {
    const out: Fault[] = []
    if (s.audioStalls !== this.#stalls || s.stalled) {
      const fresh = s.audioStalls !== this.#stalls
      this.#stalls = s.audioStalls
      out.push({
        level: 'bypass',
        cause: 'audio-stall',
        evidence: fresh
          ? `the audio thread produced no block for ${Math.round(s.lastStallMs)} ms; the sentinel sent RELAY OFF`
          : 'the audio thread is still stalled',
      })
    }
    if (s.controlHolds !== this.#holds) {
      this.#holds = s.controlHolds
      out.push({
        level: 'degrade',
        cause: 'control-plane-stall',
        evidence: `the control plane's heartbeat was ${Math.round(s.lastHoldAgeMs)} ms old (> ${holdAfterMs} ms): parameters held, DEGRADED shown on the panel by the sentinel`,
      })
    }
    if (s.controlTimeouts !== this.#timeouts) {
      this.#timeouts = s.controlTimeouts
      out.push({
        level: 'bypass',
        cause: 'control-plane-timeout',
        evidence: 'the control plane was silent past its limit; the sentinel stopped the panel heartbeat',
      })
    }
    return out
  }
}

/** The front-panel controller answers nothing: it is dead, unpowered or its UART is cut. The
 *  relay has then dropped by its own timeout and the bypass button no longer reaches us. The
 *  runtime asks STATUS? every `queryMs`; no line back for `silentMs` is the fault. */
export class PanelSilenceMonitor {
  readonly silentMs: number
  constructor(silentMs = 600) {
    this.silentMs = silentMs
  }
  check(now: number, lastHeardAt: number, path: string): Fault | null {
    const quiet = now - lastHeardAt
    if (quiet <= this.silentMs) return null
    return {
      level: 'bypass',
      cause: 'panel-controller-silent',
      evidence: `no reply from the front-panel controller on ${path} for ${Math.round(quiet)} ms (> ${this.silentMs} ms): the relay is down by its timeout and the bypass button is not reaching the firmware`,
    }
  }
}

/** Resident memory of the firmware process: past the limit, inference (the big user) stops. */
export class MemoryMonitor {
  readonly limitBytes: number
  constructor(limitBytes = 1536 * 1024 * 1024) {
    this.limitBytes = limitBytes
  }
  check(rssBytes: number): Fault | null {
    if (rssBytes <= this.limitBytes) return null
    const mb = (b: number) => Math.round(b / (1024 * 1024))
    return { level: 'degrade', cause: 'memory', evidence: `resident memory ${mb(rssBytes)} MiB > ${mb(this.limitBytes)} MiB` }
  }
}
