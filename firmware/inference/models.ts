// The appliance's models as the rest of the firmware uses them, over InferenceService: the crowd
// state classifier (log-mel patches), the EQ recommender (per-output band spectra), and the
// Silero VAD (512-sample windows at 16 kHz with 64 samples of context, recurrent state carried by
// the caller so a worker restart loses nothing but one window).
import type { InferenceOutcome, InferenceService } from './service.ts'

/**
 * What the analysers need from whatever runs the models: the live appliance's InferenceService
 * (a child process) or, offline, OfflineInference (a thread of `firmware process`).
 */
export type ModelRunner = Pick<InferenceService, 'active' | 'infer' | 'inferScan'>

export const CROWD_STATE = 'crowd-state'
export const EQ_RECOMMENDER = 'eq-recommender'
export const SILERO_VAD = 'silero-vad'
export const VAD_HEAD = 'vad-head'

export const PATCH_FRAMES = 50
export const MEL_BANDS = 40
export const SPECTRUM_BANDS = 32
export const VAD_WINDOW = 512
export const VAD_CONTEXT = 64
/** VAD windows of audio (and of Silero's probabilities) the VAD head looks at, the newest last. */
export const VAD_HEAD_CONTEXT = 6
/** Windows per request offline (SileroVadStream.pushMany): about a second of audio. */
export const VAD_BATCH = 32

export interface ClassResult {
  label: string
  confidence: number
  probs: number[]
}

export interface EqRecommendation {
  bands: Array<{ hz: number; gainDb: number }>
  confidence: number
}

/** Classifies log-mel patches ([n * 50 * 40] floats, n >= 1). Null when the result did not come in time. */
export async function classifyPatches(svc: ModelRunner, frames: Float32Array, opts: { deadlineMs?: number } = {}): Promise<ClassResult[] | null> {
  const per = PATCH_FRAMES * MEL_BANDS
  const n = Math.floor(frames.length / per)
  if (n === 0) return []
  const r = await svc.infer(CROWD_STATE, { logmel: { type: 'float32', dims: [n, PATCH_FRAMES, MEL_BANDS], data: frames.subarray(0, n * per) } }, opts)
  if (r.status !== 'ok') return null
  const classes = svc.active(CROWD_STATE)!.manifest.classes
  const p = r.outputs.probs!.data as Float32Array
  const k = classes.length
  const out: ClassResult[] = []
  for (let i = 0; i < n; i++) {
    const probs = Array.from(p.subarray(i * k, (i + 1) * k))
    let best = 0
    for (let j = 1; j < k; j++) if (probs[j]! > probs[best]!) best = j
    out.push({ label: classes[best]!, confidence: probs[best]!, probs })
  }
  return out
}

/** One EQ recommendation from a band spectrum (32 mean dB + 32 spread dB). */
export async function recommendEq(
  svc: ModelRunner,
  mean: ArrayLike<number>,
  spread: ArrayLike<number>,
  opts: { deadlineMs?: number } = {},
): Promise<EqRecommendation | null> {
  const data = new Float32Array(2 * SPECTRUM_BANDS)
  for (let i = 0; i < SPECTRUM_BANDS; i++) {
    data[i] = mean[i] ?? -120
    data[SPECTRUM_BANDS + i] = spread[i] ?? 0
  }
  const r = await svc.infer(EQ_RECOMMENDER, { spectrum: { type: 'float32', dims: [1, 2, SPECTRUM_BANDS], data } }, opts)
  if (r.status !== 'ok') return null
  const hz = (svc.active(EQ_RECOMMENDER)!.manifest.bandsHz as number[] | undefined) ?? []
  const g = r.outputs.gains!.data as Float32Array
  return {
    bands: Array.from(g, (gainDb, i) => ({ hz: hz[i] ?? 0, gainDb: Math.round(gainDb * 10) / 10 })),
    confidence: (r.outputs.confidence!.data as Float32Array)[0]!,
  }
}

/** A stream of Silero VAD windows: keeps the 64-sample context and the recurrent state. */
export class SileroVadStream {
  readonly #svc: ModelRunner
  readonly #input = new Float32Array(VAD_CONTEXT + VAD_WINDOW)
  #state = new Float32Array(2 * 128)
  readonly #sr = BigInt64Array.from([16000n])
  /** pushMany's request, kept and grown to the largest batch: a request makes no new buffer (issue 18, sixth round). */
  #many = new Float32Array(0)
  /** Windows whose result did not come in time (their probability reads as 0). */
  missed = 0

  constructor(svc: ModelRunner) {
    this.#svc = svc
  }

  reset(): void {
    this.#input.fill(0)
    this.#state = new Float32Array(2 * 128)
  }

  /** Speech probability of the next 512 samples at 16 kHz; 0 (and counted) when late or dropped. */
  async push(window: Float32Array, opts: { deadlineMs?: number } = {}): Promise<number> {
    if (window.length !== VAD_WINDOW) throw new RangeError(`a VAD window is ${VAD_WINDOW} samples, got ${window.length}`)
    this.#input.copyWithin(0, VAD_WINDOW) // the last 64 samples of the previous input become the context
    this.#input.set(window, VAD_CONTEXT)
    const r: InferenceOutcome = await this.#svc.infer(
      SILERO_VAD,
      {
        input: { type: 'float32', dims: [1, VAD_CONTEXT + VAD_WINDOW], data: this.#input.slice() },
        state: { type: 'float32', dims: [2, 1, 128], data: this.#state.slice() },
        sr: { type: 'int64', dims: [], data: this.#sr },
      },
      opts,
    )
    if (r.status !== 'ok') {
      this.missed++
      return 0
    }
    this.#state = Float32Array.from(r.outputs.stateN!.data as Float32Array)
    return (r.outputs.output!.data as Float32Array)[0]!
  }

  /**
   * Speech probabilities of the next windows (n x 512 samples) in one request: the same runs as
   * n push() calls, in order with the state carried, without n round trips (offline, where nothing
   * waits on one window). Late or dropped: every window reads 0 and is counted; the state stays.
   */
  async pushMany(windows: Float32Array, opts: { deadlineMs?: number } = {}): Promise<Float32Array> {
    const n = windows.length / VAD_WINDOW
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`VAD windows are ${VAD_WINDOW} samples each, got ${windows.length} samples`)
    const per = VAD_CONTEXT + VAD_WINDOW
    if (this.#many.length < n * per) this.#many = new Float32Array(n * per)
    // Answered before the next pushMany writes it again (the state carries: calls never overlap).
    const input = this.#many.subarray(0, n * per)
    for (let i = 0; i < n; i++) {
      this.#input.copyWithin(0, VAD_WINDOW)
      this.#input.set(windows.subarray(i * VAD_WINDOW, (i + 1) * VAD_WINDOW), VAD_CONTEXT)
      input.set(this.#input, i * per)
    }
    const r: InferenceOutcome = await this.#svc.inferScan(
      SILERO_VAD,
      {
        input: { type: 'float32', dims: [n, per], data: input },
        state: { type: 'float32', dims: [2, 1, 128], data: this.#state.slice() },
        sr: { type: 'int64', dims: [], data: this.#sr },
      },
      { steps: n, stepInputs: ['input'], carry: { stateN: 'state' } },
      opts,
    )
    if (r.status !== 'ok') {
      this.missed += n
      return new Float32Array(n)
    }
    this.#state = Float32Array.from(r.outputs.stateN!.data as Float32Array)
    return Float32Array.from(r.outputs.output!.data as Float32Array)
  }
}

/** Frame probabilities for a whole 16 kHz signal (offline review, evaluation), 32 windows a request. */
export function vadProbabilities(svc: ModelRunner, x16k: Float32Array, opts: { deadlineMs?: number } = {}): Promise<Float32Array> {
  return wholeSignal(new SileroVadStream(svc), x16k, opts)
}

/** A VAD stream over a whole 16 kHz signal, VAD_BATCH windows a request. */
async function wholeSignal(
  s: { pushMany(x: Float32Array, opts: { deadlineMs?: number }): Promise<Float32Array> },
  x16k: Float32Array,
  opts: { deadlineMs?: number },
): Promise<Float32Array> {
  const n = Math.floor(x16k.length / VAD_WINDOW)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i += VAD_BATCH) {
    const k = Math.min(VAD_BATCH, n - i)
    out.set(await s.pushMany(x16k.subarray(i * VAD_WINDOW, (i + k) * VAD_WINDOW), opts), i)
  }
  return out
}

/**
 * Voice activity as the firmware uses it: Silero's probability of each window, then, when the
 * `vad-head` model is active, the head's (models/vad_head.py: Silero's last 6 probabilities and a
 * spectrogram of the last 6 windows, trained on family groups other than the one it is scored on).
 * Without the head, or when its answer is late, Silero's probability stands. One window at a time
 * (live: two round trips, each within its deadline) or many (offline: two requests).
 */
export class VoiceActivityStream {
  readonly #svc: ModelRunner
  readonly #silero: SileroVadStream
  /** The last VAD_HEAD_CONTEXT windows and Silero probabilities, oldest first. */
  readonly #audio = new Float32Array(VAD_HEAD_CONTEXT * VAD_WINDOW)
  readonly #probs = new Float32Array(VAD_HEAD_CONTEXT)
  /** pushMany's head request (audio, Silero's probabilities), kept and grown to the largest batch. */
  #manyAudio = new Float32Array(0)
  #manyProbs = new Float32Array(0)
  /** Windows whose head answer was late or dropped (Silero's probability stood in). */
  headMissed = 0

  constructor(svc: ModelRunner) {
    this.#svc = svc
    this.#silero = new SileroVadStream(svc)
  }

  /** Windows Silero's answer missed (read as 0). */
  get missed(): number {
    return this.#silero.missed
  }

  reset(): void {
    this.#silero.reset()
    this.#audio.fill(0)
    this.#probs.fill(0)
  }

  #shiftIn(window: Float32Array, p: number, audio: Float32Array, probs: Float32Array): void {
    this.#audio.copyWithin(0, VAD_WINDOW)
    this.#audio.set(window, (VAD_HEAD_CONTEXT - 1) * VAD_WINDOW)
    this.#probs.copyWithin(0, 1)
    this.#probs[VAD_HEAD_CONTEXT - 1] = p
    audio.set(this.#audio)
    probs.set(this.#probs)
  }

  /** Speech probability of the next 512 samples at 16 kHz. */
  async push(window: Float32Array, opts: { deadlineMs?: number } = {}): Promise<number> {
    const p = await this.#silero.push(window, opts)
    const audio = new Float32Array(VAD_HEAD_CONTEXT * VAD_WINDOW)
    const probs = new Float32Array(VAD_HEAD_CONTEXT)
    this.#shiftIn(window, p, audio, probs)
    const head = await this.#head(audio, probs, 1, opts)
    return head ? head[0]! : p
  }

  /** Speech probabilities of the next windows (n x 512 samples), in two requests. */
  async pushMany(windows: Float32Array, opts: { deadlineMs?: number } = {}): Promise<Float32Array> {
    const p = await this.#silero.pushMany(windows, opts)
    const n = p.length
    if (this.#manyProbs.length < n * VAD_HEAD_CONTEXT) {
      this.#manyAudio = new Float32Array(n * VAD_HEAD_CONTEXT * VAD_WINDOW)
      this.#manyProbs = new Float32Array(n * VAD_HEAD_CONTEXT)
    }
    const audio = this.#manyAudio.subarray(0, n * VAD_HEAD_CONTEXT * VAD_WINDOW)
    const probs = this.#manyProbs.subarray(0, n * VAD_HEAD_CONTEXT)
    for (let i = 0; i < n; i++) {
      this.#shiftIn(
        windows.subarray(i * VAD_WINDOW, (i + 1) * VAD_WINDOW),
        p[i]!,
        audio.subarray(i * VAD_HEAD_CONTEXT * VAD_WINDOW),
        probs.subarray(i * VAD_HEAD_CONTEXT),
      )
    }
    return (await this.#head(audio, probs, n, opts)) ?? p
  }

  async #head(audio: Float32Array, silero: Float32Array, n: number, opts: { deadlineMs?: number }): Promise<Float32Array | null> {
    if (!this.#svc.active(VAD_HEAD)) return null
    const r = await this.#svc.infer(
      VAD_HEAD,
      {
        audio: { type: 'float32', dims: [n, VAD_HEAD_CONTEXT * VAD_WINDOW], data: audio },
        silero: { type: 'float32', dims: [n, VAD_HEAD_CONTEXT], data: silero },
      },
      opts,
    )
    if (r.status !== 'ok') {
      this.headMissed += n
      return null
    }
    return Float32Array.from(r.outputs.speech!.data as Float32Array)
  }
}

/** Voice activity of a whole 16 kHz signal (VoiceActivityStream, 32 windows a request). */
export function speechProbabilities(svc: ModelRunner, x16k: Float32Array, opts: { deadlineMs?: number } = {}): Promise<Float32Array> {
  return wholeSignal(new VoiceActivityStream(svc), x16k, opts)
}
