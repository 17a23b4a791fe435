// LiveInference: the on-stage loop. Each control tick hands it what the engine's feature ring
// held (Engine.pollFeatures()); it assembles classifier patches, VAD windows and output spectra and
// sends them to the inference worker without ever waiting for it: at most one request per model is
// in flight, a request that cannot be sent is skipped and counted, and a result past its deadline
// is dropped by the service. Results go to listeners and EQ recommendations to the automation.
import type { FeatureFrames } from '../engine/types.ts'
import { decodeCandidates, type FeedbackAlarm, type HowlCandidate, HowlFusion } from './feedback.ts'
import { CROWD_STATE, classifyPatches, EQ_RECOMMENDER, MEL_BANDS, PATCH_FRAMES, recommendEq, VAD_WINDOW, VoiceActivityStream } from './models.ts'
import type { InferenceService } from './service.ts'
import { type SpeechInterval, VadSmoother, type VadSmootherOptions } from './vad.ts'

export interface LiveInferenceOptions {
  /** Log-mel frames between classifier runs (10 ms each). Defaults to 25 (patches overlap by half). */
  classHopFrames?: number
  /** Seconds between EQ recommendations for one output. Defaults to 5. */
  eqEveryS?: number
  vad?: VadSmootherOptions
  /** VAD windows allowed to wait; older ones are dropped when the worker falls behind. Defaults to 8. */
  maxVadBacklog?: number
  onClass?: (c: { t: number; label: string; confidence: number; probs: number[] }) => void
  onSpeech?: (iv: SpeechInterval) => void
  onRecommendation?: (r: { t: number; output: number; bands: Array<{ hz: number; gainDb: number }>; confidence: number }) => void
  /** A feedback alarm: the engine's howl detector fused with the classifier (docs/feedback.md). */
  onFeedback?: (a: FeedbackAlarm) => void
  /** A result could not be delivered (a listener or the sink threw); counted in stats().errors. */
  onError?: (e: Error) => void
}

export interface LiveStats {
  patches: number
  classSkipped: number
  vadWindows: number
  vadDropped: number
  recommendations: number
  featureDrops: number
  /** Results that could not be delivered: a listener or the recommendation sink threw. */
  errors: number
}

/** Where feedback alarms and howl candidates go (the automation's suppressor). */
export interface FeedbackAlarmSink {
  alarm(a: FeedbackAlarm): unknown
  observe(t: number, output: number, candidates: readonly HowlCandidate[]): void
}

/** Where EQ recommendations go (the automation controller): inference does not know automation. */
export interface RecommendationSink {
  /** How many outputs it takes recommendations for. */
  readonly outputs: number
  recommend(rec: { output: number; deltaDb: number[]; confidence: number; model: string }): unknown
}

export class LiveInference {
  readonly #svc: InferenceService
  readonly #auto: RecommendationSink | null
  /** One fusion per output: each knows its output's frequency shift (a shifted howl glides). */
  readonly #fusions = new Map<number, HowlFusion>()
  /** The classifier's last feedback probability, for a fusion made after it came. */
  #lastFeedbackP: { t: number; p: number } | null = null
  #feedbackSink: FeedbackAlarmSink | null = null
  readonly #o: LiveInferenceOptions
  readonly #mel = new Float32Array(PATCH_FRAMES * MEL_BANDS)
  #melFill = 0
  #sinceClass = 0
  #melT = 0
  #classBusy = false
  readonly #vad: VoiceActivityStream
  readonly #smoother: VadSmoother
  #vadQueue: Float32Array[] = []
  #vadBusy = false
  #eqBusy = false
  readonly #lastEq = new Map<number, number>()
  #lastClass: string | null = null
  #enabled = true
  readonly #stats: LiveStats = { patches: 0, classSkipped: 0, vadWindows: 0, vadDropped: 0, recommendations: 0, featureDrops: 0, errors: 0 }

  constructor(svc: InferenceService, automation: RecommendationSink | null, opts: LiveInferenceOptions = {}) {
    this.#svc = svc
    this.#auto = automation
    this.#o = opts
    this.#vad = new VoiceActivityStream(svc)
    this.#smoother = new VadSmoother(opts.vad)
  }

  /**
   * Output `output`'s (from 0) frequency shift, Hz (0: off), as the engine has it (`feedback
   * shift`): its fusion follows a howl that glides by the shift per round trip
   * (HowlFusionOptions.shiftHz). Its tracks start again.
   */
  setShift(output: number, hz: number): void {
    this.#fusions.set(output, this.#newFusion(hz))
  }

  #fusion(output: number): HowlFusion {
    let f = this.#fusions.get(output)
    if (!f) this.#fusions.set(output, (f = this.#newFusion(0)))
    return f
  }

  /** A fusion for an output shifted shiftHz, with the classifier's last opinion. */
  #newFusion(shiftHz: number): HowlFusion {
    const f = new HowlFusion({ shiftHz })
    if (this.#lastFeedbackP) f.classifier(this.#lastFeedbackP.t, this.#lastFeedbackP.p)
    return f
  }

  /** Where alarms and candidates go (the suppressor); null for none. */
  setFeedbackSink(sink: FeedbackAlarmSink | null): void {
    this.#feedbackSink = sink
  }

  /**
   * The watchdog's inference enable: while off, the models' features are discarded and nothing is
   * sent. The howl path (the engine's detector, the fusion, the suppressor) needs no model and goes
   * on: DEGRADED is entered for a slow model or a late event loop on a busy machine, which is no
   * time to let a howl grow (docs/feedback.md, "On the sim board"). The fusion then has no
   * classifier opinion, as when no model is loaded.
   */
  setEnabled(on: boolean): void {
    this.#enabled = on
    if (!on) {
      this.#vadQueue = []
      this.#melFill = 0
    }
  }

  get lastClass(): string | null {
    return this.#lastClass
  }

  get speaking(): boolean {
    return this.#smoother.speaking
  }

  stats(): LiveStats {
    return { ...this.#stats }
  }

  /** Call once per control tick with the engine's drained features. Never waits. */
  feed(f: FeatureFrames): void {
    this.#stats.featureDrops = f.dropped
    this.#feedHowl(f)
    if (!this.#enabled) return
    this.#feedMel(f.logMel, f.logMelT)
    for (let i = 0; i + VAD_WINDOW <= f.vad.length; i += VAD_WINDOW) {
      this.#vadQueue.push(f.vad.slice(i, i + VAD_WINDOW))
      if (this.#vadQueue.length > (this.#o.maxVadBacklog ?? 8)) {
        this.#vadQueue.shift()
        this.#stats.vadDropped++
      }
    }
    void this.#drainVad()
    for (const s of f.spectra) this.#maybeRecommend(s.output, s.t, s.mean, s.spread)
  }

  #feedHowl(f: FeatureFrames): void {
    for (const h of f.howl ?? []) {
      const c = decodeCandidates(h.candidates)
      try {
        this.#feedbackSink?.observe(h.t, h.output, c)
        for (const a of this.#fusion(h.output).push(h.t, h.output, c)) {
          this.#o.onFeedback?.(a)
          this.#feedbackSink?.alarm(a)
        }
      } catch (e) {
        this.#failed(e)
      }
    }
  }

  #feedMel(frames: Float32Array, t0: number): void {
    const n = frames.length / MEL_BANDS
    const hop = this.#o.classHopFrames ?? 25
    for (let i = 0; i < n; i++) {
      // Slide the patch window by one frame (50 x 40 floats; cheap at 100 frames/s).
      if (this.#melFill === PATCH_FRAMES) this.#mel.copyWithin(0, MEL_BANDS)
      else this.#melFill++
      this.#mel.set(frames.subarray(i * MEL_BANDS, (i + 1) * MEL_BANDS), (this.#melFill - 1) * MEL_BANDS)
      this.#melT = t0 + i * 0.01
      this.#sinceClass++
      if (this.#melFill === PATCH_FRAMES && this.#sinceClass >= hop) {
        this.#sinceClass = 0
        if (this.#classBusy) {
          this.#stats.classSkipped++
          continue
        }
        this.#classify(this.#mel.slice(), this.#melT)
      }
    }
  }

  #classify(patch: Float32Array, t: number): void {
    this.#classBusy = true
    this.#stats.patches++
    classifyPatches(this.#svc, patch)
      .then((r) => {
        const c = r?.[0]
        if (!c || !this.#enabled) return
        const manifest = this.#svc.active(CROWD_STATE)?.manifest
        const fb = manifest?.classes.indexOf('feedback') ?? -1
        if (fb >= 0 && c.probs[fb] !== undefined) {
          this.#lastFeedbackP = { t, p: c.probs[fb]! }
          for (const f of this.#fusions.values()) f.classifier(t, c.probs[fb]!)
        }
        const min = manifest?.minConfidence ?? 0
        if (c.confidence >= min) this.#lastClass = c.label
        this.#o.onClass?.({ t: Math.round((t - 0.25) * 1000) / 1000, label: c.label, confidence: c.confidence, probs: c.probs })
      })
      // A throw here (a listener's bug) must not become an unhandled rejection: Node ends the
      // process on one, and the sound with it.
      .catch((e: unknown) => this.#failed(e))
      .finally(() => {
        this.#classBusy = false
      })
  }

  async #drainVad(): Promise<void> {
    if (this.#vadBusy) return
    this.#vadBusy = true
    try {
      while (this.#vadQueue.length > 0 && this.#enabled) {
        const w = this.#vadQueue.shift()!
        const p = await this.#vad.push(w)
        this.#stats.vadWindows++
        const iv = this.#smoother.push(p)
        if (iv) this.#o.onSpeech?.(iv)
      }
    } finally {
      this.#vadBusy = false
    }
  }

  #maybeRecommend(output: number, t: number, mean: Float32Array, spread: Float32Array): void {
    const every = this.#o.eqEveryS ?? 5
    const last = this.#lastEq.get(output)
    if (last !== undefined && t - last < every) return
    // Nothing to equalise in silence, and never chase a feedback tone with EQ gains.
    if (this.#lastClass === 'silence' || this.#lastClass === 'feedback') return
    if (this.#eqBusy) return
    this.#lastEq.set(output, t)
    this.#eqBusy = true
    recommendEq(this.#svc, mean, spread)
      .then((rec) => {
        if (!rec || !this.#enabled) return
        this.#stats.recommendations++
        this.#o.onRecommendation?.({ t, output, bands: rec.bands, confidence: rec.confidence })
        if (this.#auto && output < this.#auto.outputs) {
          this.#auto.recommend({
            output,
            deltaDb: rec.bands.map((b) => b.gainDb),
            confidence: rec.confidence,
            model: this.#svc.active(EQ_RECOMMENDER)?.id ?? EQ_RECOMMENDER,
          })
        }
      })
      .catch((e: unknown) => this.#failed(e))
      .finally(() => {
        this.#eqBusy = false
      })
  }

  #failed(e: unknown): void {
    this.#stats.errors++
    try {
      this.#o.onError?.(e instanceof Error ? e : new Error(String(e)))
    } catch {
      // the error listener itself failed: the count above still says so
    }
  }
}
