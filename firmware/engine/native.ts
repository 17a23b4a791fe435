// Finds and loads the native engine (engine.node) once. Two places are searched, in order:
//  1. beside the running executable, `<dir of process.execPath>/addons/engine.node`: the
//     single-binary image ships the addon next to the binary;
//  2. the repository build, `addons/build/Release/engine.node`.
// FIRMWARE_ENGINE_NODE, when set, names the file and replaces both.
// process.dlopen is used rather than require so the same code works inside a single executable
// application, where require only reaches built-in modules.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FirmwareError } from '../errors.ts'
import type { NativeAes67Stream, NetStreamStats } from './aes67-options.ts'

/** Options as the native constructor takes them: already validated and defaulted by engine.ts. */
import type { RoomSpec } from './rooms.ts'

export interface NativeEngineOptions {
  backend: string
  sampleRate: number
  blockSize: number
  inputs: number
  outputs: number
  dryMap: number[]
  mics: Array<[number, number, number]>
  beams: Array<{ kind: string; azimuth: number; elevation: number; auto: boolean }>
  doa: boolean
  doaThread: boolean
  doaFrameSize: number
  doaSmoothing: number
  doaMinConfidence: number
  crossfadeMs: number
  heartbeatTimeoutMs: number
  runawayDb: number
  overrunBlocks: number
  budgetFraction: number
  startProcessed: boolean
  realtimePriority: boolean
  losslessFeatures: boolean
  inPath: string
  /** Several files as one input (columns of consecutive parts); empty for inPath alone. */
  inColumns: string[][]
  /** Input frames [inFrom, inTo) to process; inTo -1: to the end. */
  inFrom: number
  inTo: number
  outPath: string
  outFormat: string
  simSources: Array<{ azimuth: number; elevation: number; kind: number; freqHz: number; levelDb: number }>
  simNoiseDb: number
  simSeed: number
  simPaced: boolean
  recordSeconds: number
  /** The sim board's feedback loop (addons/src/dsp/room_path.h); absent: none. Output and inputs from 0. */
  simLoop?: { output: number; inputs: number[]; gainDb: number; room: RoomSpec }
  maxBlocks: number
  captureDevice: string
  playbackDevice: string
  alsaPeriods: number
  aes67Rx: NativeAes67Stream[]
  aes67RxSlots: number
  aes67TxSlots: number
  aes67Tx: NativeAes67Stream[]
}

export interface NativePoll {
  events: Array<Record<string, unknown> & { type: string; block: number }>
  doa: Array<{ t: number; azimuth: number; elevation: number; confidence: number }>
  meters: null | {
    inputPeakDb: number[]
    inputRmsDb: number[]
    outputPeakDb: number[]
    outputRmsDb: number[]
    gainReductionDb: number[]
    t: number
  }
}

export interface NativeStats {
  blocks: number
  xruns: number
  overruns: number
  droppedCommands: number
  droppedEvents: number
  droppedDoa: number
  droppedMeters: number
  droppedAnalysis: number
  processed: boolean
  mix: number
  nativeBypass: import('./types.ts').NativeBypassCause | null
  blockTimeUs: { last: number; p50: number; p99: number; max: number; mean?: number }
  blockPeriodUs: number
  running: boolean
  finished: boolean
  realtime: boolean
  /** Engine buffers mlock()ed at start, bytes. */
  lockedBytes?: number
}

/** The addon's Engine class, method for method (see addons/src/engine_binding.cc). */
export interface NativeEngine {
  start(): void
  stop(): void
  /** Sequential mode: runs blocks on the calling thread; opens the backend on first use. */
  runBlocks(blocks: number): number
  heartbeat(): void
  setProcessing(on: boolean): void
  setInputTrim(input: number, db: number): boolean
  setOutputGain(output: number, db: number): boolean
  setEq(output: number, band: number, p: { type: number; freqHz: number; gainDb: number; q: number; enabled: boolean }): boolean
  setNotch?(output: number, slot: number, freqHz: number, gainDb: number, q: number, enabled: boolean): boolean
  setShift?(output: number, hz: number): boolean
  setCompressor(output: number, p: Record<string, number | boolean>): boolean
  steerBeam(beam: number, azimuth: number, elevation: number): boolean
  setBeamAuto(beam: number, on: boolean): boolean
  setBeamformer(beam: number, kind: number): boolean
  injectDspSpin(us: number, blocks: number): void
  injectAudioStall(ms: number): void
  injectNonFinite(blocks: number): void
  startSentinel(options: {
    panelPath: string
    heartbeatMs: number
    audioStallMs: number
    holdAfterMs: number
    controlPlaneTimeoutMs: number
    watchdogFd: number
    watchdogFeedMs: number
    realtimePriority: boolean
  }): void
  sentinelWithhold(on: boolean): void
  sentinelRelayOn(): boolean
  sentinelStats(resetGaps?: boolean): import('./engine.ts').SentinelStats | null
  poll(): NativePoll
  /**
   * Drains the feature ring (inference). Optional so test doubles need not have it. `reuse`: the
   * arrays are views of one buffer the addon fills again on the next such poll (FeatureFrames).
   */
  pollFeatures?(opts?: { reuse?: boolean }): import('./types.ts').FeatureFrames
  stats(): NativeStats
  blockCounter(): number
  recording(): { frames: number; input: Float32Array[]; output: Float32Array[] }
  latencySamples(): number
  beams(): Array<{ index: number; kind: 'das' | 'mvdr'; azimuth: number; elevation: number; auto: boolean }>
  totalFrames(): number
  /** The file backend's whole-run levels per channel, after stop(); optional so test doubles need not have it. */
  fileLevels?(): import('./engine.ts').FileLevels | null
  /** The personal-mix streamer on the engine's mix tap (addons/src/mix/); firmware/mix/ drives it. */
  mixStart?(options: { frameMs: number }): void
  mixSetStreams?(streams: NativeMixStream[]): void
  mixStats?(): NativeMixStats | null
  /** Where each separated-source slot of the streamer points (issue 17); lock-free on the native side. */
  mixSetDirections?(slots: NativeStemDirection[]): void
  mixStop?(): void
  netStats(): NetStreamStats[]
  setMediaClockLocked?(locked: boolean): void
  /** Live candidates (issue 17): the DOA thread's multi-peak localiser on/off; false: no DOA thread. */
  setTracking?(on: boolean): boolean
  pollPeaks?(): NativePeakPoll
  /** The aes67 backend: a stream into a free slot while running (its slot); throws with the reason. */
  aes67Add?(dir: 'rx' | 'tx', stream: NativeAes67Stream): number
  /** Removing one in two steps that never wait: off the air, then asked until no thread reads the slot (true). */
  aes67RemoveBegin?(dir: 'rx' | 'tx', slot: number): void
  aes67RemoveFinish?(dir: 'rx' | 'tx', slot: number): boolean
}

/** The localiser frames the DOA thread pushed since the last poll (t: s of engine time), strongest peak first. */
export interface NativePeakPoll {
  frames: Array<{ t: number; azimuth: number[]; energy: number[] }>
  /** Frames dropped because the ring was full, since the engine started. */
  dropped: number
  on: boolean
}

/** One published mix as the streamer gets it: linear gains, already validated. */
export interface NativeMixStream {
  name: string
  host: string
  port: number
  ssrc: number
  bitrate: number
  profile: NativeMixProfile
}

/** One separator slot's direction (degrees); an inactive slot's stem is silent. */
export interface NativeStemDirection {
  azimuth: number
  elevation: number
  active: boolean
}

export interface NativeMixProfile {
  gains: number[]
  pans: number[]
  /** Linear gain and pan per separated-source slot (up to 4); absent: none. */
  stemGains?: number[]
  stemPans?: number[]
  bedGain: number
  compressor: { thresholdDb: number; ratio: number; kneeDb: number; attackMs: number; releaseMs: number; makeupDb: number; enabled: boolean }
}

export interface NativeMixStats {
  running: boolean
  chunks: number
  frames: number
  tapDrops: number
  gaps: number
  /** Frames the separator ran on; whether this engine has one (an array). Absent in older builds. */
  separated?: number
  separator?: boolean
  /** Streamer-thread CPU time spent separating, µs. */
  separatorCpuUs?: number
  streams: Array<{ name: string; packets: number; bytes: number; sendErrors: number; encodeErrors: number; lastErrno: number; cpuUs: number }>
}

export interface NativeModule {
  abiVersion: number
  Engine: new (options: NativeEngineOptions) => NativeEngine
  [part: string]: unknown
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Where engine.node is looked for, in order. */
export function nativeCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  // An explicit path is the only candidate: falling back silently would hide a packaging mistake.
  if (env.FIRMWARE_ENGINE_NODE) return [resolve(env.FIRMWARE_ENGINE_NODE)]
  return [join(dirname(process.execPath), 'addons', 'engine.node'), join(repoRoot, 'addons', 'build', 'Release', 'engine.node')]
}

let loaded: NativeModule | undefined

/** The native module, loaded on first use. Throws FW_ERR_ENGINE when it is missing or broken. */
export function loadNative(): NativeModule {
  if (loaded) return loaded
  const candidates = nativeCandidates()
  const file = candidates.find((p) => existsSync(p))
  if (!file) {
    throw new FirmwareError('FW_ERR_ENGINE', `the native audio engine is not built (looked for ${candidates.join(', ')}); run "npm run build:addon"`)
  }
  const mod = { exports: {} as Record<string, unknown> }
  try {
    process.dlopen(mod, file)
  } catch (err) {
    throw new FirmwareError(
      'FW_ERR_ENGINE',
      `the native audio engine at ${file} could not be loaded (${(err as Error).message}); rebuild it with "npm run build:addon"`,
      { cause: err },
    )
  }
  loaded = mod.exports as unknown as NativeModule
  return loaded
}
