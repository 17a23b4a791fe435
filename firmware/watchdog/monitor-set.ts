// One of every monitor, as the appliance's tick runs them (firmware/runtime/appliance.ts): built
// from the monitor options and what the unit is (its tick, its thermal zones, its engine's
// fail-open limits). Every fault source is in this set; docs/watchdog.md, Causes, lists what
// each one raises.
import { InferenceMonitor, type InferenceMonitorOptions } from './inference-health.ts'
import { MixStreamMonitor } from './mix-stream.ts'
import {
  EngineStallMonitor,
  EventLoopMonitor,
  MemoryMonitor,
  OverrunRateMonitor,
  PanelSilenceMonitor,
  SentinelMonitor,
  ThermalMonitor,
  XrunRateMonitor,
} from './monitors.ts'
import { NativeEventMonitor, type NativeLimits } from './native-events.ts'
import { NetAudioMonitor, PtpMonitor } from './netaudio-monitor.ts'
import { PanelHeartbeatTimeoutMonitor, PanelLinkMonitor, RelayConfirmMonitor } from './panel-monitors.ts'
import { TickErrorMonitor } from './tick-errors.ts'

export interface MonitorOptions {
  /** Engine block counter stuck this long = stall (bypass). Defaults to 200 ms. */
  stallMs: number
  /** Event-loop lag that degrades (it never bypasses: the parameters are held). Defaults to 100 ms. */
  maxLagMs: number
  /** No line from the front-panel controller for this long (it is asked STATUS? every panelQueryMs) is the fault panel-controller-silent. Defaults to 600 ms. */
  panelSilentMs: number
  /** DSP overruns per second that bypass. Defaults to 10. */
  overrunsPerSecond: number
  /** Device xruns per second that degrade. Defaults to 2. */
  xrunsPerSecond: number
  /** Resident memory that degrades. Defaults to 1.5 GiB. */
  memoryLimitBytes: number
  inference: InferenceMonitorOptions
}

export const DEFAULT_MONITORS: MonitorOptions = {
  stallMs: 200,
  maxLagMs: 100,
  panelSilentMs: 600,
  overrunsPerSecond: 10,
  xrunsPerSecond: 2,
  memoryLimitBytes: 1536 * 1024 * 1024,
  inference: {},
}

/** What the set is watching. */
export interface MonitoredUnit {
  tickMs: number
  thermalZones: ReadonlyArray<{ name: string; warnC: number; bypassC: number }>
  native: NativeLimits
  /** AES67 inputs (docs/aes67.md): no packet for this long on the playing source is netaudio-input-dead. Defaults to 1000 ms. */
  netDeadMs?: number
}

export interface MonitorSet {
  stall: EngineStallMonitor
  loop: EventLoopMonitor
  overruns: OverrunRateMonitor
  xruns: XrunRateMonitor
  thermal: ThermalMonitor
  memory: MemoryMonitor
  inference: InferenceMonitor
  sentinel: SentinelMonitor
  panelSilence: PanelSilenceMonitor
  native: NativeEventMonitor
  panelLink: PanelLinkMonitor
  panelTimeout: PanelHeartbeatTimeoutMonitor
  relay: RelayConfirmMonitor
  tick: TickErrorMonitor
  mix: MixStreamMonitor
  netaudio: NetAudioMonitor
  ptp: PtpMonitor
}

/** The event-loop monitor holds a perf_hooks histogram: close() the set's `loop` when done. */
export function createMonitorSet(options: Partial<MonitorOptions>, unit: MonitoredUnit): MonitorSet {
  const m = { ...DEFAULT_MONITORS, ...options }
  return {
    stall: new EngineStallMonitor(m.stallMs),
    loop: new EventLoopMonitor(unit.tickMs, m.maxLagMs),
    overruns: new OverrunRateMonitor(m.overrunsPerSecond),
    xruns: new XrunRateMonitor(m.xrunsPerSecond),
    thermal: new ThermalMonitor(unit.thermalZones),
    memory: new MemoryMonitor(m.memoryLimitBytes),
    inference: new InferenceMonitor(m.inference),
    sentinel: new SentinelMonitor(),
    panelSilence: new PanelSilenceMonitor(m.panelSilentMs),
    native: new NativeEventMonitor(unit.native),
    panelLink: new PanelLinkMonitor(),
    panelTimeout: new PanelHeartbeatTimeoutMonitor(),
    relay: new RelayConfirmMonitor(1000),
    tick: new TickErrorMonitor(),
    mix: new MixStreamMonitor(),
    netaudio: new NetAudioMonitor(unit.netDeadMs ?? 1000),
    ptp: new PtpMonitor(),
  }
}
