// The appliance at run time: the engine, the watchdog, the monitors, the front panel and the
// hardware watchdogs, tied together by one 10 ms tick. The tick writes the engine heartbeat,
// drains the engine's rings, gathers each monitor's inputs and asks it for faults (every fault
// source is a monitor in firmware/watchdog/), feeds the watchdog reducer, and carries out the
// actions it returns. Settings are mirrored in settings-mirror.ts, log lines kept in
// log-buffer.ts, events published through event-bus.ts. Transports (console, API) see only
// ApplianceApi.

import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createEngineFromProfile } from '../board/engine.ts'
import type { BoardProfile } from '../board/profile.ts'
import type { ApplianceEvent, ApplianceStatus, BeamInfo, LogLine, SettingChange, TransitionRecord } from '../contract/appliance.ts'
import type { ServiceHost } from '../contract/service.ts'
import type { NetStreamStats } from '../engine/aes67-options.ts'
import type { Engine, EngineOptions, SentinelOptions, SentinelStats } from '../engine/engine.ts'
import type { BandParams, CompressorParams, DoaEstimate, EngineStats, FeatureFrames, Meters } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { type BypassRelay, PanelBypassRelay, SimulatedRelay } from '../hardware/relay.ts'
import { SimThermal, type ThermalSensor, thermalFor } from '../hardware/thermal.ts'
import { type HardwareWatchdog, WatchdogDevice } from '../hardware/watchdog-device.ts'
import { type PtpStatus, queryPtp } from '../netaudio/ptp.ts'
import type { PanelEvent, PanelLink } from '../panel/panel.ts'
import { type Clock, systemClock } from '../watchdog/clock.ts'
import type { InferenceHealthEvent } from '../watchdog/inference-health.ts'
import { TransitionLog } from '../watchdog/log.ts'
import {
  entryActions,
  initialState,
  transition,
  type WatchdogAction,
  type WatchdogConfig,
  type WatchdogEvent,
  type WatchdogState,
} from '../watchdog/machine.ts'
import type { MixStreamHealth } from '../watchdog/mix-stream.ts'
import { createMonitorSet, type MonitorOptions, type MonitorSet } from '../watchdog/monitor-set.ts'
import type { Fault } from '../watchdog/monitors.ts'
import { monotonicMs } from '../watchdog/netaudio-monitor.ts'
import { errorText } from '../watchdog/tick-errors.ts'
import { EventBus } from './event-bus.ts'
import { LogBuffer } from './log-buffer.ts'
import { SettingsMirror } from './settings-mirror.ts'

/** The engine as the runtime drives it (firmware/engine/engine.ts's Engine; tests may pass a stand-in). */
export type RuntimeEngine = Pick<
  Engine,
  | 'start'
  | 'stop'
  | 'heartbeat'
  | 'setProcessing'
  | 'poll'
  | 'stats'
  | 'blockCounter'
  | 'options'
  | 'setInputTrim'
  | 'setOutputGain'
  | 'setEq'
  | 'setCompressor'
  | 'steerBeam'
  | 'setBeamAuto'
> &
  Partial<
    Pick<
      Engine,
      | 'startSentinel'
      | 'sentinelWithhold'
      | 'sentinelRelayOn'
      | 'sentinelStats'
      | 'pollFeatures'
      | 'mixPort'
      | 'setNotch'
      | 'setShift'
      | 'netStats'
      | 'setMediaClockLocked'
      | 'addAes67Stream'
      | 'removeAes67Stream'
    >
  > &
  // Issue 17: live tracks (firmware/mix/live.ts).
  Partial<Pick<Engine, 'setTracking' | 'pollPeaks'>>

export type { MonitorOptions } from '../watchdog/monitor-set.ts'

export interface ApplianceOptions {
  /** Watchdog hysteresis. Defaults: 5000 ms healthy period, 5000 ms out of DEGRADED. */
  watchdog: Partial<WatchdogConfig>
  monitors: Partial<MonitorOptions>
  /** Control tick. Defaults to 10 ms. */
  tickMs: number
  /** Heartbeat to the front-panel controller every this many ms, from JS: only for engines without a sentinel thread. Defaults to 50. */
  panelHeartbeatMs: number
  /**
   * Heartbeat timeout set on the front-panel controller (TIMEOUT) when the sentinel sends the
   * heartbeats (every 5 ms). Defaults to 150 ms: the sentinel writes with gaps under 9 ms even on a
   * saturated machine, but the sim board's two PTY hops (socat) delivered gaps up to 114 ms; a real
   * UART can take 40 ms (docs/watchdog.md has the figures).
   */
  panelTimeoutMs: number
  /** Ask the controller STATUS? this often, so its silence is noticed. Defaults to 200 ms. */
  panelQueryMs: number
  /** The sentinel thread's settings (firmware/engine/engine.ts SentinelOptions); the panel path is filled in. */
  sentinel: Partial<SentinelOptions>
  /** An open front-panel link (firmware/panel/panel.ts). Without one the relay is simulated in memory. */
  panel: PanelLink | null
  /** Engine option overrides on top of the profile (e.g. sim.recordSeconds in fault tests). */
  engine: Partial<EngineOptions>
  /** A ready-made (not yet started) engine instead of one built from the profile. */
  engineInstance: RuntimeEngine | null
  /** Hardware watchdogs to feed from the tick (/dev/watchdog, systemd). Defaults to none. */
  hardwareWatchdogs: HardwareWatchdog[]
  /** Temperature source. Defaults to the profile's zones (settable on the sim board). */
  thermal: ThermalSensor | null
  /** Where transitions.jsonl goes. Defaults to <profile.dataDir>/watchdog; null: memory only. */
  logDir: string | null | undefined
  clock: Clock
  firmwareVersion: string
  /**
   * Called when a person asks for a restart (`reboot`) or a factory reset; whoever runs the
   * appliance stops it and starts it again (wiping data first for a reset). Defaults to null:
   * both commands then answer "not available".
   */
  onRestart: ((reason: 'reboot' | 'factory-reset', who: string) => void) | null
  /**
   * Called once the engine runs (dry) and before boot completes: restore the stored settings here,
   * so the unit goes ACTIVE with them. Synchronous and quick. Defaults to null.
   */
  beforeActive: ((app: Appliance) => void) | null
}

/** The controller heartbeat timeout the appliance configures (see ApplianceOptions.panelTimeoutMs). */
export const DEFAULT_PANEL_TIMEOUT_MS = 150

export class Appliance implements ServiceHost {
  readonly profile: BoardProfile
  readonly engine: RuntimeEngine
  readonly relay: BypassRelay
  readonly panel: PanelLink | null
  readonly thermal: ThermalSensor
  readonly log: TransitionLog
  readonly startedAt: number
  automationMode: 'advisory' | 'supervised' | 'auto' = 'advisory'
  /** Where people reach this unit, filled in by the services (console PTY, API port, OSC port). */
  readonly endpoints = new Map<string, string>()

  readonly #o: ApplianceOptions
  readonly #clock: Clock
  #state: WatchdogState
  #timer: NodeJS.Timeout | null = null
  #stopped = false
  #heartbeatWithheld = false
  #inferenceEnabled = false
  #inferenceListeners = new Set<(enabled: boolean) => void>()
  readonly #events = new EventBus()
  readonly #logLines = new LogBuffer(500)
  #meters: Meters | null = null
  #doa: DoaEstimate | null = null
  #stats: EngineStats | null = null
  #lastStatsAt = -Infinity
  #lastPanelHb = -Infinity
  #lastRelayRetry = -Infinity
  #buttonDown = false
  #lastEmit = -Infinity
  #lastSlow = -Infinity
  readonly #settings: SettingsMirror
  #unsubPanel: (() => void) | null = null
  /** The sentinel thread runs (and, with a panel, owns the panel heartbeat and RELAY ON). */
  #sentinel = false
  #sentinelStats: SentinelStats | null = null
  #lastPanelHeard = -Infinity
  #lastPanelQuery = -Infinity
  #panelSilent = false
  /** The last relay action was energise (a repeat is not sent again). */
  #relayWanted = false
  #lastTickAt = 0
  readonly #mon: MonitorSet
  #slowFaults: Fault[] = []
  #mixHealth: (() => MixStreamHealth | null) | null = null
  /** AES67 (docs/aes67.md): the streams' counters as the tick last read them, and the PTP clock's state. */
  #net: NetStreamStats[] = []
  #ptp: PtpStatus | null = null
  #ptpAsking = false
  #mediaClockLocked = false
  #netFaults = new Set<string>()
  #ptpCause = ''
  /** Tick cost, for status and the benchmark: last and max in microseconds. */
  readonly tickCostUs = { last: 0, max: 0 }

  private constructor(profile: BoardProfile, o: ApplianceOptions, engine: RuntimeEngine) {
    this.profile = profile
    this.#o = o
    this.#clock = o.clock
    this.engine = engine
    this.panel = o.panel
    this.relay = o.panel ? new PanelBypassRelay(o.panel) : new SimulatedRelay()
    this.thermal = o.thermal ?? thermalFor(profile.thermalZones)
    this.log = new TransitionLog({ dir: o.logDir === undefined ? join(profile.dataDir, 'watchdog') : o.logDir })
    this.startedAt = this.#clock.now()
    this.#state = initialState(this.startedAt, { ...profile.watchdog, ...o.watchdog })
    this.#mon = createMonitorSet(o.monitors, {
      tickMs: o.tickMs,
      thermalZones: profile.thermalZones,
      native: engine.options,
      ...(profile.audio.aes67 ? { netDeadMs: profile.audio.aes67.deadMs } : {}),
    })
    this.#settings = new SettingsMirror(engine.options)
  }

  /**
   * Builds and starts the engine (dry), arms the watchdog and the tick, then completes boot
   * (processing on, relay energised). Throws FirmwareError when the engine cannot start.
   */
  static async start(profile: BoardProfile, options: Partial<ApplianceOptions> = {}): Promise<Appliance> {
    const o: ApplianceOptions = {
      watchdog: {},
      monitors: {},
      tickMs: 10,
      panelHeartbeatMs: 50,
      panelTimeoutMs: DEFAULT_PANEL_TIMEOUT_MS,
      panelQueryMs: 200,
      sentinel: {},
      panel: null,
      engine: {},
      engineInstance: null,
      hardwareWatchdogs: [],
      thermal: null,
      logDir: undefined,
      clock: systemClock,
      firmwareVersion: '0.1.0',
      onRestart: null,
      beforeActive: null,
      ...options,
    }
    if (!(o.tickMs >= 1 && o.tickMs <= 100)) throw new FirmwareError('FW_ERR_BAD_OPTION', `appliance option tickMs must be 1..100 ms, got ${o.tickMs}`)
    // The runtime's tick writes the heartbeat (so a blocked event loop is what makes it stale),
    // and the engine starts dry: processing begins when the watchdog says ACTIVE.
    const engine = o.engineInstance ?? createEngineFromProfile(profile, { ...o.engine, heartbeatIntervalMs: 0, startProcessed: false })
    const app = new Appliance(profile, o, engine)
    app.#act(entryActions('BOOT'))
    try {
      engine.start()
    } catch (e) {
      app.#mon.loop.close()
      throw e
    }
    engine.heartbeat()
    app.#startSentinel()
    app.#lastPanelHeard = app.#clock.now()
    if (app.panel) app.#unsubPanel = app.panel.onEvent((ev) => app.#onPanel(ev))
    app.#timer = setInterval(() => app.#tick(), o.tickMs)
    if (o.beforeActive) {
      try {
        o.beforeActive(app)
      } catch (e) {
        app.#logLine('error', 'runtime', `restoring settings failed: ${(e as Error).message}`)
      }
    }
    app.#dispatch({ type: 'boot-complete', at: app.#clock.now() })
    app.#logLine(
      'info',
      'runtime',
      `started on board ${profile.name} (${engine.options.backend} backend, block ${engine.options.blockSize} @ ${engine.options.sampleRate} Hz)`,
    )
    return app
  }

  /**
   * Starts the engine's sentinel thread (when the engine has one): it watches
   * the audio thread and this tick's heartbeat natively, sends the front-panel heartbeat itself
   * and feeds the watchdog device. Failing to start it is logged and leaves the JS heartbeat on.
   */
  #startSentinel(): void {
    const o = this.#o
    const e = this.engine
    // Memory: the engine mlock()s its own buffers (and its rings); the process is not mlockall()ed,
    // because V8 aborts when it frees pages of a locked heap (docs/watchdog.md).
    const locked = (e.stats() as { lockedBytes?: number }).lockedBytes
    if (locked !== undefined)
      this.#logLine(
        locked > 0 ? 'info' : 'warn',
        'runtime',
        locked > 0
          ? `engine buffers locked in memory (${Math.round(locked / 1024)} KiB)`
          : 'engine buffers not locked in memory (mlock refused); page faults may delay the audio thread',
      )
    if (!e.startSentinel) return
    // The watchdog device, if any, is handed to the sentinel: it feeds it on the same conditions
    // as the panel heartbeat, whatever the event loop does.
    const device = o.hardwareWatchdogs.find((w): w is WatchdogDevice => w instanceof WatchdogDevice && w.handOverable)
    const fd = device ? device.handOver() : -1
    try {
      e.startSentinel({ ...o.sentinel, panelPath: this.panel?.path ?? null, watchdogFd: fd })
      this.#sentinel = true
      this.#logLine(
        'info',
        'runtime',
        `sentinel thread started${this.panel ? `, panel heartbeat from ${this.panel.path}` : ''}${fd >= 0 ? ', feeding the watchdog device' : ''}`,
      )
      if (this.panel) this.panel.configureTimeout?.(o.panelTimeoutMs)
    } catch (err) {
      if (device) device.takeBack(fd)
      this.#logLine('error', 'runtime', `sentinel thread not started (${(err as Error).message}); the panel heartbeat comes from the event loop`)
    }
  }

  /** What the sentinel thread reports (null without one). */
  sentinelStats(): SentinelStats | null {
    return this.#sentinelStats
  }

  /** Bypass (relay drops, audio dry), stop the tick and the engine, close the hardware. Safe twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#dispatch({ type: 'shutdown', at: this.#clock.now() })
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    // Let the crossfade to dry finish and the RELAY OFF line leave before the engine stops.
    await new Promise((r) => setTimeout(r, Math.max(30, this.engine.options.crossfadeMs * 2)))
    this.#unsubPanel?.()
    try {
      this.engine.stop()
    } finally {
      this.#mon.loop.close()
      for (const w of this.#o.hardwareWatchdogs) await w.close().catch(() => {})
      this.#logLine('info', 'runtime', 'stopped')
    }
  }

  // ---- the tick ----

  #tick(): void {
    try {
      this.#tickBody()
    } catch (err) {
      // A bug in the control plane must not crash the process (the relay would drop, but the
      // console and API would go too). It is a fault: bypass until it stops happening.
      const fault = this.#mon.tick.check(err)
      if (this.#mon.tick.worthLogging) this.#logLine('error', 'runtime', `tick failed (${this.tickErrors}): ${errorText(err)}`)
      try {
        this.#dispatch({ type: 'fault', at: this.#clock.now(), ...fault })
      } catch {
        // the reducer is pure and total; nothing more to do here
      }
    }
  }

  /** Control-tick exceptions caught so far. */
  get tickErrors(): number {
    return this.#mon.tick.count
  }

  #tickBody(): void {
    const t0 = performance.now()
    const now = this.#clock.now()
    const e = this.engine
    const mon = this.#mon
    e.heartbeat()
    const faults: Array<Fault | null> = []
    faults.push(mon.loop.check(t0))
    // Time this tick was not running is time nobody listened to the panel: it is not the
    // controller's silence (its answers wait, unread, in the tty).
    if (this.#lastTickAt > 0 && t0 - this.#lastTickAt > 2 * this.#o.tickMs) this.#lastPanelHeard += t0 - this.#lastTickAt - this.#o.tickMs
    this.#lastTickAt = t0

    const p = e.poll()
    for (const ev of p.events) faults.push(mon.native.check(ev))
    if (p.doa.length > 0) this.#doa = p.doa[p.doa.length - 1]!
    if (p.meters) this.#meters = p.meters

    this.#panelFaults(now, faults)
    if (this.#sentinel && e.sentinelStats) {
      const st = e.sentinelStats()
      this.#sentinelStats = st
      if (st) {
        const sf = mon.sentinel.check(st, this.#o.sentinel.holdAfterMs ?? 100)
        // The sentinel may have lit the LED itself: make the next LED action go out again.
        if (sf.some((f) => f.cause === 'control-plane-stall')) this.panel?.forgetLed?.()
        faults.push(...sf)
      }
    }
    faults.push(this.#relayConfirmation(now))
    faults.push(mon.stall.check(now, e.blockCounter()))
    if (now - this.#lastStatsAt >= 100) {
      this.#lastStatsAt = now
      const s = e.stats()
      this.#stats = s
      faults.push(mon.overruns.check(now, s.overruns), mon.xruns.check(now, s.xruns))
      // AES67 inputs: every failover switch and a dead input are watchdog faults (docs/aes67.md, "Failover").
      if (e.netStats && e.options.backend === 'aes67') {
        this.#net = e.netStats()
        const nf = mon.netaudio.check(monotonicMs(), this.#net)
        // Logged once when it starts (the watchdog's cause field shows only the fault that moved
        // the state; a unit already DEGRADED for another cause still says why its input failed).
        // Keyed without the growing age, so a dead input is logged once, not every tick.
        const seen = new Set<string>()
        for (const f of nf) {
          const key = `${f.cause}: ${f.evidence.replace(/\d+ ms/, '')}`
          if (!this.#netFaults.has(key)) this.#logLine('warn', 'aes67', `${f.cause}: ${f.evidence}`)
          seen.add(key)
        }
        this.#netFaults = seen
        faults.push(...nf)
      }
    }
    if (now - this.#lastSlow >= 500) {
      this.#lastSlow = now
      this.#slowFaults = [
        mon.thermal.check(this.thermal.read()),
        mon.memory.check(process.memoryUsage.rss()),
        mon.mix.check(this.#mixHealth?.() ?? null),
        this.#ptpFault(),
      ].filter((f) => f !== null)
    }
    faults.push(...this.#slowFaults, ...mon.inference.check(now))

    for (const f of faults) if (f) this.#dispatch({ type: 'fault', at: now, ...f })
    this.#dispatch({ type: 'tick', at: now })

    if (this.panel && !this.#sentinel && !this.#heartbeatWithheld && now - this.#lastPanelHb >= this.#o.panelHeartbeatMs) {
      this.#lastPanelHb = now
      this.panel.heartbeat()
    }
    for (const w of this.#o.hardwareWatchdogs) w.feed(now) // a device handed to the sentinel ignores this
    if (this.panel) this.panel.setStatusLed(this.#state.name) // repeats are not sent; re-sent after the sentinel lit it
    if (this.#events.size > 0 && now - this.#lastEmit >= 100) {
      this.#lastEmit = now
      if (this.#meters) this.#emit({ type: 'meters', meters: this.#meters })
      if (this.#doa) this.#emit({ type: 'doa', doa: this.#doa })
    }
    const cost = (performance.now() - t0) * 1000
    this.tickCostUs.last = cost
    if (cost > this.tickCostUs.max) this.tickCostUs.max = cost
  }

  /** The AES67 streams' counters as the tick last read them (receive streams first; [] without AES67). */
  netStats(): readonly NetStreamStats[] {
    return this.#net
  }

  /** The PTP clock as ptp4l last answered (null: not read, or no ptpSocket in the profile). */
  ptpStatus(): PtpStatus | null {
    return this.#ptp
  }

  /** Asks ptp4l (the profile's audio.aes67.ptpSocket) for its state off the tick, at most one question
   *  at a time, and judges the last answer: not following a grandmaster is a degrade. */
  #ptpFault(): Fault | null {
    const socket = this.profile.audio.aes67?.ptpSocket
    if (!socket) return null
    if (!this.#ptpAsking) {
      this.#ptpAsking = true
      void queryPtp(socket, { timeoutMs: 1000 }).then((st) => {
        this.#ptp = st
        this.#ptpAsking = false
        // Issue 15: receive streams play by RTP timestamp while the system clock is the media clock
        // (told to the engine when that changes, not on every answer).
        const locked = st.health === 'locked' || st.health === 'master'
        if (locked !== this.#mediaClockLocked) {
          this.#mediaClockLocked = locked
          this.engine.setMediaClockLocked?.(locked)
        }
      })
    }
    const fault = this.#ptp ? this.#mon.ptp.check(this.#ptp) : null
    if (fault && fault.cause !== this.#ptpCause) this.#logLine('warn', 'aes67', `${fault.cause}: ${fault.evidence}`)
    if (!fault && this.#ptpCause) this.#logLine('info', 'aes67', `PTP ${this.#ptp?.health ?? 'read'} again`)
    this.#ptpCause = fault?.cause ?? ''
    return fault
  }

  /** The front panel's link and its controller's silence (asked STATUS? every panelQueryMs). */
  #panelFaults(now: number, faults: Array<Fault | null>): void {
    const panel = this.panel
    if (!panel) return
    const lost = this.#mon.panelLink.check(panel)
    if (lost) {
      faults.push(lost)
      this.#lastPanelHeard = now
    } else if (panel.queryStatus) {
      // A controller that says nothing is dead: ask it regularly, and count its silence.
      if (now - this.#lastPanelQuery >= this.#o.panelQueryMs) {
        this.#lastPanelQuery = now
        panel.queryStatus()
      }
      const silent = this.#mon.panelSilence.check(now, this.#lastPanelHeard, panel.path)
      this.#panelSilent = silent !== null
      faults.push(silent)
    }
  }

  /** The relay should be energised in ACTIVE/DEGRADED: unconfirmed past 1 s is a fault, and the
   *  relay is asked for again, at most once a second (a line lost on the way, a busy controller). */
  #relayConfirmation(now: number): Fault | null {
    const panel = this.panel
    if (!panel) return null
    const wantRelay = this.#state.name === 'ACTIVE' || this.#state.name === 'DEGRADED'
    const fault = this.#mon.relay.check(now, {
      expected: panel.linkUp && !this.#panelSilent && wantRelay && !this.#buttonDown,
      relay: panel.relay,
      controller: panel.version,
    })
    if (fault && now - this.#lastRelayRetry >= 1000) {
      this.#lastRelayRetry = now
      this.#relayWanted = false
      this.#act([{ type: 'relay', energise: true }])
    }
    return fault
  }

  #dispatch(ev: WatchdogEvent): void {
    if (this.#stopped) return
    const [next, actions] = transition(this.#state, ev)
    this.#state = next
    if (actions.length > 0) this.#act(actions)
  }

  #act(actions: WatchdogAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'bypass':
          this.engine.setProcessing(!a.engage)
          break
        case 'relay':
          if (a.energise) {
            // ACTIVE <-> DEGRADED re-enters a state that keeps the relay on: asking again would
            // re-energise a relay the button has just dropped (the press waits, unread, behind a
            // late tick). Explicit retries (hello, NOHB) clear #relayWanted first.
            if (this.#relayWanted) break
            this.#relayWanted = true
            if (this.#sentinel && this.panel) {
              // The sentinel sends a heartbeat and RELAY ON back to back (the controller energises
              // only on a fresh heartbeat). A state that energises never withholds the heartbeat.
              // Our own lines (a RELAY OFF from the state before) go out first: the sentinel
              // writes through its own descriptor, and its RELAY ON once overtook the BOOT
              // RELAY OFF still queued here, leaving the relay off under an ACTIVE unit.
              this.engine.sentinelWithhold?.(false)
              const panel = this.panel
              const ask = () => {
                if (this.#relayWanted && this.panel === panel) this.engine.sentinelRelayOn?.()
              }
              if (panel.afterWrites) panel.afterWrites(ask)
              else ask()
            } else {
              // The controller energises only on a fresh heartbeat: send one first.
              this.panel?.heartbeat()
              this.#lastPanelHb = this.#clock.now()
              this.relay.energise()
            }
          } else {
            this.#relayWanted = false
            this.relay.release()
          }
          break
        case 'heartbeat':
          this.#heartbeatWithheld = a.withhold
          if (this.#sentinel) this.engine.sentinelWithhold?.(a.withhold)
          break
        case 'inference':
          if (a.enabled !== this.#inferenceEnabled) {
            this.#inferenceEnabled = a.enabled
            for (const l of this.#inferenceListeners) {
              try {
                l(a.enabled)
              } catch {
                /* a service's bug must not reach the tick */
              }
            }
          }
          break
        case 'led':
          this.panel?.setStatusLed(a.state)
          break
        case 'log':
          this.log.append(a.record)
          this.#logLine(
            a.record.to === 'ACTIVE' ? 'info' : 'warn',
            'watchdog',
            `${a.record.from} -> ${a.record.to}: ${a.record.cause}${a.record.evidence ? ` (${a.record.evidence})` : ''}`,
          )
          break
        case 'notify':
          this.#emit({ type: 'transition', record: a.record })
          break
      }
    }
  }

  #onPanel(ev: PanelEvent): void {
    const now = this.#clock.now()
    if (ev.type !== 'link-error' && ev.type !== 'link-up') {
      if (this.#panelSilent) this.#logLine('info', 'panel', 'the front-panel controller answers again')
      this.#lastPanelHeard = now
      this.#panelSilent = false
    }
    switch (ev.type) {
      case 'button':
        this.#emit({ type: 'panel', event: `button ${ev.action}` })
        if (ev.action === 'DOWN') this.#buttonDown = true
        else if (ev.action === 'UP') this.#buttonDown = false
        if (ev.action === 'SHORT') this.setManualBypass(this.#state.name !== 'MANUAL_BYPASS', 'panel button')
        else if (ev.action === 'LONG') this.#dispatch({ type: 'long-press', at: now, who: 'panel button (long press)' })
        break
      case 'relay':
        this.#emit({ type: 'panel', event: `relay ${ev.state} ${ev.reason}` })
        {
          const f = this.#mon.panelTimeout.check(ev, this.#state.name === 'ACTIVE' || this.#state.name === 'DEGRADED')
          if (f) this.#dispatch({ type: 'fault', at: now, ...f })
        }
        break
      case 'hello':
        // The controller (re)started with its relay off: put it back to what the state wants.
        this.#logLine('info', 'panel', `controller ${ev.version}`)
        if (this.#sentinel) this.panel?.configureTimeout?.(this.#o.panelTimeoutMs)
        this.panel?.setStatusLed(this.#state.name)
        if (this.#state.name === 'ACTIVE' || this.#state.name === 'DEGRADED') {
          this.#relayWanted = false
          this.#act([{ type: 'relay', energise: true }])
        }
        break
      case 'error':
        this.#logLine('warn', 'panel', `controller error ${ev.code}: ${ev.text}`)
        // RELAY ON refused for want of a fresh heartbeat (e.g. the controller had just timed
        // out): ask again, with a heartbeat first, at most every 200 ms.
        if (ev.code === 'NOHB' && (this.#state.name === 'ACTIVE' || this.#state.name === 'DEGRADED') && now - this.#lastRelayRetry >= 200) {
          this.#lastRelayRetry = now
          this.#relayWanted = false
          this.#act([{ type: 'relay', energise: true }])
        }
        break
      case 'link-error':
        this.#logLine('warn', 'panel', ev.text)
        break
      case 'link-up':
        this.#logLine('info', 'panel', 'front-panel UART back')
        this.#emit({ type: 'panel', event: 'link up' })
        this.panel?.setStatusLed(this.#state.name)
        break
      case 'status':
        break
    }
  }

  /** Restart the firmware (the `reboot` command). The sound goes to bypass while it restarts. */
  async reboot(who: string): Promise<void> {
    this.#requestRestart('reboot', who)
  }

  /** Wipe presets, settings and logs (the identity stays), then restart. */
  async factoryReset(who: string): Promise<void> {
    this.#requestRestart('factory-reset', who)
  }

  #requestRestart(reason: 'reboot' | 'factory-reset', who: string): void {
    const onRestart = this.#o.onRestart
    if (!onRestart) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `${reason} is not available: nothing supervises this appliance`)
    this.#logLine('warn', 'runtime', `${reason} requested by ${who}`)
    // Let the transport send its reply before the services stop under it.
    setTimeout(() => onRestart(reason, who), 100)
  }

  // ---- services and tests ----

  /** The personal mixes (firmware/mix/) hand their streamer's counters here; checked every 500 ms
   *  (MixStreamMonitor: DEGRADED, never bypass). */
  watchMixStreams(source: (() => MixStreamHealth | null) | null): void {
    this.#mixHealth = source
  }

  /** The inference service reports its worker's health here (see firmware/watchdog/inference-health.ts). */
  reportInference(ev: InferenceHealthEvent): void {
    this.#mon.inference.onEvent(ev)
  }

  /** Whether inference and automation may run now (only in ACTIVE). */
  get inferenceEnabled(): boolean {
    return this.#inferenceEnabled
  }

  /** Feature frames since the last call, or null when the engine computes none. */
  pollFeatures(): FeatureFrames | null {
    return this.engine.pollFeatures?.() ?? null
  }

  /** Called whenever inference becomes allowed or not; returns the unsubscribe function. */
  onInferencePermission(listener: (enabled: boolean) => void): () => void {
    this.#inferenceListeners.add(listener)
    return () => this.#inferenceListeners.delete(listener)
  }

  /** The simulated board's temperature (FW_ERR_BAD_OPTION on a real board). */
  setSimTemperature(zone: string, celsius: number): void {
    if (!(this.thermal instanceof SimThermal)) throw new FirmwareError('FW_ERR_BAD_OPTION', 'temperatures can only be set on the simulated board')
    this.thermal.set(zone, celsius)
  }

  /** The raw watchdog state (for tests and the status screen). */
  get watchdogState(): Readonly<WatchdogState> {
    return this.#state
  }

  /** perf_hooks event-loop delay since start, ms. */
  eventLoopDelay(): { p50: number; p99: number; max: number } {
    return this.#mon.loop.delay()
  }

  // ---- ApplianceApi ----

  status(): ApplianceStatus {
    return {
      board: this.profile.name,
      firmwareVersion: this.#o.firmwareVersion,
      state: this.#state.name,
      cause: this.#state.cause,
      since: this.#state.since,
      uptimeS: (this.#clock.now() - this.startedAt) / 1000,
      // A silent controller's last report is history: the relay is down by its timeout, or not.
      relay: this.#panelSilent ? 'unknown' : this.relay.state,
      panelVersion: this.panel?.version ?? null,
      automationMode: this.automationMode,
      engine: this.#stats ?? this.engine.stats(),
    }
  }

  setManualBypass(on: boolean, who: string): void {
    if (this.#stopped) throw new FirmwareError('FW_ERR_ENGINE', 'the appliance is stopping; bypass is already engaged')
    this.#dispatch({ type: 'manual', at: this.#clock.now(), on, who })
    this.#changed({ what: 'bypass', target: {}, value: on, who })
  }

  faults(limit = 20): TransitionRecord[] {
    return this.log.recent(limit)
  }

  meters(): Meters | null {
    return this.#meters
  }

  doa(): DoaEstimate | null {
    return this.#doa
  }

  beams(): BeamInfo[] {
    return this.#settings.beams()
  }

  steerBeam(beam: number, azimuth: number, elevation: number, who = 'unknown'): void {
    this.engine.steerBeam(beam, azimuth, elevation)
    const b = this.#settings.steerBeam(beam, azimuth, elevation)
    if (b) this.#changed({ what: 'beam', target: { beam }, value: b, who })
  }

  setBeamAuto(beam: number, auto: boolean, who = 'unknown'): void {
    this.engine.setBeamAuto(beam, auto)
    const b = this.#settings.setBeamAuto(beam, auto)
    if (b) this.#changed({ what: 'beam', target: { beam }, value: b, who })
  }

  setInputTrim(input: number, db: number, who = 'unknown'): void {
    this.engine.setInputTrim(input, db)
    this.#settings.setInputTrim(input, db)
    this.#changed({ what: 'trim', target: { input }, value: db, who })
  }

  setOutputGain(output: number, db: number, who = 'unknown'): void {
    this.engine.setOutputGain(output, db)
    this.#settings.setOutputGain(output, db)
    this.#changed({ what: 'gain', target: { output }, value: db, who })
  }

  setEqBand(output: number, band: number, params: BandParams, who = 'unknown'): void {
    this.engine.setEq(output, band, params)
    this.#settings.setEqBand(output, band, params)
    this.#changed({ what: 'eq', target: { output, band }, value: { ...params }, who })
  }

  setCompressor(output: number, params: CompressorParams, who = 'unknown'): void {
    this.engine.setCompressor(output, params)
    this.#settings.setCompressor(output, params)
    this.#changed({ what: 'compressor', target: { output }, value: { ...params }, who })
  }

  #changed(change: SettingChange): void {
    this.#emit({ type: 'change', change })
  }

  inputTrims(): number[] {
    return this.#settings.inputTrims()
  }

  outputSettings(): Array<{ gainDb: number; eq: BandParams[]; compressor: CompressorParams }> {
    return this.#settings.outputs()
  }

  logTail(n: number): LogLine[] {
    return this.#logLines.tail(n)
  }

  subscribe(listener: (ev: ApplianceEvent) => void): () => void {
    return this.#events.subscribe(listener)
  }

  /** Sends an event to every subscriber (services use it: inference publishes recommendations). */
  publish(ev: ApplianceEvent): void {
    this.#emit(ev)
  }

  /** Adds a line to the in-memory log (services use it too). */
  logLine(level: LogLine['level'], source: string, message: string): void {
    this.#logLine(level, source, message)
  }

  #logLine(level: LogLine['level'], source: string, message: string): void {
    this.#logLines.push(level, source, message)
  }

  #emit(ev: ApplianceEvent): void {
    this.#events.publish(ev)
  }
}
