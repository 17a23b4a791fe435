// Feedback: the howl detector's candidates (addons/src/features/howl_detector.h, published by the
// feature tap on every 21 ms analysis frame that has any) fused with the classifier's feedback
// score into alarms, and the notch plan a feedback suppressor follows. Pure: no clock, no I/O;
// every call carries its own time. The automation (firmware/automation/feedback.ts) runs the plan
// under the advisory / supervised / auto modes; `firmware process` runs it on a simulated loop.

import { FirmwareError } from '../errors.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'

/** One howl candidate, as the native detector publishes it (HOWL_FLOATS floats). */
export interface HowlCandidate {
  hz: number
  /** Level of the peak as a sine, dBFS. */
  levelDb: number
  /** Least-squares slope of the peak's level over its last 12 frames, dB/s. */
  growthDbPerS: number
  paprDb: number
  phprDb: number
  pnprDb: number
  /** Inter-frame peak magnitude persistence: share of the last 12 frames the peak was there. */
  ipmp: number
  ageFrames: number
  /** R^2 of the straight line growthDbPerS is the slope of (0 under 3 frames). */
  fitR2: number
  /** Largest rise from one frame to the next over those frames, dB. */
  maxStepDb: number
  /** Slope of the strongest bin at x0.5, x2 and x3 its frequency over the same frames, dB/s (a note's partials swell with it). */
  harmonicGrowthDbPerS: number
  /**
   * The fast line analysis of the candidate's peak (a demodulator at its frequency read every 128
   * samples, over the last 43 ms): 1 when, since the previous frame, its envelope rose straight and
   * fast at a steady frequency (HowlThresholds line*), 0 when not, -1 when the peak has no follower.
   */
  lineHowl: number
  /** That envelope's slope, dB/s; the RMS residual of its straight fit, dB; its second half's slope over its first's; its frequency's standard deviation, Hz. */
  lineGrowthDbPerS: number
  lineResidualDb: number
  lineBend: number
  lineHzStd: number
}

export const HOWL_FLOATS = 16

/** Decodes packed candidates (HOWL_FLOATS floats each). A trailing partial record (a layout this
 *  decoder does not know) is not read: half a candidate would be fields of undefined. */
export function decodeCandidates(packed: Float32Array, offset = 0, count = Math.floor(packed.length / HOWL_FLOATS), stride = HOWL_FLOATS): HowlCandidate[] {
  const out: HowlCandidate[] = []
  for (let i = 0; i < count; i++) {
    const o = offset + i * stride
    out.push({
      hz: packed[o]!,
      levelDb: packed[o + 1]!,
      growthDbPerS: packed[o + 2]!,
      paprDb: packed[o + 3]!,
      phprDb: packed[o + 4]!,
      pnprDb: packed[o + 5]!,
      ipmp: packed[o + 6]!,
      ageFrames: packed[o + 7]!,
      fitR2: packed[o + 8]!,
      maxStepDb: packed[o + 9]!,
      harmonicGrowthDbPerS: packed[o + 10]!,
      lineHowl: packed[o + 11]!,
      lineGrowthDbPerS: packed[o + 12]!,
      lineResidualDb: packed[o + 13]!,
      lineBend: packed[o + 14]!,
      lineHzStd: packed[o + 15]!,
    })
  }
  return out
}

/**
 * Rows of the offline detector (`features.howl`, `FeedbackLoop.run`): 1 + HOWL_FLOATS floats a row, the frame's
 * time (s) then a candidate. Grouped by frame time.
 */
export function decodeRows(rows: Float32Array, t0 = 0): Array<{ t: number; candidates: HowlCandidate[] }> {
  const out: Array<{ t: number; candidates: HowlCandidate[] }> = []
  for (let i = 0; i + 1 + HOWL_FLOATS <= rows.length; i += 1 + HOWL_FLOATS) {
    const t = t0 + rows[i]!
    const c = decodeCandidates(rows, i + 1, 1)[0]!
    const last = out[out.length - 1]
    if (last && last.t === t) last.candidates.push(c)
    else out.push({ t, candidates: [c] })
  }
  return out
}

export interface FeedbackAlarm {
  t: number
  output: number
  hz: number
  /** Level of the howl as a sine, dBFS. */
  levelDb: number
  growthDbPerS: number
  /** What raised it: a peak that keeps growing, one that rings steadily, or either with the classifier's say-so. */
  reason: 'growing' | 'ringing'
  /** The classifier's feedback probability near t (0 when unknown). */
  classifier: number
}

export interface HowlFusionOptions {
  /** Growth windows: frames (21 ms each), least slope dB/s, least R^2 of the straight fit, least rise dB. */
  growthWindows: Array<{ frames: number; minSlope: number; minR2: number; minRise: number }>
  /** Largest frame-to-frame step of a growing peak, dB. Defaults to 6. */
  maxStepDb: number
  /** No alarm for a peak with a PAPR under this (a tone well under the programme). Defaults to 18 dB. */
  minPaprDb: number
  /** A growing peak must hold its frequency within this (Hz) over the window judged. Defaults to 3. */
  growHoldHz: number
  /** A candidate that holds its frequency (within holdHz) this long raises an alarm without growing. Defaults to 3 s. */
  ringS: number
  holdHz: number
  /** With the classifier's feedback probability at or above classifierMin within the last second, ringS is ringWithClassifierS. Defaults to 0.5 and 1.5 s (0.5 s let the classifier's spikes on held music notes double the false alarms: docs/feedback.md). */
  classifierMin: number
  ringWithClassifierS: number
  /**
   * A candidate that holds its frequency and holds most of the frame's power (PAPR at least
   * loudRingPaprDb) at a level of at least loudRingLevelDb (dBFS as a sine: near the top of the
   * output's range, where a howl saturates the loudspeaker or its limiter) raises an alarm after
   * loudRingS. Defaults to 24 dB, -12 dBFS and 1 s (a solo note held over quiet accompaniment
   * reached PAPR 24 at -18 dBFS).
   */
  loudRingPaprDb: number
  loudRingLevelDb: number
  loudRingS: number
  /**
   * Readings outside the holdHz band this many frames in a row start the hold again: for ringing,
   * and for the loud ring. Defaults to 1 and 3 (3 for ringing let held notes ring with the
   * classifier's say-so: docs/feedback.md).
   */
  holdOutliers: number
  loudRingOutliers: number
  /** A track with no candidate for this long has ended. Defaults to 0.3 s (a howl beside a ringing neighbour mode drops out for a few frames). */
  gapS: number
  /**
   * A growing peak must reach a new height: its level now at least this much (dB) over the most it
   * had before the window judged, over the last historyS seconds of its track. A held note's
   * tremolo, beating or swell comes back to a level it had; a howl climbs past every earlier one.
   * Defaults to 3 dB over 1 s (beyond the 1 s of points the windows see; a howl that grows out of a loud speech formant 3 s earlier must still count).
   */
  newHighDb: number
  historyS: number
  /**
   * A growing peak whose harmonics (the strongest bin at x0.5, x2, x3 its frequency) grow with it,
   * at swellMin to swellMax times its own growth over the detector's last 12 frames, is a note
   * swelling (a string or flute note's partials swell together), not a howl. Beyond swellMax the
   * harmonics are the loudspeaker's distortion of a howl (a cubic term grows 3x as fast). Defaults
   * to 0.7 and 2; swellMin 0 turns it off.
   */
  swellMin: number
  swellMax: number
  /**
   * The fast line analysis's verdict (lineHowl: the candidate's envelope, read every 128 samples,
   * rose straight at lineMinGrowthDbPerS or more over 43 ms without bending, at a steady frequency)
   * raises a growing alarm at once, for a peak with a PAPR of at least lineMinPaprDb. Defaults to
   * off and 14 dB: on the tuning set the verdict did not tell howls from the onsets of sampled
   * notes (docs/feedback.md, fourth round). With it on, run the detector with lineStage too.
   */
  lineAlarm: boolean
  lineMinPaprDb: number
  /**
   * The frequency shift (Hz) on the output the candidates come from (0: none). With a shift df a
   * howl does not stand still: it rises df per loop round trip (tens to hundreds of Hz/s), fades as
   * it leaves the loop's peak and re-forms below it. With shiftHz > 0 a growing peak may glide
   * upward at up to shiftHz / minRoundTripS Hz/s (its readings within
   * growHoldHz of a straight rise instead of within growHoldHz of each other), a track follows a
   * line up to max(12, shiftWrapFactor x shiftHz) Hz from its last reading (so the re-formed line
   * stays the same howl) and rings when its readings stay within that band; the alarm's frequency is
   * the middle of the band the howl grew or rang in: where it keeps re-forming, the loop's peak.
   * Defaults to 0 (off), 0.005 s and 6.
   */
  shiftHz: number
  minRoundTripS: number
  shiftWrapFactor: number
  /**
   * With a shift, a saturated howl comes back again and again at each of the loop's peaks in turn,
   * each time for a few frames: a track (within the band above) lives on through gaps of up to
   * shiftGapS, and once shiftLoudFrames of its readings were loud (PAPR >= minPaprDb, level >=
   * loudRingLevelDb) it raises a ringing alarm at the middle of the band it re-formed in.
   * Defaults to 2 s and 8.
   */
  shiftGapS: number
  shiftLoudFrames: number
}

/**
 * The native detector's thresholds (HowlThresholds, by name) on an output with a frequency shift on:
 * a shifted howl is not one line but a comb of components df apart that wraps around the loop's
 * peak, so its peak stands less far over its neighbours 3..6 bins away (PNPR) than a steady howl's.
 */
export const SHIFTED_HOWL_THRESHOLDS: Record<string, number> = { pnprDb: 6 }

export const DEFAULT_FUSION: HowlFusionOptions = {
  growthWindows: [
    { frames: 5, minSlope: 40, minR2: 0.9, minRise: 3 },
    { frames: 8, minSlope: 18, minR2: 0.8, minRise: 3 },
    { frames: 14, minSlope: 8, minR2: 0.8, minRise: 3 },
    { frames: 47, minSlope: 3, minR2: 0.7, minRise: 4 },
  ],
  maxStepDb: 6,
  minPaprDb: 18,
  growHoldHz: 3,
  ringS: 3,
  holdHz: 3,
  classifierMin: 0.5,
  ringWithClassifierS: 1.5,
  loudRingPaprDb: 24,
  loudRingLevelDb: -12,
  loudRingS: 1,
  holdOutliers: 1,
  loudRingOutliers: 3,
  gapS: 0.3,
  newHighDb: 3,
  historyS: 1,
  swellMin: 0.7,
  swellMax: 2,
  lineAlarm: false,
  lineMinPaprDb: 14,
  shiftHz: 0,
  minRoundTripS: 0.005,
  shiftWrapFactor: 6,
  shiftGapS: 2,
  shiftLoudFrames: 8,
}

interface Track {
  output: number
  hz: number
  firstT: number
  lastT: number
  minLevel: number
  points: Array<{ t: number; level: number; hz: number }>
  /** Older levels (beyond points), for the new-height rule: [t, level]. */
  history: Array<[number, number]>
  /** How long the frequency has held (for ringing), and the same with isolated outliers allowed (for the loud ring). */
  hold: Hold
  loudHold: Hold
  alarmed: boolean
  /** Loud readings (shift on) and the band they were in. */
  loud: number
  loudMin: number
  loudMax: number
}

/** Since t the frequency has stayed within [hzMin, hzMax] (at most holdHz wide). */
interface Hold {
  t: number
  hzMin: number
  hzMax: number
  /** Readings outside the band in a row. */
  outliers: number
}

// A reading outside the holdHz band for `outliers` frames in a row starts the hold again from
// there; with outliers > 1 a lone reading off by a few Hz (a howl's estimate beside a neighbouring
// mode that also rings, or under a loud note) does not. Vibrato moves a note out of the band for
// several frames in a row.
function holdAt(h: Hold, t: number, hz: number, holdHz: number, outliers: number): void {
  if (Math.max(h.hzMax, hz) - Math.min(h.hzMin, hz) > holdHz) {
    if (++h.outliers >= outliers) {
      h.t = t
      h.hzMin = hz
      h.hzMax = hz
      h.outliers = 0
    }
  } else {
    h.hzMin = Math.min(h.hzMin, hz)
    h.hzMax = Math.max(h.hzMax, hz)
    h.outliers = 0
  }
}

/** Readings that rise (at 0 to maxHzPerS) along a straight line, every one within tolHz of it: a howl gliding with a shift. */
function gliding(p: Array<{ t: number; hz: number }>, tolHz: number, maxHzPerS: number): boolean {
  const b = slope(p.map((q) => ({ t: q.t, level: q.hz })))
  if (b < 0 || b > maxHzPerS) return false
  const mt = p.reduce((s, q) => s + q.t, 0) / p.length
  const mf = p.reduce((s, q) => s + q.hz, 0) / p.length
  return p.every((q) => Math.abs(q.hz - (mf + b * (q.t - mt))) <= tolHz)
}

function slope(points: Array<{ t: number; level: number }>): number {
  const n = points.length
  if (n < 3) return 0
  let sx = 0
  let sy = 0
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sx += p.t
    sy += p.level
    sxx += p.t * p.t
    sxy += p.t * p.level
  }
  const d = n * sxx - sx * sx
  return d > 0 ? (n * sxy - sx * sy) / d : 0
}

/**
 * Fuses the detector's candidates with the classifier: one alarm per howl (a track of candidates
 * at one frequency on one output), raised when it keeps growing or rings steadily.
 */
export class HowlFusion {
  readonly #o: HowlFusionOptions
  #tracks: Track[] = []
  #classifierT = -Infinity
  #classifierP = 0

  constructor(opts: Partial<HowlFusionOptions> = {}) {
    this.#o = { ...DEFAULT_FUSION, ...opts }
  }

  /** The classifier's feedback probability at time t. */
  classifier(t: number, pFeedback: number): void {
    this.#classifierT = t
    this.#classifierP = pFeedback
  }

  /** Howls being followed now: output, frequency, level. */
  active(): Array<{ output: number; hz: number; levelDb: number; alarmed: boolean }> {
    return this.#tracks.map((k) => ({ output: k.output, hz: k.hz, levelDb: k.points[k.points.length - 1]?.level ?? -Infinity, alarmed: k.alarmed }))
  }

  // Growing: over one of the windows (the last `frames` frames, consecutive), a straight rise
  // (least squares, R^2 >= minR2) of at least minSlope dB/s and minRise dB, no frame-to-frame step
  // above maxStepDb (a note's attack is one big step) and the frequency held within growHoldHz (a
  // played note's vibrato moves it; a howl holds still).
  #growing(k: Track): Array<{ t: number; hz: number }> | null {
    const o = this.#o
    for (const w of o.growthWindows) {
      const p = k.points.slice(-w.frames)
      if (p.length < w.frames || p[p.length - 1]!.t - p[0]!.t > (w.frames + 1) * 0.0214) continue
      if (p.some((q, i) => i > 0 && q.level - p[i - 1]!.level > o.maxStepDb)) continue
      const t0 = p[0]!.t
      let before = -Infinity
      for (const q of k.points) if (q.t < t0) before = Math.max(before, q.level)
      for (const [ht, hl] of k.history) if (ht < t0) before = Math.max(before, hl)
      if (p[p.length - 1]!.level < before + o.newHighDb) continue
      if (
        o.shiftHz > 0
          ? !gliding(p, o.growHoldHz, o.shiftHz / o.minRoundTripS)
          : Math.max(...p.map((q) => q.hz)) - Math.min(...p.map((q) => q.hz)) > o.growHoldHz
      )
        continue
      const b = slope(p)
      if (b < w.minSlope || p[p.length - 1]!.level - p[0]!.level < w.minRise) continue
      const mt = p.reduce((s, q) => s + q.t, 0) / p.length
      const ml = p.reduce((s, q) => s + q.level, 0) / p.length
      let res = 0
      let tot = 0
      for (const q of p) {
        res += (q.level - (ml + b * (q.t - mt))) ** 2
        tot += (q.level - ml) ** 2
      }
      if (tot > 0 && 1 - res / tot >= w.minR2) return p
    }
    return null
  }

  /** One analysis frame's candidates of one output (an empty list when it had none). Returns new alarms. */
  push(t: number, output: number, candidates: readonly HowlCandidate[]): FeedbackAlarm[] {
    const o = this.#o
    const gapS = o.shiftHz > 0 ? Math.max(o.gapS, o.shiftGapS) : o.gapS
    this.#tracks = this.#tracks.filter((k) => t - k.lastT <= gapS + 1e-9)
    const alarms: FeedbackAlarm[] = []
    const cls = t - this.#classifierT <= 1 ? this.#classifierP : 0
    // With a shift the howl glides and re-forms within a band around the loop's peak.
    const follow = o.shiftHz > 0 ? Math.max(o.holdHz * 4, 12, o.shiftWrapFactor * o.shiftHz) : Math.max(o.holdHz * 4, 12)
    const holdHz = o.shiftHz > 0 ? follow : o.holdHz
    for (const c of candidates) {
      let k = this.#tracks.find((x) => x.output === output && x.lastT < t && Math.abs(x.hz - c.hz) <= follow)
      if (!k) {
        k = {
          output,
          hz: c.hz,
          firstT: t,
          lastT: t,
          minLevel: c.levelDb,
          points: [],
          history: [],
          hold: { t, hzMin: c.hz, hzMax: c.hz, outliers: 0 },
          loudHold: { t, hzMin: c.hz, hzMax: c.hz, outliers: 0 },
          alarmed: false,
          loud: 0,
          loudMin: Infinity,
          loudMax: -Infinity,
        }
        this.#tracks.push(k)
      }
      k.hz = c.hz
      k.lastT = t
      k.minLevel = Math.min(k.minLevel, c.levelDb)
      holdAt(k.hold, t, c.hz, holdHz, o.holdOutliers)
      holdAt(k.loudHold, t, c.hz, holdHz, o.loudRingOutliers)
      k.points.push({ t, level: c.levelDb, hz: c.hz })
      if (k.points.length > 50) {
        const old = k.points.shift()!
        k.history.push([old.t, old.level])
        while (k.history.length > 0 && t - k.history[0]![0] > o.historyS) k.history.shift()
      }
      if (k.alarmed) continue
      const growth = slope(k.points)
      // Loud enough to matter: a peak with PAPR p holds about p - 24 dB of the frame's power
      // (683 analysed bins, 3 in the main lobe), so minPaprDb 18 is a tone 6 dB under the rest.
      const loud = c.paprDb >= o.minPaprDb
      const g = Math.max(0, c.growthDbPerS)
      const swelling = o.swellMin > 0 && c.harmonicGrowthDbPerS >= o.swellMin * g && c.harmonicGrowthDbPerS < o.swellMax * g
      const line = o.lineAlarm && c.lineHowl >= 1 && c.paprDb >= o.lineMinPaprDb
      const grew = loud && !swelling ? this.#growing(k) : null
      const growing = line || grew !== null
      const ringFor = cls >= o.classifierMin ? o.ringWithClassifierS : o.ringS
      // A line that holds most of the frame's power (PAPR >= loudRingPaprDb: about 20 dB over
      // the rest of the programme, as a saturated howl does) rings sooner.
      const loudRing = c.paprDb >= o.loudRingPaprDb && c.levelDb >= o.loudRingLevelDb && t - k.loudHold.t >= o.loudRingS
      if (o.shiftHz > 0 && loud && c.levelDb >= o.loudRingLevelDb) {
        k.loud++
        k.loudMin = Math.min(k.loudMin, c.hz)
        k.loudMax = Math.max(k.loudMax, c.hz)
      }
      const reforming = o.shiftHz > 0 && k.loud >= o.shiftLoudFrames
      const ringing = loud && (t - k.hold.t >= ringFor || loudRing || reforming)
      if (growing || ringing) {
        k.alarmed = true
        // Shifted: the middle of the band it grew in (or rang in): where the howl keeps re-forming.
        const band = grew ?? k.points.filter((q) => q.t >= (ringing && !growing ? k.hold.t : t))
        const hz =
          o.shiftHz <= 0 || band.length === 0
            ? c.hz
            : reforming && !grew
              ? (k.loudMin + k.loudMax) / 2
              : (Math.min(...band.map((q) => q.hz)) + Math.max(...band.map((q) => q.hz))) / 2
        alarms.push({
          t,
          output,
          hz: Math.round(hz * 10) / 10,
          levelDb: Math.round(c.levelDb * 10) / 10,
          growthDbPerS: Math.round(growth * 10) / 10,
          reason: growing ? 'growing' : 'ringing',
          classifier: Math.round(cls * 1000) / 1000,
        })
      }
    }
    return alarms
  }
}

// ---------------------------------------------------------------------------------------------
// The notch plan.

/** Notch slots per output, as the engine (kNotches) and the simulated loop (AcousticLoop::kNotches) have them. */
export const MAX_NOTCHES = 32

export interface NotchLimits {
  /** Notches per output, 1 to MAX_NOTCHES (32). Defaults to 16 (docs/feedback.md, fifth round). */
  maxNotches: number
  /** Quality factor of every notch, 30 to 200. Defaults to 40 (about 1/40 octave... 25 Hz wide at 1 kHz). */
  q: number
  /** Depth of a new notch and of each deepening step, dB (negative), -1 to -12. Defaults to -9 and -3. */
  firstDepthDb: number
  stepDb: number
  /** Deepest a notch may go, dB, -3 to -30. Defaults to -18. */
  maxDepthDb: number
  /** A notch whose howl has not come back for this long starts its release, s, 1 to 3600. Defaults to 20. */
  releaseAfterS: number
  /** Each release step (stepDb back toward flat) takes this long, s, 0.1 to 600. Defaults to 2. */
  releaseStepS: number
  /** A howl still there this long after a notch was placed or deepened deepens it, s. Defaults to 0.25. */
  deepenAfterS: number
}

export const DEFAULT_NOTCH_LIMITS: NotchLimits = {
  maxNotches: 16,
  q: 40,
  firstDepthDb: -9,
  stepDb: -3,
  maxDepthDb: -18,
  releaseAfterS: 20,
  releaseStepS: 2,
  deepenAfterS: 0.25,
}

/** Checks notch limits from outside (a command, an option): FW_ERR_FEEDBACK_SETTINGS, nothing changed. */
export function checkNotchLimits(v: Partial<Record<keyof NotchLimits, unknown>>, where = 'feedback'): Partial<NotchLimits> {
  const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `${where}: ${f} ${m}`)
  const out: Partial<NotchLimits> = {}
  const known = Object.keys(DEFAULT_NOTCH_LIMITS)
  for (const k of Object.keys(v))
    if (!known.includes(k)) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `${where}: unknown setting ${k} (known: ${known.join(', ')})`)
  if (v.maxNotches !== undefined) out.maxNotches = wholeNumberIn(c, v.maxNotches, 'maxNotches', 1, MAX_NOTCHES)
  if (v.q !== undefined) out.q = numberIn(c, v.q, 'q', { min: 30, max: 200 })
  if (v.firstDepthDb !== undefined) out.firstDepthDb = numberIn(c, v.firstDepthDb, 'firstDepthDb', { min: -12, max: -1 })
  if (v.stepDb !== undefined) out.stepDb = numberIn(c, v.stepDb, 'stepDb', { min: -12, max: -1 })
  if (v.maxDepthDb !== undefined) out.maxDepthDb = numberIn(c, v.maxDepthDb, 'maxDepthDb', { min: -30, max: -3 })
  if (v.releaseAfterS !== undefined) out.releaseAfterS = numberIn(c, v.releaseAfterS, 'releaseAfterS', { min: 1, max: 3600 })
  if (v.releaseStepS !== undefined) out.releaseStepS = numberIn(c, v.releaseStepS, 'releaseStepS', { min: 0.1, max: 600 })
  if (v.deepenAfterS !== undefined) out.deepenAfterS = numberIn(c, v.deepenAfterS, 'deepenAfterS', { min: 0.05, max: 10 })
  const merged = { ...DEFAULT_NOTCH_LIMITS, ...out }
  if (merged.firstDepthDb < merged.maxDepthDb) {
    throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `${where}: firstDepthDb ${merged.firstDepthDb} is deeper than maxDepthDb ${merged.maxDepthDb}`)
  }
  return out
}

/** One notch slot of one output, as the engine takes it (a peaking biquad). */
export interface Notch {
  output: number
  slot: number
  hz: number
  gainDb: number
  q: number
  enabled: boolean
}

interface Slot {
  hz: number
  gainDb: number
  lastHit: number
  lastChange: number
  enabled: boolean
}

/**
 * Where notches go: a new howl gets a free slot (or the one whose howl is oldest) at firstDepthDb;
 * a howl still there deepenAfterS later deepens its notch by stepDb down to maxDepthDb; a notch
 * whose howl stays away releaseAfterS climbs back by stepDb every releaseStepS and frees its slot
 * at 0 dB. Returns the changed slots; applying them (or not) is the caller's business.
 */
export class NotchPlanner {
  #limits: NotchLimits
  readonly #slots: Slot[][]

  constructor(outputs: number, limits: Partial<NotchLimits> = {}) {
    this.#limits = { ...DEFAULT_NOTCH_LIMITS, ...checkNotchLimits(limits) }
    this.#slots = Array.from({ length: outputs }, () =>
      Array.from({ length: this.#limits.maxNotches }, () => ({ hz: 1000, gainDb: 0, lastHit: -Infinity, lastChange: -Infinity, enabled: false })),
    )
  }

  get limits(): NotchLimits {
    return { ...this.#limits }
  }

  /**
   * New limits, checked whole before any is taken (FW_ERR_FEEDBACK_SETTINGS: nothing changed).
   * A smaller maxNotches applies to new howls; notches in place stay until released.
   */
  setLimits(limits: Partial<NotchLimits>): NotchLimits {
    const checked = checkNotchLimits({ ...this.#limits, ...limits })
    if (checked.maxNotches !== undefined && checked.maxNotches > this.#slots[0]!.length) {
      throw new FirmwareError(
        'FW_ERR_FEEDBACK_SETTINGS',
        `feedback: maxNotches ${checked.maxNotches} is more than the ${this.#slots[0]!.length} slots this suppressor was made with`,
      )
    }
    this.#limits = { ...DEFAULT_NOTCH_LIMITS, ...checked }
    return this.limits
  }

  /** The notches in use now. */
  notches(): Notch[] {
    return this.#slots.flatMap((ss, output) =>
      ss.flatMap((s, slot) => (s.enabled ? [{ output, slot, hz: s.hz, gainDb: s.gainDb, q: this.#limits.q, enabled: true }] : [])),
    )
  }

  #near(output: number, hz: number): number {
    const ss = this.#slots[output] ?? []
    // Within half the notch's bandwidth (or 5 Hz): the same howl.
    return ss.findIndex((s) => s.enabled && Math.abs(s.hz - hz) <= Math.max(5, hz / this.#limits.q / 2))
  }

  #notch(output: number, slot: number): Notch {
    const s = this.#slots[output]![slot]!
    return { output, slot, hz: s.hz, gainDb: s.gainDb, q: this.#limits.q, enabled: s.enabled }
  }

  /** An alarm: place a notch, or deepen the one already there. */
  alarm(a: FeedbackAlarm): Notch[] {
    const ss = this.#slots[a.output]
    if (!ss) return []
    const L = this.#limits
    const i = this.#near(a.output, a.hz)
    if (i >= 0) {
      const s = ss[i]!
      s.lastHit = a.t
      if (a.t - s.lastChange < L.deepenAfterS || s.gainDb <= L.maxDepthDb) return []
      s.gainDb = Math.max(L.maxDepthDb, s.gainDb + L.stepDb)
      s.lastChange = a.t
      return [this.#notch(a.output, i)]
    }
    let free = ss.findIndex((s, k) => k < L.maxNotches && !s.enabled)
    if (free < 0) {
      free = 0
      for (let k = 1; k < Math.min(ss.length, L.maxNotches); k++) if (ss[k]!.lastHit < ss[free]!.lastHit) free = k
    }
    ss[free] = { hz: a.hz, gainDb: L.firstDepthDb, lastHit: a.t, lastChange: a.t, enabled: true }
    return [this.#notch(a.output, free)]
  }

  /** The detector's candidates of one frame: a howl still there at a notch deepens it; hits keep notches from releasing. */
  observe(t: number, output: number, candidates: readonly HowlCandidate[]): Notch[] {
    const ss = this.#slots[output]
    if (!ss) return []
    const L = this.#limits
    const out: Notch[] = []
    for (const c of candidates) {
      const i = this.#near(output, c.hz)
      if (i < 0) continue
      const s = ss[i]!
      s.lastHit = t
      // Still howling (not decaying fast) after the notch had time to act: deeper.
      if (c.growthDbPerS > -20 && t - s.lastChange >= L.deepenAfterS && s.gainDb > L.maxDepthDb) {
        s.gainDb = Math.max(L.maxDepthDb, s.gainDb + L.stepDb)
        s.lastChange = t
        out.push(this.#notch(output, i))
      }
    }
    return out
  }

  /** Time passes: notches whose howl stayed away climb back toward flat; at 0 dB the slot is free. */
  tick(t: number): Notch[] {
    const L = this.#limits
    const out: Notch[] = []
    for (const [output, ss] of this.#slots.entries()) {
      for (const [slot, s] of ss.entries()) {
        if (!s.enabled || t - s.lastHit < L.releaseAfterS || t - s.lastChange < L.releaseStepS) continue
        s.gainDb = Math.min(0, s.gainDb - L.stepDb)
        s.lastChange = t
        if (s.gainDb >= 0) {
          s.gainDb = 0
          s.enabled = false
        }
        out.push(this.#notch(output, slot))
      }
    }
    return out
  }

  /** Every notch back to flat at once (a rollback). */
  clear(): Notch[] {
    const out: Notch[] = []
    for (const [output, ss] of this.#slots.entries()) {
      for (const [slot, s] of ss.entries()) {
        if (!s.enabled) continue
        s.enabled = false
        s.gainDb = 0
        out.push(this.#notch(output, slot))
      }
    }
    return out
  }
}
