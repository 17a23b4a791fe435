// Offline analysis of a recording, for `firmware process` (passive review of a show before
// automation is trusted): the crowd-state timeline, the speech intervals, and the EQ
// recommendations per output. The same native feature extractors and models as on the live
// path; whole arrays are fine here because nothing runs on the audio thread.
import { loadNative } from '../engine/native.ts'
import { readWav, type WavSource } from '../wav/wav.ts'
import { classifyPatches, MEL_BANDS, PATCH_FRAMES, recommendEq, vadProbabilities } from './models.ts'
import type { InferenceService } from './service.ts'
import { type SpeechInterval, smoothVad, type VadSmootherOptions } from './vad.ts'

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

/** Classes and speech intervals of a mono signal at 48 kHz. */
export async function analyseMix(
  svc: InferenceService,
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
    })
  }
  const probs = await vadProbabilities(svc, x16, deadline)
  return { classes, vad: smoothVad(probs, opts.vad) }
}

/** EQ recommendations for one output channel at 48 kHz, one per window. */
export async function analyseOutput(svc: InferenceService, output: number, x48k: Float32Array, opts: AnalysisOptions = {}): Promise<RecommendationEntry[]> {
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
export async function analyseFiles(svc: InferenceService, inPath: WavSource, outPath: string | null, opts: AnalysisOptions = {}) {
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
