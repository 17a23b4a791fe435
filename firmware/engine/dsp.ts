// The pure DSP modules of the native engine, one call at a time: for tests, benchmarks and
// offline tools (the audio thread runs the same C++ classes through the engine, not this file).
// Every option is validated and defaulted here; the addon only re-checks types.
import { FirmwareError } from '../errors.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'
import { validateGeometry } from './geometry.ts'
import { loadNative } from './native.ts'
import type { ArrayGeometry, BandParams, BeamformerKind, CompressorParams, DoaEstimate, SimSource } from './types.ts'

export interface BiquadCoeffs {
  b0: number
  b1: number
  b2: number
  a1: number
  a2: number
}

/** An EQ parameter change applied at the first block boundary at or after sample `at`. */
export interface EqChange {
  at: number
  band: number
  params: BandParams
}

/** How the array's mics are laid out, which decides what DOA can resolve. */
export interface ArrayLayout {
  shape: 'single' | 'linear' | 'planar' | 'volumetric'
  /** Linear arrays: unit vector of the axis, from mic 0 toward the last mic. */
  axis: [number, number, number]
  /** Planar arrays parallel to the xy-plane (elevation sign unresolvable). */
  horizontal: boolean
  /** Largest mic distance from the origin, metres. */
  radius: number
  /** Largest distance between two mics, metres. */
  aperture: number
}

interface NativeDsp {
  designBiquad(p: BandParams, sr: number): BiquadCoeffs
  biquadMagnitudeDb(p: BandParams, sr: number, freqs: number[]): number[]
  equalize(sr: number, bands: BandParams[], x: Float32Array, changes: EqChange[], block: number): Float32Array
  compress(p: CompressorParams, sr: number, x: Float32Array, block: number): Float32Array
  beamform(g: ArrayGeometry, kind: string, az: number, el: number, ch: Float32Array[], block: number, changes?: SteerChange[]): Float32Array
  beamformTrained(g: ArrayGeometry, kind: string, az: number, el: number, train: Float32Array[], block: number, inputs: Float32Array[][]): Float32Array[]
  beamformerLatency(g: ArrayGeometry, kind: string): number
  doa(g: ArrayGeometry, ch: Float32Array[], frameSize: number, hop: number): DoaEstimate[]
  simulateStage(
    g: ArrayGeometry,
    sources: Array<{ azimuth: number; elevation: number; kind: number; freqHz: number; levelDb: number }>,
    noiseDb: number,
    seed: number,
    frames: number,
    block: number,
  ): Float32Array[]
  describeLayout(g: ArrayGeometry): ArrayLayout
}

function native(): NativeDsp {
  const d = loadNative().dsp as NativeDsp | undefined
  if (!d) throw new FirmwareError('FW_ERR_ENGINE', 'the native engine has no DSP module; rebuild it with "npm run build:addon"')
  return d
}

const bad = (msg: string): never => {
  throw new FirmwareError('FW_ERR_BAD_OPTION', msg)
}

const OPTION = checker('FW_ERR_BAD_OPTION', (field, complaint) => `${field} ${complaint}`)

function finite(v: unknown, name: string, min = -Infinity, max = Infinity): number {
  return numberIn(OPTION, v, name, { min, max })
}

function sampleRate(sr: unknown): number {
  return finite(sr, 'sampleRate', 8000, 384000)
}

function block(b: unknown): number {
  return wholeNumberIn(OPTION, b, 'block', 1, 65536)
}

const BAND_TYPES = ['peak', 'lowshelf', 'highshelf', 'highpass', 'lowpass'] as const

/** A band with defaults applied (peak, 1 kHz, 0 dB, Q 0.7071, enabled), checked against sampleRate. */
export function resolveBand(p: Partial<BandParams>, sr: number, name = 'band'): BandParams {
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: the documented default Q is 0.7071 as written
  const b: BandParams = { type: 'peak', freqHz: 1000, gainDb: 0, q: 0.7071, enabled: true, ...p }
  if (!BAND_TYPES.includes(b.type)) bad(`${name}.type must be one of ${BAND_TYPES.join(', ')}, got ${JSON.stringify(b.type)}`)
  finite(b.freqHz, `${name}.freqHz`, 10, 0.49 * sr)
  finite(b.gainDb, `${name}.gainDb`, -48, 48)
  finite(b.q, `${name}.q`, 0.05, 50)
  if (typeof b.enabled !== 'boolean') bad(`${name}.enabled must be true or false`)
  return b
}

/** Compressor settings with defaults (-20 dB, 4:1, 6 dB knee, 5/100 ms, 0 dB makeup, enabled). */
export function resolveCompressor(p: Partial<CompressorParams>): CompressorParams {
  const c: CompressorParams = { thresholdDb: -20, ratio: 4, kneeDb: 6, attackMs: 5, releaseMs: 100, makeupDb: 0, enabled: true, ...p }
  finite(c.thresholdDb, 'compressor.thresholdDb', -80, 0)
  finite(c.ratio, 'compressor.ratio', 1, 1000)
  finite(c.kneeDb, 'compressor.kneeDb', 0, 40)
  finite(c.attackMs, 'compressor.attackMs', 0, 1000)
  finite(c.releaseMs, 'compressor.releaseMs', 0, 10000)
  finite(c.makeupDb, 'compressor.makeupDb', -24, 40)
  if (typeof c.enabled !== 'boolean') bad('compressor.enabled must be true or false')
  return c
}

function kind(k: unknown): BeamformerKind {
  if (k !== 'das' && k !== 'mvdr') bad(`beamformer must be 'das' or 'mvdr', got ${JSON.stringify(k)}`)
  return k as BeamformerKind
}

function channelsFor(g: ArrayGeometry, ch: Float32Array[], name = 'channels'): Float32Array[] {
  if (!Array.isArray(ch) || ch.length !== g.mics.length) {
    throw new FirmwareError(
      'FW_ERR_CHANNELS',
      `${name}: the array has ${g.mics.length} mics but ${Array.isArray(ch) ? ch.length : 'no'} channels were given; give one Float32Array per mic`,
    )
  }
  const len = ch[0]?.length ?? 0
  ch.forEach((c, k) => {
    if (!(c instanceof Float32Array)) bad(`${name}[${k}] must be a Float32Array`)
    if (c.length !== len) bad(`${name}[${k}] has ${c.length} samples, channel 0 has ${len}; all must match`)
  })
  return ch
}

/** RBJ cookbook coefficients (a0 normalised to 1). */
export function designBiquad(p: Partial<BandParams>, sr: number): BiquadCoeffs {
  const s = sampleRate(sr)
  return native().designBiquad(resolveBand(p, s), s)
}

/** |H| in dB of the designed biquad at each frequency. */
export function biquadMagnitudeDb(p: Partial<BandParams>, sr: number, freqs: number[]): number[] {
  const s = sampleRate(sr)
  freqs.forEach((f, k) => {
    finite(f, `freqs[${k}]`, 0, s / 2)
  })
  return native().biquadMagnitudeDb(resolveBand(p, s), s, freqs)
}

/** Runs the parametric EQ over x (a copy), bands settled at the start, changes at block boundaries. */
export function equalize(sr: number, bands: Array<Partial<BandParams>>, x: Float32Array, changes: EqChange[] = [], blockSize = 64): Float32Array {
  const s = sampleRate(sr)
  if (bands.length < 1 || bands.length > 16) bad(`bands: 1..16 bands, got ${bands.length}`)
  const resolved = bands.map((b, k) => resolveBand(b, s, `bands[${k}]`))
  const ch = changes.map((c, k) => {
    if (!Number.isInteger(c.band) || c.band < 0 || c.band >= bands.length) bad(`changes[${k}].band must be 0..${bands.length - 1}`)
    return { at: finite(c.at, `changes[${k}].at`, 0), band: c.band, params: resolveBand(c.params, s, `changes[${k}].params`) }
  })
  return native().equalize(s, resolved, x, ch, block(blockSize))
}

/** Runs the compressor over x (a copy), starting from rest. */
export function compress(p: Partial<CompressorParams>, sr: number, x: Float32Array, blockSize = 64): Float32Array {
  return native().compress(resolveCompressor(p), sampleRate(sr), x, block(blockSize))
}

/** A steering change applied at the first block boundary at or after sample `at`. */
export interface SteerChange {
  at: number
  azimuth: number
  elevation: number
}

/**
 * One beam over recorded channels (latency included: see beamformerLatency). It starts aimed at
 * azDeg/elDeg; `changes` re-steer it mid-signal through its own smoothing.
 */
export function beamform(
  geometry: ArrayGeometry,
  bf: BeamformerKind,
  azDeg: number,
  elDeg: number,
  channels: Float32Array[],
  blockSize = 64,
  changes: SteerChange[] = [],
): Float32Array {
  const g = validateGeometry(geometry)
  const ch = changes.map((c, k) => ({
    at: finite(c.at, `changes[${k}].at`, 0),
    azimuth: finite(c.azimuth, `changes[${k}].azimuth`),
    elevation: finite(c.elevation, `changes[${k}].elevation`, -90, 90),
  }))
  return native().beamform(g, kind(bf), finite(azDeg, 'azimuth'), finite(elDeg, 'elevation', -90, 90), channelsFor(g, channels), block(blockSize), ch)
}

/**
 * Lets the beamformer learn on `train`, freezes its weights, then runs each of `inputs` from a
 * fresh stream with those weights. With fixed weights the beamformer is linear, so each part of
 * a mixture (target, interferer, noise) can be measured on its own.
 */
export function beamformTrained(
  geometry: ArrayGeometry,
  bf: BeamformerKind,
  azDeg: number,
  elDeg: number,
  train: Float32Array[],
  inputs: Float32Array[][],
  blockSize = 64,
): Float32Array[] {
  const g = validateGeometry(geometry)
  inputs.forEach((i, k) => {
    channelsFor(g, i, `inputs[${k}]`)
  })
  return native().beamformTrained(
    g,
    kind(bf),
    finite(azDeg, 'azimuth'),
    finite(elDeg, 'elevation', -90, 90),
    channelsFor(g, train, 'train'),
    block(blockSize),
    inputs,
  )
}

/** Samples by which a beam's output lags a plane wave from the steered direction at the origin. */
export function beamformerLatency(geometry: ArrayGeometry, bf: BeamformerKind): number {
  return native().beamformerLatency(validateGeometry(geometry), kind(bf))
}

/**
 * SRP-PHAT DOA track: one estimate per hop, t at the frame centre; silence omitted.
 * `hop` defaults to frameSize / 2; frameSize halves the cost per second (large arrays).
 */
export function doa(geometry: ArrayGeometry, channels: Float32Array[], frameSize = 1024, hop = frameSize / 2): DoaEstimate[] {
  const g = validateGeometry(geometry)
  if (!Number.isInteger(frameSize) || frameSize < 64 || frameSize > 65536 || (frameSize & (frameSize - 1)) !== 0) {
    bad(`frameSize must be a power of two 64..65536, got ${JSON.stringify(frameSize)}`)
  }
  wholeNumberIn(OPTION, hop, 'hop', 1, frameSize)
  return native().doa(g, channelsFor(g, channels), frameSize, hop)
}

const KINDS = { tone: 0, noise: 1, speechlike: 2 } as const

/** The synthetic stage: plane-wave sources plus per-mic noise, deterministic for a seed. */
export function simulateStage(geometry: ArrayGeometry, sources: SimSource[], noiseDb: number, seed: number, frames: number, blockSize = 256): Float32Array[] {
  const g = validateGeometry(geometry)
  const src = sources.map((s, k) => {
    if (!(s.kind in KINDS)) bad(`sources[${k}].kind must be tone, noise or speechlike, got ${JSON.stringify(s.kind)}`)
    return {
      azimuth: finite(s.azimuth, `sources[${k}].azimuth`),
      elevation: finite(s.elevation ?? 0, `sources[${k}].elevation`, -90, 90),
      kind: KINDS[s.kind],
      freqHz: finite(s.freqHz ?? (s.kind === 'speechlike' ? 180 : 1000), `sources[${k}].freqHz`, 20, g.sampleRate / 2),
      levelDb: finite(s.levelDb, `sources[${k}].levelDb`, -200, 20),
    }
  })
  wholeNumberIn(OPTION, seed, 'seed', 0, 0xffffffff)
  wholeNumberIn(OPTION, frames, 'frames', 0, 1e9)
  return native().simulateStage(g, src, finite(noiseDb, 'noiseDb', -400, 20), seed, frames, block(blockSize))
}

/** The array's layout as the DOA estimator sees it. */
export function describeLayout(geometry: ArrayGeometry): ArrayLayout {
  return native().describeLayout(validateGeometry(geometry))
}
