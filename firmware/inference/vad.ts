// Voice activity: Silero VAD frames (32 ms at 16 kHz) turned into speech intervals. The raw
// per-frame probability flickers on music and applause; VadSmoother adds hysteresis (a higher
// threshold to start than to stay), a minimum speech duration (shorter bursts are dropped), a
// minimum silence duration (short pauses do not split a phrase) and a little padding. It is pure
// and streaming: push one probability per frame, get closed intervals back.

export interface VadSmootherOptions {
  /** Seconds per frame. Defaults to 0.032 (512 samples at 16 kHz). */
  frameS?: number
  /** Probability at or above which speech starts. Defaults to 0.4. */
  onThreshold?: number
  /** Probability below which speech may end. Defaults to 0.35. */
  offThreshold?: number
  /** Intervals shorter than this are dropped. Defaults to 100 ms. */
  minSpeechMs?: number
  /** Speech ends only after this much continuous low probability. Defaults to 200 ms. */
  minSilenceMs?: number
  /** Added on both sides of each interval. Defaults to 0 ms. */
  padMs?: number
}

export interface SpeechInterval {
  start: number
  end: number
}

// For the VAD head's probabilities (models/vad_head.py, trained on A and B), chosen on family
// groups A and B only (models/vad-families.ts: grid over thresholds, minimum speech and silence,
// padding; best mean frame F1 over A and B), scored on group C, which neither saw
// (docs/inference.md, models/vad_head.manifest.json). Without the head they smooth Silero's.
export const VAD_DEFAULTS: Required<VadSmootherOptions> = {
  frameS: 0.032,
  onThreshold: 0.5,
  offThreshold: 0.45,
  minSpeechMs: 250,
  minSilenceMs: 100,
  padMs: 0,
}

/**
 * Offline (`firmware process`): the VAD's frame probability (the head's, Silero's without it)
 * averaged with the crowd-state classifier's speech probability at the frame's time (interpolated
 * between patch centres), then smoothed. Weight and smoothing chosen on family groups A and B only
 * by models/vad-families.ts, like VAD_DEFAULTS (which the live path keeps: no classifier patch).
 */
export const FUSED_VAD: { weight: number; smoothing: Required<Omit<VadSmootherOptions, 'frameS'>> } = {
  weight: 0.5,
  smoothing: { onThreshold: 0.7, offThreshold: 0.45, minSpeechMs: 250, minSilenceMs: 300, padMs: 0 },
}

/**
 * Frame probabilities fused with the classifier's speech probability: (1 - weight) * silero +
 * weight * speech(t), t the frame's centre, speech(t) linear between the patch centres (held flat
 * before the first and after the last). Without patches, Silero's probabilities as they are.
 */
export function fuseSpeech(
  silero: ArrayLike<number>,
  patchT: ArrayLike<number>,
  patchSpeech: ArrayLike<number>,
  weight = FUSED_VAD.weight,
  frameS = 0.032,
): Float32Array {
  const out = Float32Array.from(silero as ArrayLike<number>)
  const n = Math.min(patchT.length, patchSpeech.length)
  if (n === 0 || weight === 0) return out
  let k = 0
  for (let i = 0; i < out.length; i++) {
    const t = (i + 0.5) * frameS
    while (k + 1 < n && patchT[k + 1]! <= t) k++
    let sp: number
    if (t <= patchT[0]!) sp = patchSpeech[0]!
    else if (k + 1 >= n) sp = patchSpeech[n - 1]!
    else {
      const a = patchT[k]!
      const b = patchT[k + 1]!
      const u = b > a ? (t - a) / (b - a) : 0
      sp = patchSpeech[k]! * (1 - u) + patchSpeech[k + 1]! * u
    }
    out[i] = (1 - weight) * out[i]! + weight * sp
  }
  return out
}

export class VadSmoother {
  readonly opts: Required<VadSmootherOptions>
  #frame = 0
  #start: number | null = null
  #lowSince: number | null = null
  #lastEnd = 0

  constructor(opts: VadSmootherOptions = {}) {
    this.opts = { ...VAD_DEFAULTS, ...opts }
  }

  /** True while inside a (possibly not yet confirmed) speech interval. */
  get speaking(): boolean {
    return this.#start !== null
  }

  /** Feeds the next frame's probability; returns an interval when one closes. */
  push(p: number): SpeechInterval | null {
    const o = this.opts
    const t = this.#frame * o.frameS
    this.#frame++
    if (p >= o.onThreshold) {
      this.#lowSince = null
      if (this.#start === null) this.#start = t
      return null
    }
    if (this.#start === null) return null
    if (p < o.offThreshold) {
      if (this.#lowSince === null) this.#lowSince = t
      if (t + o.frameS - this.#lowSince >= o.minSilenceMs / 1000) return this.#close(this.#lowSince)
    } else {
      this.#lowSince = null
    }
    return null
  }

  /** Closes an open interval at the end of input. */
  finish(): SpeechInterval | null {
    if (this.#start === null) return null
    return this.#close(this.#lowSince ?? this.#frame * this.opts.frameS)
  }

  #close(end: number): SpeechInterval | null {
    const start = this.#start!
    this.#start = null
    this.#lowSince = null
    if ((end - start) * 1000 < this.opts.minSpeechMs) return null
    const pad = this.opts.padMs / 1000
    const s = Math.max(start - pad, this.#lastEnd, 0)
    const e = Math.min(end + pad, this.#frame * this.opts.frameS)
    this.#lastEnd = e
    return { start: round3(s), end: round3(e) }
  }
}

/** Smooths a whole sequence of frame probabilities at once. */
export function smoothVad(probs: ArrayLike<number>, opts: VadSmootherOptions = {}): SpeechInterval[] {
  const s = new VadSmoother(opts)
  const out: SpeechInterval[] = []
  for (let i = 0; i < probs.length; i++) {
    const iv = s.push(probs[i]!)
    if (iv) out.push(iv)
  }
  const last = s.finish()
  if (last) out.push(last)
  return out
}

/** Frame-level F1 of a detection against true intervals, frames judged at their centres. */
export function frameF1(
  detected: (t: number) => boolean,
  truth: SpeechInterval[],
  frames: number,
  frameS = 0.032,
): { f1: number; precision: number; recall: number } {
  let tp = 0,
    fp = 0,
    fn = 0
  let k = 0
  for (let i = 0; i < frames; i++) {
    const t = (i + 0.5) * frameS
    while (k < truth.length && truth[k]!.end <= t) k++
    const isSpeech = k < truth.length && truth[k]!.start <= t
    const said = detected(t)
    if (said && isSpeech) tp++
    else if (said) fp++
    else if (isSpeech) fn++
  }
  const precision = tp / Math.max(1, tp + fp)
  const recall = tp / Math.max(1, tp + fn)
  return { f1: (2 * precision * recall) / Math.max(1e-9, precision + recall), precision, recall }
}

/** Membership test over sorted intervals. */
export function inIntervals(iv: SpeechInterval[]): (t: number) => boolean {
  return (t) => {
    let lo = 0,
      hi = iv.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const x = iv[mid]!
      if (t < x.start) hi = mid - 1
      else if (t >= x.end) lo = mid + 1
      else return true
    }
    return false
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
