// The simulated acoustic loop driven from TypeScript: programme into the microphone, the loop
// (addons/src/dsp/acoustic_loop.h: notches -> frequency shift -> gain -> PA band limits -> loudspeaker -> room ->
// microphone), the howl detector on the loudspeaker feed (probing: on the feed before the notches,
// and a probe notch verifies each howl: firmware/inference/feedback-probe.ts), the fusion into alarms and, with
// suppression on, the notch planner placing notches on the loop's feed between chunks (as the
// appliance's automation does in auto mode). Used by `firmware process --loop-gain`, the tests and
// the feedback benchmark.

import { loadNative } from '../engine/native.ts'
import { checkRoom, type RoomSpec } from '../engine/rooms.ts'
import { FirmwareError } from '../errors.ts'
import {
  decodeRows,
  type FeedbackAlarm,
  HowlFusion,
  type HowlFusionOptions,
  type Notch,
  type NotchLimits,
  NotchPlanner,
  SHIFTED_HOWL_THRESHOLDS,
} from '../inference/feedback.ts'
import { checkProbeOptions, HowlProbe, lineLevelDb, type ProbeOptions, type ProbeVerdict } from '../inference/feedback-probe.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'

export { parseRoom, ROOMS, type RoomSpec } from '../engine/rooms.ts'

/** The adaptive feedback canceller's settings (addons/src/dsp/afc.h). */
export interface AfcSettings {
  /** Block B, samples: a power of two, 64 to 2048. The canceller models the path's lags B to (P + 1) B. */
  blockSize: number
  /** Partitions P of B taps, 1 to 128. */
  partitions: number
  /** NLMS step per bin, over 0 to 1. */
  mu: number
  /** Order of the PEM prewhitening LPC (refitted every 20 ms from the error): 0 (off) or 2 to 32. */
  lpcOrder: number
}

/** --afc: 256-sample blocks, 48 partitions (lags 5.3 to 261 ms: the rooms' 0.25 s), step 0.05, LPC order 16. */
export const AFC_DEFAULTS: AfcSettings = { blockSize: 256, partitions: 48, mu: 0.05, lpcOrder: 16 }

/** Refuses bad canceller settings with FW_ERR_FEEDBACK_SETTINGS; returns them with the defaults filled in. */
export function checkAfcSettings(a: Partial<AfcSettings>): AfcSettings {
  const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `loop: afc.${f} ${m}`)
  const s = { ...AFC_DEFAULTS, ...a }
  wholeNumberIn(c, s.blockSize, 'blockSize', 64, 2048)
  if ((s.blockSize & (s.blockSize - 1)) !== 0)
    throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `loop: afc.blockSize must be a power of two, got ${s.blockSize}`)
  wholeNumberIn(c, s.partitions, 'partitions', 1, 128)
  numberIn(c, s.mu, 'mu', { min: 1e-6, max: 1 })
  wholeNumberIn(c, s.lpcOrder, 'lpcOrder', 0, 32)
  if (s.lpcOrder === 1) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', 'loop: afc.lpcOrder must be 0 (off) or 2 to 32, got 1')
  return s
}

/** The largest frequency shift (Hz) the loop takes (--shift-hz). */
export const MAX_SHIFT_HZ = 20

export interface LoopOptions {
  /** Loop gain in dB over the point where the loop starts to howl (0 dB: at the edge), -40 to 20. */
  gainDb: number
  room: RoomSpec
  /** Place notches at detected howls (the auto mode of the suppressor). Defaults to false. */
  suppress?: boolean
  limits?: Partial<NotchLimits>
  fusion?: Partial<HowlFusionOptions>
  /** Samples per control step (the planner acts between steps). Defaults to 1024 (21 ms). */
  chunk?: number
  /** Notches in place from the start (output 0's, e.g. those a suppressed run left), held whatever the planner does. */
  notches?: Notch[]
  /**
   * The native howl detector's thresholds (addons/src/features/howl_detector.h HowlThresholds, by
   * name). Defaults to the detector's own, and with a shift on to SHIFTED_HOWL_THRESHOLDS over them.
   */
  thresholds?: Record<string, number>
  /** Frequency shift (Hz, 0 to MAX_SHIFT_HZ) of the loudspeaker feed, after the notches (addons/src/dsp/freq_shift.h). Defaults to 0: off. */
  shiftHz?: number
  /** The adaptive feedback canceller on the microphone, before the notches (true: AFC_DEFAULTS). Defaults to off. */
  afc?: boolean | Partial<AfcSettings>
  /**
   * Detection by probing (firmware/inference/feedback-probe.ts; true: DEFAULT_PROBE): the detector
   * reads the feed before the notches, a loose candidate or a fusion alarm gets a probe notch, and
   * only a line that collapses under it is an alarm (the planner then keeps a notch there: suppression
   * is on). Defaults to off.
   */
  probe?: boolean | Partial<ProbeOptions>
}

export interface LoopResult {
  speaker: Float32Array
  mic: Float32Array
  alarms: FeedbackAlarm[]
  /** Every notch change, with its time. */
  notchChanges: Array<Notch & { t: number }>
  /** Notches in place at the end. */
  notches: Notch[]
  criticalHz: number
  /** With the canceller: its settings and the misalignment at the end, ||F - F^|| / ||F|| in dB over the room's impulse response. */
  afc?: { settings: AfcSettings; misalignmentDb: number }
  /** With probing: every probe's verdict, and the seconds of probe notch on. */
  probe?: { verdicts: ProbeVerdict[]; started: number; probeSeconds: number }
}

interface NativeLoop {
  run(src: Float32Array): { mic: Float32Array; speaker: Float32Array; pre?: Float32Array; rows: Float32Array }
  setGainDb(db: number): void
  setNotch(i: number, hz: number, gainDb: number, q: number, enabled: boolean): void
  setShiftHz(hz: number): void
  readonly criticalHz: number
  readonly impulseResponse: Float32Array
  afcTaps(len: number): Float32Array
}

/** ||F - F^|| / ||F||, dB. */
export function misalignmentDb(f: Float32Array, est: Float32Array): number {
  let d = 0
  let n = 0
  for (let i = 0; i < f.length; i++) {
    d += (f[i]! - (est[i] ?? 0)) ** 2
    n += f[i]! ** 2
  }
  return 10 * Math.log10(d / n)
}

export function checkLoopOptions(o: LoopOptions): void {
  const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `loop: ${f} ${m}`)
  numberIn(c, o.gainDb, 'gainDb', { min: -40, max: 20 })
  if (o.shiftHz !== undefined) numberIn(c, o.shiftHz, 'shiftHz', { min: 0, max: MAX_SHIFT_HZ })
  if (o.afc !== undefined && typeof o.afc !== 'boolean') checkAfcSettings(o.afc)
  if (o.probe !== undefined && typeof o.probe !== 'boolean') checkProbeOptions(o.probe, 'loop: probe')
  checkRoom(o.room, 'loop')
}

/** The classifier's feedback probability of the last 0.55 s of the loudspeaker feed (48 kHz mono; a 0.5 s patch of log-mel frames). */
export type LoopClassifier = (last: Float32Array) => Promise<number>

/** Every this many seconds the loop asks the classifier (as live inference does, one patch a 0.25 s hop). */
export const CLASSIFIER_HOP_S = 0.25

class LoopRun {
  readonly speaker: Float32Array
  readonly mic: Float32Array
  readonly alarms: FeedbackAlarm[] = []
  readonly notchChanges: Array<Notch & { t: number }> = []
  readonly fusion: HowlFusion
  readonly #planner: NotchPlanner | null
  readonly #loop: NativeLoop
  readonly #programme: Float32Array
  readonly #afc: AfcSettings | null
  readonly #probe: HowlProbe | null
  readonly #verdicts: ProbeVerdict[] = []
  /** The feed before the notches (probing only): what the detector and the probe read. */
  readonly #pre: Float32Array | null

  constructor(programme: Float32Array, o: LoopOptions) {
    checkLoopOptions(o)
    this.#programme = programme
    this.#probe = o.probe ? new HowlProbe(o.probe === true ? {} : o.probe) : null
    this.#pre = this.#probe ? new Float32Array(programme.length) : null
    // A verified howl keeps a notch: probing implies suppression.
    this.#planner = o.suppress || this.#probe ? new NotchPlanner(1, o.limits ?? {}) : null
    const features = loadNative().features as { FeedbackLoop: new (opts: unknown) => NativeLoop }
    this.#afc = o.afc ? checkAfcSettings(o.afc === true ? {} : o.afc) : null
    const thresholds = o.thresholds ?? (o.shiftHz ? SHIFTED_HOWL_THRESHOLDS : undefined)
    this.#loop = new features.FeedbackLoop({
      gainDb: o.gainDb,
      room: { ...o.room, maxSeconds: 0.25 },
      afc: this.#afc ?? undefined,
      ...(thresholds ? { thresholds } : {}),
      ...(this.#probe ? { tap: 'pre' } : {}),
    })
    // The fusion knows the loop's shift (a shifted howl glides: HowlFusionOptions.shiftHz) unless told otherwise.
    this.fusion = new HowlFusion({ shiftHz: o.shiftHz ?? 0, ...o.fusion })
    this.speaker = new Float32Array(programme.length)
    this.mic = new Float32Array(programme.length)
    for (const n of o.notches ?? []) this.#loop.setNotch(n.slot, n.hz, n.gainDb, n.q, n.enabled)
    // Set before the first sample: the shifter starts at its shift (its glide ends inside the first 50 ms).
    if (o.shiftHz) this.#loop.setShiftHz(o.shiftHz)
  }

  #apply(t: number, ns: Notch[]): void {
    for (const n of ns) {
      this.#loop.setNotch(n.slot, n.hz, n.gainDb, n.q, n.enabled)
      this.notchChanges.push({ ...n, t })
    }
  }

  /** One chunk from sample i; returns the sample after it. */
  step(i: number, chunk: number): number {
    const r = this.#loop.run(this.#programme.subarray(i, Math.min(this.#programme.length, i + chunk)))
    this.speaker.set(r.speaker, i)
    this.mic.set(r.mic, i)
    const t = (i + r.speaker.length) / 48000
    const frames = decodeRows(r.rows)
    const planner = this.#planner
    if (frames.length === 0) this.fusion.push(t, 0, [])
    if (this.#probe && planner) {
      this.#probeStep(i + r.speaker.length, t, r.pre!, frames, this.#probe, planner)
      return i + r.speaker.length
    }
    for (const fr of frames) {
      const a = this.fusion.push(fr.t, 0, fr.candidates)
      this.alarms.push(...a)
      if (planner) {
        for (const al of a) this.#apply(fr.t, planner.alarm(al))
        this.#apply(fr.t, planner.observe(fr.t, 0, fr.candidates))
      }
    }
    if (planner) this.#apply(t, planner.tick(t))
    return i + r.speaker.length
  }

  // Probing: the fusion's alarms and loose candidates start probes (a fusion alarm at a notch the
  // planner holds is that howl back: the planner deepens it); the probes' verdicts make the alarms.
  #probeStep(end: number, t: number, pre: Float32Array, frames: ReturnType<typeof decodeRows>, probe: HowlProbe, planner: NotchPlanner): void {
    const p = this.#pre!
    p.set(pre, end - pre.length)
    const notched = (hz: number) => planner.notches().some((n) => Math.abs(n.hz - hz) <= Math.max(5, hz / n.q / 2))
    for (const fr of frames) {
      for (const al of this.fusion.push(fr.t, 0, fr.candidates)) {
        if (notched(al.hz)) {
          this.alarms.push(al)
          this.#apply(fr.t, planner.alarm(al))
        } else this.#apply(fr.t, probe.trigger(fr.t, 0, al.hz, al, notched))
      }
      this.#apply(fr.t, probe.observe(fr.t, 0, fr.candidates, notched))
      this.#apply(fr.t, planner.observe(fr.t, 0, fr.candidates))
    }
    const s = probe.measure(
      t,
      (hz) => lineLevelDb(p, end, hz),
      planner.notches().map((n) => n.hz),
    )
    this.#apply(t, s.notches)
    this.#verdicts.push(...s.verdicts)
    for (const al of s.alarms) {
      this.alarms.push(al)
      this.#apply(t, planner.alarm(al))
    }
    this.#apply(t, planner.tick(t))
  }

  result(): LoopResult {
    const { speaker, mic, alarms, notchChanges } = this
    const r: LoopResult = { speaker, mic, alarms, notchChanges, notches: this.#planner?.notches() ?? [], criticalHz: this.#loop.criticalHz }
    if (this.#afc) {
      const h = this.#loop.impulseResponse
      r.afc = { settings: this.#afc, misalignmentDb: misalignmentDb(h, this.#loop.afcTaps(h.length)) }
    }
    if (this.#probe) r.probe = { verdicts: this.#verdicts, started: this.#probe.started, probeSeconds: this.#probe.probeSeconds }
    return r
  }
}

/** Runs programme (48 kHz mono) through the loop. */
export function runLoop(programme: Float32Array, o: LoopOptions): LoopResult {
  const run = new LoopRun(programme, o)
  const chunk = o.chunk ?? 1024
  for (let i = 0; i < programme.length; ) i = run.step(i, chunk)
  return run.result()
}

/**
 * The loop with the classifier's second opinion: every CLASSIFIER_HOP_S the last 0.55 s of the
 * loudspeaker feed goes to `classify` and its feedback probability to the fusion
 * (HowlFusion.classifier), as LiveInference does on the unit. The loop waits for each answer (a
 * simulation; on the unit the answer comes one tick or so later).
 */
export async function runLoopWithClassifier(programme: Float32Array, o: LoopOptions, classify: LoopClassifier): Promise<LoopResult> {
  const run = new LoopRun(programme, o)
  const chunk = o.chunk ?? 1024
  const hop = Math.round(CLASSIFIER_HOP_S * 48000)
  let next = 26400
  for (let i = 0; i < programme.length; ) {
    i = run.step(i, chunk)
    if (i >= next) {
      next += hop
      run.fusion.classifier(i / 48000, await classify(run.speaker.subarray(i - 26400, i)))
    }
  }
  return run.result()
}

/** RMS level (dBFS) of x over [from, to) seconds. */
export function rmsDb(x: Float32Array, from = 0, to = x.length / 48000): number {
  const a = Math.max(0, Math.floor(from * 48000))
  const b = Math.min(x.length, Math.floor(to * 48000))
  let s = 0
  for (let i = a; i < b; i++) s += x[i]! * x[i]!
  return 10 * Math.log10(s / Math.max(1, b - a) + 1e-20)
}
