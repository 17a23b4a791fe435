// Offline analysis of a recording, for `firmware process` (passive review of a show before
// automation is trusted): the crowd-state timeline, the speech intervals, and the EQ
// recommendations per output. The same native feature extractors and models as on the live
// path; whole arrays are fine here because nothing runs on the audio thread.
import { loadNative } from '../engine/native.ts'
import type { FeatureFrames } from '../engine/types.ts'
import { readWav, type WavSource } from '../wav/wav.ts'
import {
  CROWD_STATE,
  classifyPatches,
  MEL_BANDS,
  type ModelRunner,
  PATCH_FRAMES,
  recommendEq,
  speechProbabilities,
  VAD_BATCH,
  VAD_WINDOW,
  VoiceActivityStream,
} from './models.ts'
import { FUSED_VAD, fuseSpeech, type SpeechInterval, smoothVad, type VadSmootherOptions } from './vad.ts'

interface FeaturesExport {
  decimate48to16(x: Float32Array): Float32Array
  logMel(x: Float32Array): Float32Array
  bandSpectrum(x: Float32Array, averageSeconds?: number): { mean: Float32Array; spread: Float32Array; frames: number }
}

function features(): FeaturesExport {
  return loadNative().features as FeaturesExport
}

export interface ClassEntry {
  t: number
  label: string
  confidence: number
}
export interface RecommendationEntry {
  t: number
  output: number
  bands: Array<{ hz: number; gainDb: number }>
  confidence: number
}

export interface AnalysisOptions {
  /** Seconds between classifier patches (each covers 0.5 s). Defaults to 0.25. */
  classHopS?: number
  /** Seconds of output per EQ recommendation. Defaults to 5. */
  eqWindowS?: number
  vad?: VadSmootherOptions
  /** Per-request deadline offline (nothing is real-time here). Defaults to 5000 ms. */
  deadlineMs?: number
}

/** Mixes interleaved channels to mono. */
export function mixdown(data: ArrayLike<number>, channels: number): Float32Array {
  const frames = Math.floor(data.length / channels)
  const out = new Float32Array(frames)
  for (let i = 0; i < frames; i++) {
    let s = 0
    for (let c = 0; c < channels; c++) s += data[i * channels + c]!
    out[i] = s / channels
  }
  return out
}

/** One channel of interleaved data. */
export function channel(data: ArrayLike<number>, channels: number, k: number): Float32Array {
  const frames = Math.floor(data.length / channels)
  const out = new Float32Array(frames)
  for (let i = 0; i < frames; i++) out[i] = data[i * channels + k]!
  return out
}

/** Resamples to 48 kHz (linear interpolation after the source's own band limit; only for analysis). */
export function to48k(x: Float32Array, sampleRate: number): Float32Array {
  if (sampleRate === 48000) return x
  const n = Math.floor((x.length * 48000) / sampleRate)
  const out = new Float32Array(n)
  const step = sampleRate / 48000
  for (let i = 0; i < n; i++) {
    const p = i * step
    const k = Math.floor(p)
    const a = x[k] ?? 0
    const b = x[k + 1] ?? a
    out[i] = a + (b - a) * (p - k)
  }
  return out
}

/** The engine's spectrum snapshots per output: every 24 analysis hops of 1024 samples at 48 kHz. */
const SNAPSHOT_S = (24 * 1024) / 48000

/** Classes and speech intervals of a mono signal at 48 kHz. */
export async function analyseMix(
  svc: ModelRunner,
  mono48k: Float32Array,
  opts: AnalysisOptions = {},
): Promise<{ classes: ClassEntry[]; vad: SpeechInterval[] }> {
  const f = features()
  const x16 = f.decimate48to16(mono48k)
  const mel = f.logMel(x16)
  const frames = mel.length / MEL_BANDS
  const hop = Math.max(1, Math.round((opts.classHopS ?? 0.25) / 0.01))
  const deadline = { deadlineMs: opts.deadlineMs ?? 5000 }
  const classes: ClassEntry[] = []
  const patchT: number[] = []
  const patchSpeech: number[] = []
  const speechIndex = speechClass(svc)
  const per = PATCH_FRAMES * MEL_BANDS
  const starts: number[] = []
  for (let s = 0; s + PATCH_FRAMES <= frames; s += hop) starts.push(s)
  // Batches of patches: one request per 64 patches.
  for (let b = 0; b < starts.length; b += 64) {
    const group = starts.slice(b, b + 64)
    const batch = new Float32Array(group.length * per)
    group.forEach((s, i) => {
      batch.set(mel.subarray(s * MEL_BANDS, s * MEL_BANDS + per), i * per)
    })
    const res = await classifyPatches(svc, batch, deadline)
    if (!res) continue
    res.forEach((r, i) => {
      // Stamped at the patch's centre.
      const t = (group[i]! * 160 + (PATCH_FRAMES * 160) / 2) / 16000
      classes.push({ t: Math.round(t * 1000) / 1000, label: r.label, confidence: Math.round(r.confidence * 1000) / 1000 })
      patchT.push(t)
      patchSpeech.push(speechIndex < 0 ? 0 : r.probs[speechIndex]!)
    })
  }
  const probs = await speechProbabilities(svc, x16, deadline)
  return { classes, vad: fusedVad(probs, patchT, patchSpeech, speechIndex, opts.vad) }
}

/** The index of "speech" in the active crowd-state model's classes (-1 without one). */
function speechClass(svc: ModelRunner): number {
  return svc.active(CROWD_STATE)?.manifest.classes.indexOf('speech') ?? -1
}

/** Speech intervals from Silero's frames fused with the classifier's speech probability (FUSED_VAD). */
function fusedVad(probs: Float32Array, patchT: number[], patchSpeech: number[], speechIndex: number, vad?: VadSmootherOptions): SpeechInterval[] {
  if (speechIndex < 0) return smoothVad(probs, vad)
  return smoothVad(fuseSpeech(probs, patchT, patchSpeech), { ...FUSED_VAD.smoothing, ...vad })
}

/** EQ recommendations for one output channel at 48 kHz, one per window. */
export async function analyseOutput(svc: ModelRunner, output: number, x48k: Float32Array, opts: AnalysisOptions = {}): Promise<RecommendationEntry[]> {
  const f = features()
  // A recording shorter than one window (but at least a second) gets one recommendation over all of it.
  const full = Math.round((opts.eqWindowS ?? 5) * 48000)
  const win = x48k.length < full && x48k.length >= 48000 ? x48k.length : full
  const out: RecommendationEntry[] = []
  for (let s = 0; s + win <= x48k.length; s += win) {
    const chunk = x48k.subarray(s, s + win)
    // Skip silent stretches: there is nothing to equalise.
    let e = 0
    for (let i = 0; i < chunk.length; i += 16) e += chunk[i]! * chunk[i]!
    if (e / (chunk.length / 16) < 1e-8) continue
    const spec = f.bandSpectrum(chunk, 3)
    const rec = await recommendEq(svc, spec.mean, spec.spread, { deadlineMs: opts.deadlineMs ?? 5000 })
    if (rec) out.push({ t: Math.round(((s + win) / 48000) * 1000) / 1000, output, bands: rec.bands, confidence: Math.round(rec.confidence * 1000) / 1000 })
  }
  return out
}

/** The whole review of a file: the input's mix for classes and VAD, each output for EQ. */
export async function analyseFiles(svc: ModelRunner, inPath: WavSource, outPath: string | null, opts: AnalysisOptions = {}) {
  const input = readWav(inPath)
  const mix = to48k(mixdown(input.data, input.info.channels), input.info.sampleRate)
  const { classes, vad } = await analyseMix(svc, mix, opts)
  const recommendations: RecommendationEntry[] = []
  if (outPath) {
    const o = readWav(outPath)
    for (let k = 0; k < o.info.channels; k++) {
      recommendations.push(...(await analyseOutput(svc, k, to48k(channel(o.data, o.info.channels, k), o.info.sampleRate), opts)))
    }
  }
  return { classes, vad, recommendations }
}

/**
 * The same review in one streaming pass, from the features the engine computes while it processes
 * (Engine.pollFeatures() with losslessFeatures): log-mel frames for the classifier, 16 kHz VAD
 * windows, and each output's running band spectrum for the EQ recommender. Holds one batch of
 * patches and the last patch's frames, so memory does not grow with the recording (the results
 * do: one class entry per hop, one recommendation per output per window).
 *
 * Compared with analyseFiles on the same input: classes and VAD come from the same log-mel and
 * decimator code on the same mix, so they agree up to the float rounding of the mix; the EQ
 * recommendations use the engine's running spectrum (3 s average) at the end of each window
 * instead of a spectrum of the window alone, so their gains differ slightly.
 */
export class StreamingAnalysis {
  readonly #svc: ModelRunner
  readonly #opts: AnalysisOptions
  readonly #hop: number
  /**
   * Log-mel frames kept, from frame #melBase on: the first #melFrames - #melBase frames of a buffer
   * kept across polls (grown when a poll brings more), so a poll copies into it, never anew.
   */
  #mel = new Float32Array(0)
  #melBase = 0
  #melFrames = 0
  #nextPatch = 0
  #batch: number[] = []
  #batchData: Float32Array
  readonly #classes: ClassEntry[] = []
  readonly #vad: VoiceActivityStream
  /** VAD windows not yet sent (up to VAD_BATCH). */
  readonly #vadPending = new Float32Array(VAD_BATCH * VAD_WINDOW)
  #vadCount = 0
  /** Silero's frame probabilities, in chunks (31 a second: small even for a long show). */
  readonly #vadProbs: Float32Array[] = []
  #vadChunk = new Float32Array(4096)
  #vadFill = 0
  /** Each patch's centre and speech probability, for the fused VAD. */
  readonly #patchT: number[] = []
  readonly #patchSpeech: number[] = []
  /** Per output: the last window recommended for (k), and a copy of the newest snapshot (the poll's arrays are refilled by the next poll). */
  readonly #lastEq = new Map<number, number>()
  readonly #latest = new Map<number, { t: number; mean: Float32Array; spread: Float32Array }>()
  readonly #recommendations: RecommendationEntry[] = []
  readonly #seconds: number

  /** `seconds`: the recording's length, for the one recommendation of a file shorter than a window. */
  constructor(svc: ModelRunner, opts: AnalysisOptions & { seconds?: number } = {}) {
    this.#seconds = opts.seconds ?? 0
    this.#svc = svc
    this.#opts = opts
    this.#hop = Math.max(1, Math.round((opts.classHopS ?? 0.25) / 0.01))
    this.#batchData = new Float32Array(64 * PATCH_FRAMES * MEL_BANDS)
    this.#vad = new VoiceActivityStream(svc)
  }

  #deadline() {
    return { deadlineMs: this.#opts.deadlineMs ?? 5000 }
  }

  /** Takes one poll's features; resolves when they are analysed (the engine waits meanwhile). */
  async feed(f: FeatureFrames): Promise<void> {
    if (f.logMel.length > 0) await this.#feedMel(f.logMel)
    // VAD windows go to the model VAD_BATCH at a time (one request, the state carried inside).
    for (let i = 0; i + VAD_WINDOW <= f.vad.length; i += VAD_WINDOW) {
      this.#vadPending.set(f.vad.subarray(i, i + VAD_WINDOW), this.#vadCount * VAD_WINDOW)
      if (++this.#vadCount === VAD_BATCH) await this.#flushVad()
    }
    for (const s of f.spectra) await this.#spectrum(s.output, s.t, s.mean, s.spread)
  }

  async #flushVad(): Promise<void> {
    const n = this.#vadCount
    this.#vadCount = 0
    if (n === 0) return
    const probs = await this.#vad.pushMany(this.#vadPending.subarray(0, n * VAD_WINDOW), this.#deadline())
    for (const p of probs) {
      if (this.#vadFill === this.#vadChunk.length) {
        this.#vadProbs.push(this.#vadChunk)
        this.#vadChunk = new Float32Array(4096)
        this.#vadFill = 0
      }
      this.#vadChunk[this.#vadFill++] = p
    }
  }

  async #feedMel(frames: Float32Array): Promise<void> {
    // Append, keeping only the frames a future patch still needs.
    const keepFrom = Math.min(this.#nextPatch, this.#melFrames) - this.#melBase
    const kept = (this.#melFrames - this.#melBase - keepFrom) * MEL_BANDS
    if (kept + frames.length > this.#mel.length) {
      const grown = new Float32Array(Math.max(kept + frames.length, 2 * this.#mel.length))
      grown.set(this.#mel.subarray(keepFrom * MEL_BANDS, keepFrom * MEL_BANDS + kept))
      this.#mel = grown
    } else {
      this.#mel.copyWithin(0, keepFrom * MEL_BANDS, keepFrom * MEL_BANDS + kept)
    }
    this.#mel.set(frames, kept)
    this.#melBase += keepFrom
    this.#melFrames += frames.length / MEL_BANDS
    const per = PATCH_FRAMES * MEL_BANDS
    while (this.#nextPatch + PATCH_FRAMES <= this.#melFrames) {
      const at = (this.#nextPatch - this.#melBase) * MEL_BANDS
      this.#batchData.set(this.#mel.subarray(at, at + per), this.#batch.length * per)
      this.#batch.push(this.#nextPatch)
      this.#nextPatch += this.#hop
      if (this.#batch.length === 64) await this.#classify()
    }
  }

  async #classify(): Promise<void> {
    const group = this.#batch
    this.#batch = []
    if (group.length === 0) return
    const per = PATCH_FRAMES * MEL_BANDS
    // A view of the batch buffer, not a copy: the request is answered before the buffer is written again.
    const res = await classifyPatches(this.#svc, this.#batchData.subarray(0, group.length * per), this.#deadline())
    const speech = speechClass(this.#svc)
    res?.forEach((r, i) => {
      const t = (group[i]! * 160 + (PATCH_FRAMES * 160) / 2) / 16000
      this.#classes.push({ t: Math.round(t * 1000) / 1000, label: r.label, confidence: Math.round(r.confidence * 1000) / 1000 })
      this.#patchT.push(t)
      this.#patchSpeech.push(speech < 0 ? 0 : r.probs[speech]!)
    })
  }

  async #spectrum(output: number, t: number, mean: Float32Array, spread: Float32Array): Promise<void> {
    // Window k ends at k * win, as in analyseOutput; the engine's snapshots come about every
    // 0.51 s, so the one within half a snapshot of the window's end stands for it.
    const win = this.#opts.eqWindowS ?? 5
    const k = (this.#lastEq.get(output) ?? 0) + 1
    let latest = this.#latest.get(output)
    if (!latest || latest.mean.length !== mean.length) {
      latest = { t, mean: new Float32Array(mean.length), spread: new Float32Array(spread.length) }
      this.#latest.set(output, latest)
    }
    latest.t = t
    latest.mean.set(mean)
    latest.spread.set(spread)
    if (t < k * win - SNAPSHOT_S / 2 - 0.01) return
    this.#lastEq.set(output, k)
    await this.#recommend(output, k * win, mean, spread)
  }

  async #recommend(output: number, t: number, mean: Float32Array, spread: Float32Array): Promise<void> {
    // Nothing to equalise in silence (every band below -100 dB).
    if (!mean.some((v) => v > -100)) return
    const rec = await recommendEq(this.#svc, mean, spread, this.#deadline())
    if (rec) this.#recommendations.push({ t: Math.round(t * 1000) / 1000, output, bands: rec.bands, confidence: Math.round(rec.confidence * 1000) / 1000 })
  }

  /** After the last feed: the report's sections. */
  async finish(): Promise<{ classes: ClassEntry[]; vad: SpeechInterval[]; recommendations: RecommendationEntry[] }> {
    await this.#classify()
    await this.#flushVad()
    // A recording shorter than one window (but at least a second) gets one recommendation over all of it.
    const win = this.#opts.eqWindowS ?? 5
    if (this.#seconds >= 1 && this.#seconds < win) {
      for (const [output, s] of this.#latest) if (!this.#lastEq.has(output)) await this.#recommend(output, this.#seconds, s.mean, s.spread)
    }
    // The last whole window may end after the last snapshot (the recording stops first): its
    // newest snapshot stands for it.
    const lastWindow = Math.floor(this.#seconds / win + 1e-9)
    for (const [output, s] of this.#latest) {
      if ((this.#lastEq.get(output) ?? 0) === lastWindow - 1 && s.t >= lastWindow * win - SNAPSHOT_S - 0.01) {
        this.#lastEq.set(output, lastWindow)
        await this.#recommend(output, lastWindow * win, s.mean, s.spread)
      }
    }
    this.#recommendations.sort((a, b) => a.t - b.t || a.output - b.output)
    const probs = new Float32Array(this.#vadProbs.length * 4096 + this.#vadFill)
    for (const [i, c] of this.#vadProbs.entries()) probs.set(c, i * 4096)
    probs.set(this.#vadChunk.subarray(0, this.#vadFill), this.#vadProbs.length * 4096)
    const vad = fusedVad(probs, this.#patchT, this.#patchSpeech, speechClass(this.#svc), this.#opts.vad)
    return { classes: this.#classes, vad, recommendations: this.#recommendations }
  }
}
