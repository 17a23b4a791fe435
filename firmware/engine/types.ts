// The engine face's contract: what the rest of the firmware may ask of the native audio engine.
// firmware/engine/engine.ts implements it over the addon; everything else imports only these types.

/** Array geometry, as users write it: metres, x east, y north, z up. Channel k is mic k. */
export interface ArrayGeometry {
  sampleRate: number
  mics: Array<[number, number, number]>
}

export type BackendKind = 'file' | 'sim' | 'alsa'
export type BeamformerKind = 'das' | 'mvdr'

/** A synthetic source on the simulated stage (sim backend). */
export interface SimSource {
  /** Degrees, 0 along +x, counter-clockwise toward +y. */
  azimuth: number
  /** Degrees above the xy-plane. Defaults to 0. */
  elevation?: number
  /** 'tone' (sine at freqHz), 'noise' (white), 'speechlike' (modulated harmonic). */
  kind: 'tone' | 'noise' | 'speechlike'
  freqHz?: number
  /** dBFS at the array centre. */
  levelDb: number
}

export interface BandParams {
  type: 'peak' | 'lowshelf' | 'highshelf' | 'highpass' | 'lowpass'
  freqHz: number
  gainDb: number
  q: number
  enabled: boolean
}

export interface CompressorParams {
  thresholdDb: number
  ratio: number
  kneeDb: number
  attackMs: number
  releaseMs: number
  makeupDb: number
  enabled: boolean
}

/** Why the audio thread went to dry by itself (native fail-open layer). */
export type NativeBypassCause = 'heartbeat-stale' | 'dsp-overrun' | 'non-finite-output' | 'runaway-output'

/** Records the audio thread publishes through its event ring. */
export type EngineEvent =
  | { type: 'native-bypass'; cause: NativeBypassCause; block: number; detail: number }
  | { type: 'xrun'; block: number; count: number }
  | { type: 'overrun'; block: number; usedUs: number; budgetUs: number }
  | { type: 'processed'; block: number }
  | { type: 'end-of-input'; block: number }
  | { type: 'backend-error'; block: number }

export interface Meters {
  inputPeakDb: number[]
  inputRmsDb: number[]
  outputPeakDb: number[]
  outputRmsDb: number[]
  gainReductionDb: number[]
}

export interface DoaEstimate {
  /** Seconds of audio since start. */
  t: number
  azimuth: number
  elevation: number
  confidence: number
}

/**
 * Model features drained from the engine's feature ring (addons/src/features/feature_tap.h). From
 * `pollFeatures({ reuse: true })` every array is a view of one buffer the next such poll overwrites:
 * a consumer copies what it keeps past its feed (the offline analysers, issue 18 sixth round).
 */
export interface FeatureFrames {
  /** Log-mel frames of the input mix at 16 kHz, 40 floats each, 10 ms apart, packed. */
  logMel: Float32Array
  /** Seconds of audio at the first log-mel frame; -1 when there is none. */
  logMelT: number
  /** 16 kHz windows of the input mix for the VAD, 512 samples each (32 ms), packed. */
  vad: Float32Array
  vadT: number
  /** Per-output band spectra (32 mean dB + 32 spread dB), about every 0.5 s per output. */
  spectra: Array<{ output: number; t: number; mean: Float32Array; spread: Float32Array }>
  /** Per-output howl candidates (addons/src/features/howl_detector.h, HOWL_FLOATS floats each), on each 21 ms frame that has any. */
  howl?: Array<{ output: number; t: number; candidates: Float32Array }>
  /** Records dropped so far because the ring was full. */
  dropped: number
}

export interface EngineStats {
  blocks: number
  xruns: number
  overruns: number
  droppedCommands: number
  droppedEvents: number
  /** True while the output is (fading toward) the processed signal. */
  processed: boolean
  /** mean: the chain's own work per block (wall clock), absent from stand-in engines. */
  blockTimeUs: { last: number; p50: number; p99: number; max: number; mean?: number }
  blockPeriodUs: number
}
