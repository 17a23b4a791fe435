// The appliance as the transports see it. firmware/runtime/appliance.ts implements this over the
// engine, the watchdog, the panel and the hardware; the command registry (firmware/commands/) is
// written against this interface only, and every transport (console, API, OSC) goes through the
// registry. Optional parts are filled in as their subsystems start (inference, store).
import type { BoardProfile } from '../board/profile.ts'
import type { BandParams, BeamformerKind, CompressorParams, DoaEstimate, EngineStats, Meters } from '../engine/types.ts'

// The watchdog owns its states and transition records; they are part of what every part sees.
import type { TransitionRecord, WatchdogStateName } from '../watchdog/types.ts'

export type { TransitionRecord, WatchdogStateName }

export interface ApplianceStatus {
  board: string
  firmwareVersion: string
  state: WatchdogStateName
  cause: string
  since: number
  uptimeS: number
  relay: 'processed' | 'bypass' | 'unknown'
  panelVersion: string | null
  automationMode: 'advisory' | 'supervised' | 'auto'
  engine: EngineStats
}

export interface BeamInfo {
  index: number
  kind: BeamformerKind
  azimuth: number
  elevation: number
  auto: boolean
}

/** Events pushed to subscribers (console machine mode, API event stream). */
export type ApplianceEvent =
  | { type: 'transition'; record: TransitionRecord }
  | { type: 'meters'; meters: Meters }
  | { type: 'doa'; doa: DoaEstimate }
  | { type: 'recommendation'; data: unknown }
  | { type: 'panel'; event: string }
  /** A setting changed (from any transport or automation); `value` is the new value, as a GET would show it. */
  | { type: 'change'; change: SettingChange }
  /** Live inference beside the recommendations: crowd-state classes (rate-bounded), alarms, what an
   *  engineer did with each recommendation, feedback howls and notches, speech intervals. Telemetry and the
   *  API streams (type `inference`, the FOH page) publish these; the console's EV lines skip them. */
  | { type: 'inference'; report: InferenceReport }

export type InferenceReport =
  /** The crowd state: on each change of label, else at most once per `classEveryS`. */
  | { kind: 'class'; label: string; confidence: number; t: number }
  /** An alarm class (feedback) seen with at least the model's minimum confidence; once per onset. */
  | { kind: 'alarm'; alarm: string; confidence: number; t: number }
  | { kind: 'decision'; decision: 'accepted' | 'rejected' | 'undone' | 'rolled-back'; id: number | null; output: number | null; who: string }
  /** A feedback alarm from the engine's howl detector, as the suppressor got it (one per alarm; the
   *  detector raises one per howl onset). `t` is the feature stream's time, s; level dBFS. */
  | { kind: 'howl'; output: number; hz: number; levelDb: number; growthDbPerS: number; reason: 'growing' | 'ringing'; t: number }
  /** The feedback notches in place on one output, after the suppressor changed them (placed, deepened,
   *  released, rolled back); at most one per output per `notchesEveryMs`. `gainDb` is negative (the cut). */
  | { kind: 'notches'; output: number; notches: Array<{ hz: number; gainDb: number; q: number }> }
  /** A speech interval from the live VAD, published when the smoother closes it (live inference reports
   *  intervals, not onsets); `start`/`end` in s on the VAD's clock (time since live inference started). */
  | { kind: 'vad'; start: number; end: number }
  /** Tracked sources (issue 17, firmware/mix/live.ts): on each change of the set of confirmed ids, else at most
   *  4 a second while there are tracks; [] once when tracking stops. Azimuth in degrees; `t` engine time, s. */
  | { kind: 'tracks'; tracks: Array<{ id: number; azimuth: number; confirmed: boolean }>; t: number }

/** What changed, where, to what, and who changed it. One shape for every transport's change notifications. */
export interface SettingChange {
  /** gain: {output}; trim: {input}; eq: {output, band}; compressor: {output}; beam: {beam};
   *  mode: automation mode; preset: {name, action}; osc: OSC settings; telemetry: telemetry settings; bypass: manual bypass;
   *  feedback: {output}, the feedback frequency shift (Hz). */
  what: 'gain' | 'trim' | 'eq' | 'compressor' | 'beam' | 'mode' | 'preset' | 'osc' | 'telemetry' | 'bypass' | 'feedback'
  target: Record<string, number | string>
  value: unknown
  who: string
}

export interface LogLine {
  at: number
  level: 'debug' | 'info' | 'warn' | 'error'
  source: string
  message: string
}

export interface ApplianceApi {
  readonly profile: BoardProfile
  status(): ApplianceStatus
  /** Manual bypass: latches until a person releases it. `who` names the person or transport. */
  setManualBypass(on: boolean, who: string): void
  faults(limit?: number): TransitionRecord[]
  meters(): Meters | null
  doa(): DoaEstimate | null
  beams(): BeamInfo[]
  // Setters: `who` names the person, transport or automation that asked; each emits a 'change' event.
  steerBeam(beam: number, azimuth: number, elevation: number, who?: string): void
  setBeamAuto(beam: number, auto: boolean, who?: string): void
  setInputTrim(input: number, db: number, who?: string): void
  setOutputGain(output: number, db: number, who?: string): void
  setEqBand(output: number, band: number, params: BandParams, who?: string): void
  setCompressor(output: number, params: CompressorParams, who?: string): void
  /** Current input trims in dB, input 0 first. */
  inputTrims(): number[]
  /** Current per-output settings, for presets and status. */
  outputSettings(): Array<{ gainDb: number; eq: BandParams[]; compressor: CompressorParams }>
  logTail(n: number): LogLine[]
  /** Adds a line to the appliance log (services report there, e.g. the API's restarts). Optional. */
  logLine?(level: LogLine['level'], source: string, message: string): void
  /** Sends an event to every subscriber (services publish recommendations and setting changes). Optional. */
  publish?(ev: ApplianceEvent): void
  /** Subscribe to events; returns the unsubscribe function. */
  subscribe(listener: (ev: ApplianceEvent) => void): () => void
  /** Restarts the firmware (e.g. exit for systemd to restart). Optional: `reboot` says "not available" without it. */
  reboot?(who: string): Promise<void>
  /** Wipes presets and settings (keeps the identity), then restarts. Optional, like reboot. */
  factoryReset?(who: string): Promise<void>
}
