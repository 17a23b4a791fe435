// Shared fixtures for the DSP checks: the shipped arrays and a few signal measurements.
import { loadProfile } from '../../firmware/board/profile.ts'
import type { ArrayGeometry } from '../../firmware/engine/types.ts'

const must = (g: ArrayGeometry | undefined): ArrayGeometry => {
  if (!g) throw new Error('profile has no array')
  return g
}

/** The sim board's 8-mic ring (5 cm radius) and the rack unit's 16-mic ring (10 cm radius). */
export const ring8 = (): ArrayGeometry => must(loadProfile('sim').array)
export const ring16 = (): ArrayGeometry => must(loadProfile('jetson-agx-rack').array)

/** 8 mics on the x axis, 3 cm apart, centred on the origin. */
export const line8: ArrayGeometry = {
  sampleRate: 48000,
  mics: Array.from({ length: 8 }, (_, k) => [(k - 3.5) * 0.03, 0, 0] as [number, number, number]),
}

/** Mean square from sample `from` on. */
export function power(x: Float32Array, from = 0): number {
  let s = 0
  for (let i = from; i < x.length; i++) s += x[i]! * x[i]!
  return s / Math.max(1, x.length - from)
}

export const db = (p: number): number => 10 * Math.log10(p)

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Smallest angle between two azimuths, degrees. */
export const angleDiff = (a: number, b: number): number => Math.abs(((a - b + 540) % 360) - 180)

/** Sum of channel sets, sample by sample (mixing sources recorded separately). */
export function mix(...parts: Float32Array[][]): Float32Array[] {
  return parts[0]!.map((_, c) => {
    const out = new Float32Array(parts[0]![c]!.length)
    for (const p of parts) {
      const ch = p[c]!
      for (let i = 0; i < out.length; i++) out[i]! += ch[i]!
    }
    return out
  })
}

/** Largest |x[n] - x[n-1]| over [from, to). */
export function maxStep(x: Float32Array, from = 1, to = x.length): number {
  let m = 0
  for (let i = Math.max(1, from); i < to; i++) m = Math.max(m, Math.abs(x[i]! - x[i - 1]!))
  return m
}

export function sine(freqHz: number, amp: number, n: number, sr = 48000): Float32Array {
  const x = new Float32Array(n)
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / sr)
  return x
}

/**
 * How far the largest sample-to-sample step just after a change at `at` exceeds the signal's
 * own largest step when settled (the last `settle` samples before the change, or of the whole
 * signal): <= 1 means no click.
 */
export function clickRatio(y: Float32Array, at: number, settle = 4800): number {
  const n = y.length
  const own = Math.max(maxStep(y, n - settle, n), maxStep(y, at - settle, at))
  return maxStep(y, at - 64, at + settle) / own
}
