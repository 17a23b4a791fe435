// Test recordings for the offline tool: a plane wave from a known direction hitting an array, made
// here in TypeScript (windowed-sinc fractional delays) so the engine is checked against signals it
// did not make. Deterministic: seeded noise.
import { rng } from '../helpers/rng.ts'

export { rng }

export const SPEED_OF_SOUND = 343

export function circularArray(n: number, radius: number): Array<[number, number, number]> {
  return Array.from({ length: n }, (_, k) => {
    const a = (2 * Math.PI * k) / n
    return [round(radius * Math.cos(a)), round(radius * Math.sin(a)), 0] as [number, number, number]
  })
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6
}

/** Gaussian noise, unit variance. */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
  }
}

export interface PlaneWaveOptions {
  mics: Array<[number, number, number]>
  sampleRate: number
  seconds: number
  /** Degrees, 0 along +x, counter-clockwise. */
  azimuth: number
  elevation?: number
  /** RMS of the source at the array centre (linear). Defaults to 0.1. */
  level?: number
  /** RMS of uncorrelated noise per mic (linear). Defaults to 0. */
  noise?: number
  seed?: number
}

/** Interleaved mic signals: white noise from one direction plus uncorrelated sensor noise. */
export function planeWave(o: PlaneWaveOptions): Float32Array {
  const n = o.mics.length
  const frames = Math.round(o.seconds * o.sampleRate)
  const el = ((o.elevation ?? 0) * Math.PI) / 180
  const az = (o.azimuth * Math.PI) / 180
  const u = [Math.cos(el) * Math.cos(az), Math.cos(el) * Math.sin(az), Math.sin(el)]
  const half = 24
  const pad = 64
  const g = gaussian(rng(o.seed ?? 1))
  const level = o.level ?? 0.1
  const src = new Float64Array(frames + 2 * pad)
  for (let i = 0; i < src.length; i++) src[i] = g() * level
  const out = new Float32Array(frames * n)
  const gn = gaussian(rng((o.seed ?? 1) + 1000))
  for (let k = 0; k < n; k++) {
    const p = o.mics[k]!
    // A mic nearer the source hears it earlier: delay relative to the centre is -(u.p)/c.
    const delay = (-(u[0]! * p[0] + u[1]! * p[1] + u[2]! * p[2]) / SPEED_OF_SOUND) * o.sampleRate
    const whole = Math.floor(delay)
    const frac = delay - whole
    const taps = new Float64Array(2 * half)
    for (let q = -half + 1; q <= half; q++) {
      const x = q - frac
      const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / (half + 1))
      taps[q + half - 1] = (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x)) * w
    }
    for (let i = 0; i < frames; i++) {
      let acc = 0
      const base = i + pad - whole
      for (let q = -half + 1; q <= half; q++) acc += taps[q + half - 1]! * src[base - q]!
      out[i * n + k] = acc + (o.noise ? gn() * o.noise : 0)
    }
  }
  return out
}

/** Per-channel RMS of an interleaved buffer. */
export function channelRms(data: Float32Array | Float64Array, channels: number): number[] {
  const sum = new Float64Array(channels)
  const frames = data.length / channels
  for (let i = 0; i < frames; i++) for (let k = 0; k < channels; k++) sum[k]! += data[i * channels + k]! ** 2
  return Array.from(sum, (s) => Math.sqrt(s / frames))
}
