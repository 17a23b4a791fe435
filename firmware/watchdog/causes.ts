// Every cause a watchdog transition can record, in one table, as firmware/errors.ts does for error
// codes. A fault cause is raised by exactly one monitor at a fixed level (thermal: either, by
// zone threshold); the other causes are the reducer's own (boot, recovery, a person, shutdown)
// or the run record's. docs/watchdog.md lists every cause with its level, what raises it and what
// clears it; tests/watchdog/causes.test.ts checks the table and the doc agree both ways.

/** What a fault asks for: 'degrade' keeps processing but stops inference and automation;
 *  'bypass' sends the audio dry (engine crossfade) and drops the relay. */
export type FaultLevel = 'degrade' | 'bypass'

export interface CauseInfo {
  /** The levels this cause is raised at. */
  levels: readonly FaultLevel[]
  /** The monitor class that raises it (firmware/watchdog/). */
  monitor: string
}

export const FAULT_CAUSES = {
  'engine-stall': { levels: ['bypass'], monitor: 'EngineStallMonitor' },
  'dsp-overrun-rate': { levels: ['bypass'], monitor: 'OverrunRateMonitor' },
  xruns: { levels: ['degrade'], monitor: 'XrunRateMonitor' },
  'event-loop-lag': { levels: ['degrade'], monitor: 'EventLoopMonitor' },
  thermal: { levels: ['degrade', 'bypass'], monitor: 'ThermalMonitor' },
  memory: { levels: ['degrade'], monitor: 'MemoryMonitor' },
  'audio-stall': { levels: ['bypass'], monitor: 'SentinelMonitor' },
  'control-plane-stall': { levels: ['degrade'], monitor: 'SentinelMonitor' },
  'control-plane-timeout': { levels: ['bypass'], monitor: 'SentinelMonitor' },
  'native-heartbeat-stale': { levels: ['bypass'], monitor: 'NativeEventMonitor' },
  'native-dsp-overrun': { levels: ['bypass'], monitor: 'NativeEventMonitor' },
  'native-non-finite-output': { levels: ['bypass'], monitor: 'NativeEventMonitor' },
  'native-runaway-output': { levels: ['bypass'], monitor: 'NativeEventMonitor' },
  'backend-error': { levels: ['bypass'], monitor: 'NativeEventMonitor' },
  'panel-link-lost': { levels: ['bypass'], monitor: 'PanelLinkMonitor' },
  'panel-controller-silent': { levels: ['bypass'], monitor: 'PanelSilenceMonitor' },
  'panel-heartbeat-timeout': { levels: ['bypass'], monitor: 'PanelHeartbeatTimeoutMonitor' },
  'relay-not-confirmed': { levels: ['degrade'], monitor: 'RelayConfirmMonitor' },
  'runtime-error': { levels: ['bypass'], monitor: 'TickErrorMonitor' },
  'inference-hung': { levels: ['degrade'], monitor: 'InferenceMonitor' },
  'inference-exit': { levels: ['degrade'], monitor: 'InferenceMonitor' },
  'inference-error': { levels: ['degrade'], monitor: 'InferenceMonitor' },
  'inference-garbage': { levels: ['degrade'], monitor: 'InferenceMonitor' },
  'inference-latency': { levels: ['degrade'], monitor: 'InferenceMonitor' },
  'mix-stream': { levels: ['degrade'], monitor: 'MixStreamMonitor' },
  'netaudio-failover': { levels: ['degrade'], monitor: 'NetAudioMonitor' },
  'netaudio-input-dead': { levels: ['degrade'], monitor: 'NetAudioMonitor' },
  'ptp-unlocked': { levels: ['degrade'], monitor: 'PtpMonitor' },
  'ptp-lost': { levels: ['degrade'], monitor: 'PtpMonitor' },
} as const satisfies Record<string, CauseInfo>

/** What a monitor's fault says happened. */
export type FaultCause = keyof typeof FAULT_CAUSES

/** Causes that are not faults: the reducer's own transitions and the run record's. */
export const STATE_CAUSES = {
  boot: 'the firmware is starting (the initial state)',
  'boot-complete': 'the engine runs and the monitors are armed',
  recovered: 'no fault for the healthy period',
  escalated: 'the automatic bypass that made escalateAfterBypasses within the window latched',
  manual: 'a person engaged or released manual bypass, or held the panel button',
  'manual-release': 'a person released manual bypass with no recent fault',
  shutdown: 'the firmware is stopping',
  'previous-run-first-start': 'recorded at start: no previous run',
  'previous-run-clean-stop': 'recorded at start: the previous run stopped cleanly',
  'previous-run-crash': 'recorded at start: the previous run died (same boot)',
  'previous-run-power-loss': 'recorded at start: the previous run ended by a power loss or reboot',
} as const

export type StateCause = keyof typeof STATE_CAUSES

/** The cause of a transition record: a fault's, or one of the reducer's or run record's own. */
export type TransitionCause = FaultCause | StateCause

export function isFaultCause(s: string): s is FaultCause {
  return Object.hasOwn(FAULT_CAUSES, s)
}

export function isTransitionCause(s: string): s is TransitionCause {
  return isFaultCause(s) || Object.hasOwn(STATE_CAUSES, s)
}
