// What the feedback benchmarks share (tests/bench/feedback.bench.ts, feedback-gain.bench.ts): the
// held-out programme, line levels, the log-spectral distance, and the one stability check with its
// bisection and upward scan that every added-stable-gain figure is measured with (sixth round: the
// level criterion and a probe after the programme, which a loop saturated by a howl cannot pass).
import type { Notch } from '../../firmware/inference/feedback.ts'
import type { AfcSettings, LoopOptions, LoopResult } from '../../firmware/process/feedback-loop.ts'
import { ROOMS, rmsDb } from '../../firmware/process/feedback-loop.ts'
import { FLITE_VOICES, INSTRUMENTS, renderMusic, renderSpeech, SOUNDFONTS, TEXTS } from '../feedback/programme.ts'

export interface Programme {
  family: string
  x: Float32Array
}

/** The texts' sentences shuffled by a seed: a different utterance for each piece. */
export function shuffledText(seed: number): string {
  const parts = TEXTS.flatMap((t) => t.split(/(?<=[.,])\s+/))
  let s = seed
  const out: string[] = []
  for (let i = 0; i < parts.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    out.push(parts[s % parts.length]!)
  }
  return out.join(' ')
}

/** `pieces` music pieces of musicS seconds (fluidsynth, the soundfonts in turn) and `speechPieces` speech pieces (flite voices, festival). */
export async function programmes(dir: string, musicS: number, pieces: number, speechPieces: number): Promise<Programme[]> {
  const out: Programme[] = []
  for (let i = 0; i < pieces; i++) {
    const sf = SOUNDFONTS[i % SOUNDFONTS.length]!
    const progs = [INSTRUMENTS[i % 10]!, INSTRUMENTS[(i * 3 + 1) % 10]!, INSTRUMENTS[(i * 7 + 2) % 10]!]
    const family = `music ${sf.split('/').pop()!.replace(/\..*/, '')}`
    out.push({ family, x: await renderMusic(dir, { seconds: musicS, seed: 100 + i, programs: progs, soundfont: sf }) })
  }
  const voices = [...FLITE_VOICES, 'festival']
  for (let i = 0; i < speechPieces; i++) {
    const v = voices[i % voices.length]!
    out.push({ family: v === 'festival' ? 'speech festival' : 'speech flite', x: await renderSpeech(dir, shuffledText(i + 1), v) })
  }
  return out
}

/** Sine-peak level (dB) at hz of 2048-sample Hann frames every `hop` samples (1024: the detector's frames). */
export function lineLevels(x: Float32Array, hz: number, hop = 1024): number[] {
  const out: number[] = []
  const w = (2 * Math.PI * hz) / 48000
  for (let s = 0; s + 2048 <= x.length; s += hop) {
    let re = 0
    let im = 0
    for (let i = 0; i < 2048; i++) {
      const v = x[s + i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / 2048))
      re += v * Math.cos(w * i)
      im -= v * Math.sin(w * i)
    }
    out.push(20 * Math.log10((Math.hypot(re, im) * 4) / 2048 + 1e-12))
  }
  return out
}

export function quantile(v: number[], q: number): number {
  if (v.length === 0) return Number.NaN
  const s = [...v].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

/** Mean log-spectral distance (dB) between two signals, 2048-point frames, 100 Hz to 8 kHz. */
export function logSpectralDistance(a: Float32Array, b: Float32Array): number {
  const bins: number[] = []
  for (let f = 100; f <= 8000; f *= 2 ** (1 / 12)) bins.push(f)
  let sum = 0
  let n = 0
  for (let s = 0; s + 2048 <= Math.min(a.length, b.length); s += 48000) {
    let d = 0
    for (const f of bins) {
      const la = lineLevels(a.subarray(s, s + 2048), f)[0]!
      const lb = lineLevels(b.subarray(s, s + 2048), f)[0]!
      d += (la - lb) ** 2
    }
    sum += Math.sqrt(d / bins.length)
    n++
  }
  return sum / Math.max(1, n)
}

/** Runs the loop (with or without the classifier fused). */
export type LoopRunner = (x: Float32Array, o: LoopOptions) => Promise<LoopResult>

/** What is on in a stability case: the room (a name from ROOMS), the notch suppressor, the frequency shift, the canceller. */
export interface GainCase {
  room: string
  suppress: boolean
  shiftHz?: number
  /** The adaptive feedback canceller (true: AFC_DEFAULTS). */
  afc?: boolean | Partial<AfcSettings>
  /** The suppressor's notch count (NotchLimits.maxNotches); its default when not given. */
  maxNotches?: number
  /** Fixed notches held from the start (a ring-out's; LoopOptions.notches). */
  notches?: Notch[]
}

/** What each stability criterion said of one run (sixth round). */
export interface Verdict {
  /** The old criterion (rounds 3-5): the loudspeaker's RMS over the programme's last 2 s within 3 dB of the programme times the gain. */
  level: boolean
  /**
   * The probes: a 50 ms noise burst then silence, (a) after the programme in the same run (the
   * suppressor still live), and (b) into the loop alone with the notches that were in place when
   * the programme ended frozen (no suppressor: nothing can be placed to rescue it). Each must
   * decay by at least PROBE_DECAY_DB from 0.3-0.8 s to 1.4-1.9 s after the burst. A loop held in
   * saturation by a howl does not decay, whatever its level.
   */
  probe: boolean
  /** Sixth round's check: the level criterion and both probes. */
  stable: boolean
  /** Decay over the same-run tail and over the frozen probe, dB (positive: it decayed). */
  tailDecayDb: number
  frozenDecayDb: number
  /** Notch changes the suppressor made in the same-run tail. */
  tailNotches: number
}

/** Seconds of probe tail. */
export const PROBE_TAIL_S = 2
/** The probe must decay this much (dB) for the loop to count as stable. */
export const PROBE_DECAY_DB = 3

/** 50 ms of white noise at -30 dBFS RMS (seeded), then silence: PROBE_TAIL_S seconds. */
function probeBurst(): Float32Array {
  const y = new Float32Array(PROBE_TAIL_S * 48000)
  let s = 7
  const a = 10 ** (-30 / 20) * Math.sqrt(12)
  for (let i = 0; i < 2400; i++) {
    s = (s * 16807) % 2147483647
    y[i] = a * (s / 2147483647 - 0.5)
  }
  return y
}
const PROBE = probeBurst()

const tails = new WeakMap<Float32Array, Float32Array>()
/** x followed by the probe. */
function withTail(x: Float32Array): Float32Array {
  let y = tails.get(x)
  if (y) return y
  y = new Float32Array(x.length + PROBE.length)
  y.set(x)
  y.set(PROBE, x.length)
  tails.set(x, y)
  return y
}

/** The notches in place at time t: those held from the start, then every change up to t, slot by slot. */
function notchesAt(held: Notch[], changes: Array<Notch & { t: number }>, t: number): Notch[] {
  const slots = new Map<number, Notch>()
  for (const n of held) slots.set(n.slot, n)
  for (const c of changes) if (c.t <= t) slots.set(c.slot, { output: c.output, slot: c.slot, hz: c.hz, gainDb: c.gainDb, q: c.q, enabled: c.enabled })
  return [...slots.values()].filter((n) => n.enabled)
}

const decay = (y: Float32Array, from: number) => rmsDb(y, from + 0.3, from + 0.8) - rmsDb(y, from + 1.4, from + 1.9)

const verdicts = new WeakMap<Float32Array, Map<string, Verdict>>()

/** Runs the loop (programme + probe, then the frozen probe) and reads every criterion; cached per programme, case and gain. */
export async function check(run: LoopRunner, x: Float32Array, c: GainCase, g: number): Promise<Verdict> {
  const key = JSON.stringify([c, g])
  const cache = verdicts.get(x) ?? new Map<string, Verdict>()
  verdicts.set(x, cache)
  const hit = cache.get(key)
  if (hit) return hit
  const base = { gainDb: g, room: ROOMS[c.room]!, shiftHz: c.shiftHz ?? 0, afc: c.afc }
  const r = await run(withTail(x), {
    ...base,
    suppress: c.suppress,
    ...(c.maxNotches ? { limits: { maxNotches: c.maxNotches } } : {}),
    ...(c.notches ? { notches: c.notches } : {}),
  })
  const n = x.length / 48000
  const level = rmsDb(r.speaker, n - 2, n) <= rmsDb(x, n - 2, n) + g + 3
  const tailDecayDb = decay(r.speaker, n)
  const tailNotches = r.notchChanges.filter((k) => k.t > n).length
  // With the canceller the frozen probe would start an unconverged one: the same-run tail alone.
  const frozenDecayDb = c.afc ? Number.NaN : decay((await run(PROBE, { ...base, notches: notchesAt(c.notches ?? [], r.notchChanges, n) })).speaker, 0)
  const probe = tailDecayDb >= PROBE_DECAY_DB && (c.afc ? true : frozenDecayDb >= PROBE_DECAY_DB)
  const v = { level, probe, stable: level && probe, tailDecayDb, frozenDecayDb, tailNotches }
  cache.set(key, v)
  return v
}

/** Which criterion a scan or bisection reads: 'stable' (the sixth round's, by default) or 'level' (the old one). */
export type Criterion = 'stable' | 'level'

/** Stable at gain g by the criterion (the sixth round's by default: see Verdict). */
export async function stable(run: LoopRunner, x: Float32Array, c: GainCase, g: number, by: Criterion = 'stable'): Promise<boolean> {
  return (await check(run, x, c, g))[by]
}

/** The largest stable gain by bisection between -6 and 20 dB (5 steps quick, 7 full). */
export async function limit(run: LoopRunner, x: Float32Array, c: GainCase, quick: boolean, by: Criterion = 'stable'): Promise<number> {
  let lo = -6
  let hi = 20
  for (let i = 0; i < (quick ? 5 : 7); i++) {
    const mid = (lo + hi) / 2
    if (await stable(run, x, c, mid, by)) lo = mid
    else hi = mid
  }
  return lo
}

/**
 * With suppression the loop can be stable at a gain and howl at a lower one (a notch placed at one
 * gain and not at the other), so the bisection's one-threshold assumption can overstate it. The
 * issue's figure is the loop gain at which the loop howls: scanned upward from `from` in steps (1 dB
 * quick, 0.5 dB full, at most `span` dB), the last stable gain before the first that howls.
 */
export async function scan(run: LoopRunner, x: Float32Array, c: GainCase, from: number, quick: boolean, span = 10, by: Criterion = 'stable'): Promise<number> {
  const step = quick ? 1 : 0.5
  let g = from
  while (g < from + span && (await stable(run, x, c, g + step, by))) g += step
  return g
}

/** The frequency (Hz, 0.1 Hz steps) of the strongest line in a 2048-sample frame, 100 Hz to 8 kHz. */
export function strongestLine(x: Float32Array): number {
  let best = 0
  let bestDb = -Infinity
  for (let f = 100; f <= 8000; f += 2) {
    const l = lineLevels(x.subarray(0, 2048), f)[0]!
    if (l > bestDb) {
      bestDb = l
      best = f
    }
  }
  for (let f = best - 2; f <= best + 2; f += 0.1) {
    const l = lineLevels(x.subarray(0, 2048), f)[0]!
    if (l > bestDb) {
      bestDb = l
      best = f
    }
  }
  return best
}
