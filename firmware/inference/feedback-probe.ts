// Detection by probing (issue 13, sixth round; docs/feedback.md): only feedback depends on the
// loudspeaker. A narrow notch on the OUTPUT at a candidate's frequency breaks the loop there, so a
// howl's line read BEFORE the notch (the microphone side) stops growing and decays at the room's
// rate within about one round trip (17-83 ms on the bench's rooms), while a note from the stage goes
// on unchanged. A loose candidate (a peak rising over 3 frames) or a fusion alarm gets a short probe
// notch; a collapse of its line is a verified howl (an alarm, and the caller's planner keeps a notch
// there); no collapse releases the probe and holds that frequency off for a while. Pure: no clock,
// no I/O; the caller reads the line's level on the pre-notch feed (`lineLevelDb`) and applies the
// notches it is handed.
//
//   probe state   reading (line level, pre-notch)                 ->  action
//   (none)        loose candidate or fusion alarm, not held off,
//                 not notched, fewer than maxProbes on            ->  probe on: notch depthDb, Q q
//                 ... maxProbes on                                ->  waits (up to 1 s) for a probe to come off
//   new           first reading                                    ->  base = peak = that reading
//   on            level <= peak - collapseDb, after settleS, and
//                 stays down holdDownS                             ->  VERIFIED: alarm; probe off
//   on            down, then back up with the probe on             ->  released (beating, tremolo); held off
//   on            a partial (x2, x1/2, x1/3, x2/3, x3/2) near the line's
//                 level fell with it, or the programme around it  ->  released (a note ended); no hold-off
//   on            probeS passed, no collapse                       ->  released; held off holdOffS
//   on, loose     collapse (confirm 'loose'): probe off, watched   ->  watch
//   watch         the line grows back regrowDb within watchS       ->  VERIFIED: alarm
//   watch         it stays away watchS                             ->  released (a note ended); no hold-off
//
// Probe notches live in the top slots of the output's notch bank (MAX_NOTCHES - 1 downward), apart
// from the planner's; they glide and crossfade in and out like every notch (no click).

import { FirmwareError } from '../errors.ts'
import { checker, numberIn, oneOf, wholeNumberIn } from '../validate.ts'
import { type FeedbackAlarm, type HowlCandidate, MAX_NOTCHES, type Notch } from './feedback.ts'

export interface ProbeOptions {
  /** Probes on at once per output, 1 to 8. Defaults to 2. */
  maxProbes: number
  /** Depth of a probe notch, dB, -30 to -3. Defaults to -12. */
  depthDb: number
  /** Q of a probe notch, 20 to 200. Defaults to 40 (the planner's). */
  q: number
  /** A probe that has not seen its line collapse after this long is released, s, 0.05 to 2. Defaults to 0.3. */
  probeS: number
  /** No verdict before this long (the notch's crossfade and a round trip), s, 0 to probeS. Defaults to 0.04. */
  settleS: number
  /** The line (pre-notch) this far under the most it read since the probe went on: a collapse, dB, 2 to 30. Defaults to 6. */
  collapseDb: number
  /** After a probe that saw no collapse, no new probe within holdOffHz of it for this long, s, 0 to 600. Defaults to 10. */
  holdOffS: number
  /** Half-width of the hold-off (and of "the same line"), Hz. Defaults to 5 (or the notch's half-bandwidth, if wider). */
  holdOffHz: number
  /**
   * Loose candidates start probes (true), or only the fusion's alarms do (false: the probe is a
   * second opinion on the fusion, it can only take alarms away). Defaults to false: on the tuning
   * set loose probes verified a third of the notes they probed (docs/feedback.md, sixth round).
   */
  looseTrigger: boolean
  /** Loose candidate: this many readings in consecutive frames, each higher than the one before, 2 to 8. Defaults to 3. */
  looseFrames: number
  /** ... rising at least this much over them, dB. Defaults to 2. */
  looseRiseDb: number
  /** ... holding its frequency within this, Hz. Defaults to 3. */
  looseHoldHz: number
  /** ... with a PAPR of at least this, dB. Defaults to 12. */
  looseMinPaprDb: number
  /** ... at a level of at least this, dBFS as a sine. Defaults to -70. */
  looseMinLevelDb: number
  /**
   * A partial of the line (x2, x1/2, x1/3, x2/3, x3/2 its frequency) within partialDb of the line's level
   * when the probe went on that falls by at least collapseDb - partialSlackDb with it means a note
   * ended, not a loop broken: the probe is released without a verdict. Defaults to 20 and 3 dB;
   * partialDb 0 turns the check off.
   */
  partialDb: number
  partialSlackDb: number
  /**
   * The programme around the line (readings 1, 1.5, 2 and 2.5 times max(8 %, 200 Hz) either side)
   * falling by at least this much (dB, power mean) with the collapse means the programme changed
   * (a chord ended), not a loop broken: released without a verdict. Defaults to 3; 0 turns it off.
   */
  neighbourDropDb: number
  /**
   * Which collapses need the line to come back: a probe whose line collapsed is taken off, and only
   * a line that then grows back by regrowDb within watchS (the loop still closed there) is a howl; one
   * that stays away was a note that ended during the probe. 'loose' (the default): probes started by
   * a loose candidate (a note's attack looks like one; short notes end within the probe), not those
   * started by a fusion alarm; 'all'; 'none'. regrowDb defaults to 3, watchS to 0.3 s.
   */
  confirm: 'loose' | 'all' | 'none'
  regrowDb: number
  watchS: number
  /**
   * A collapse must last: the line stays at least collapseDb - 2 dB under its peak for this long
   * with the probe on (a howl stays down while the loop is broken; a beating or tremolo line dips
   * and comes back by itself: released, held off). Defaults to 0 (off): it helps with loose
   * probes (33 -> 21 false alarms on the tuning set) and costs howls with the fusion's (43 against 46 of 92).
   */
  holdDownS: number
}

export const DEFAULT_PROBE: ProbeOptions = {
  maxProbes: 2,
  depthDb: -12,
  q: 40,
  probeS: 0.3,
  settleS: 0.04,
  collapseDb: 6,
  holdOffS: 10,
  holdOffHz: 5,
  looseTrigger: false,
  looseFrames: 3,
  looseRiseDb: 2,
  looseHoldHz: 3,
  looseMinPaprDb: 12,
  looseMinLevelDb: -70,
  partialDb: 0,
  partialSlackDb: 3,
  neighbourDropDb: 0,
  confirm: 'loose',
  regrowDb: 3,
  watchS: 0.3,
  holdDownS: 0,
}

/** Refuses bad probe settings with FW_ERR_FEEDBACK_SETTINGS (nothing changed); returns them with the defaults filled in. */
export function checkProbeOptions(v: Partial<Record<keyof ProbeOptions, unknown>>, where = 'probe'): ProbeOptions {
  const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `${where}: ${f} ${m}`)
  const known = Object.keys(DEFAULT_PROBE)
  for (const k of Object.keys(v))
    if (!known.includes(k)) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `${where}: unknown setting ${k} (known: ${known.join(', ')})`)
  const o = { ...DEFAULT_PROBE, ...v } as Record<keyof ProbeOptions, unknown>
  const out: ProbeOptions = {
    maxProbes: wholeNumberIn(c, o.maxProbes, 'maxProbes', 1, 8),
    depthDb: numberIn(c, o.depthDb, 'depthDb', { min: -30, max: -3 }),
    q: numberIn(c, o.q, 'q', { min: 20, max: 200 }),
    probeS: numberIn(c, o.probeS, 'probeS', { min: 0.05, max: 2 }),
    settleS: numberIn(c, o.settleS, 'settleS', { min: 0, max: 2 }),
    collapseDb: numberIn(c, o.collapseDb, 'collapseDb', { min: 2, max: 30 }),
    holdOffS: numberIn(c, o.holdOffS, 'holdOffS', { min: 0, max: 600 }),
    holdOffHz: numberIn(c, o.holdOffHz, 'holdOffHz', { min: 0.5, max: 200 }),
    looseTrigger: o.looseTrigger === true,
    looseFrames: wholeNumberIn(c, o.looseFrames, 'looseFrames', 2, 8),
    looseRiseDb: numberIn(c, o.looseRiseDb, 'looseRiseDb', { min: 0, max: 40 }),
    looseHoldHz: numberIn(c, o.looseHoldHz, 'looseHoldHz', { min: 0.5, max: 50 }),
    looseMinPaprDb: numberIn(c, o.looseMinPaprDb, 'looseMinPaprDb', { min: 0, max: 60 }),
    looseMinLevelDb: numberIn(c, o.looseMinLevelDb, 'looseMinLevelDb', { min: -120, max: 0 }),
    partialDb: numberIn(c, o.partialDb, 'partialDb', { min: 0, max: 60 }),
    partialSlackDb: numberIn(c, o.partialSlackDb, 'partialSlackDb', { min: 0, max: 30 }),
    neighbourDropDb: numberIn(c, o.neighbourDropDb, 'neighbourDropDb', { min: 0, max: 30 }),
    confirm: oneOf(c, o.confirm, 'confirm', ['loose', 'all', 'none'] as const),
    regrowDb: numberIn(c, o.regrowDb, 'regrowDb', { min: 0.5, max: 30 }),
    watchS: numberIn(c, o.watchS, 'watchS', { min: 0.02, max: 2 }),
    holdDownS: numberIn(c, o.holdDownS, 'holdDownS', { min: 0, max: 1 }),
  }
  if (typeof o.looseTrigger !== 'boolean')
    throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `${where}: looseTrigger must be true or false, got ${JSON.stringify(o.looseTrigger)}`)
  if (out.settleS > out.probeS) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `${where}: settleS ${out.settleS} is longer than probeS ${out.probeS}`)
  return out
}

/** What a probe ended in. */
export interface ProbeVerdict {
  t: number
  output: number
  hz: number
  /** When the probe went on. */
  startT: number
  outcome: 'verified' | 'released' | 'note-ended'
  /** Started by a loose candidate (else by a fusion alarm). */
  loose: boolean
  /** The line's most (pre-notch, dBFS as a sine) while probed, and its last reading. */
  peakDb: number
  lastDb: number
}

/** The line's level (dBFS as a sine) at hz on the pre-notch feed now; the caller's reading. */
export type LineLevel = (hz: number) => number

/** What a step hands back: notch changes to apply, alarms of verified howls, verdicts. */
export interface ProbeStep {
  notches: Notch[]
  alarms: FeedbackAlarm[]
  verdicts: ProbeVerdict[]
}

interface Probe {
  output: number
  slot: number
  hz: number
  startT: number
  reason: FeedbackAlarm['reason']
  growthDbPerS: number
  /** Undefined until the first reading. */
  peakDb?: number
  lastDb: number
  partials: Array<{ hz: number; db: number }>
  neighbourDb: number
  /** Started by a loose candidate (not a fusion alarm). */
  loose: boolean
  /** Collapsed and taken off, waiting for the line to come back: since when, and its lowest reading. */
  watchT?: number
  floorDb: number
  /** When the line first collapsed (the hold-down runs from there). */
  downT?: number
}

interface Loose {
  output: number
  hz: number
  points: Array<{ t: number; level: number; hz: number }>
}

// Not x3: a saturating loudspeaker (tanh, odd) puts a howl's own third harmonic there, which collapses with it.
/** How long a trigger waits for a free probe, s. */
const PENDING_S = 1

const PARTIALS = [2, 1 / 2, 1 / 3, 2 / 3, 3 / 2]

/** Readings within this of another probe or a notch are left out of the partial and neighbourhood checks (3 bins of 2048 at 48 kHz): that line falls because of its own notch. */
const CLEAR_HZ = 70

/** Power mean (dB) of the line's neighbourhood: d, 1.5d, 2d, 2.5d either side, d = max(8 %, 200 Hz) (8.5 bins and more: clear of the line's own window leakage and of the notch). */
function neighbourhood(hz: number, level: LineLevel, clear: (f: number) => boolean): number {
  const d = Math.max(0.08 * hz, 200)
  const at = [1, 1.5, 2, 2.5].flatMap((k) => [hz - k * d, hz + k * d]).filter((f) => f > 40 && f < 20000 && clear(f))
  let p = 0
  for (const f of at) p += 10 ** (level(f) / 10)
  return 10 * Math.log10(p / Math.max(1, at.length) + 1e-30)
}

export class HowlProbe {
  readonly #o: ProbeOptions
  #probes: Probe[] = []
  #holdOffs: Array<{ output: number; hz: number; until: number }> = []
  #loose: Loose[] = []
  /** Triggers that found maxProbes on: started (if still wanted) as probes come off, within PENDING_S. */
  #pending: Array<{ t: number; output: number; hz: number; why: { reason: FeedbackAlarm['reason']; growthDbPerS: number; loose?: boolean } }> = []
  /** Probes started, and the seconds of probe notch on (the programme cost's exposure). */
  started = 0
  probeSeconds = 0

  constructor(opts: Partial<ProbeOptions> = {}) {
    this.#o = checkProbeOptions(opts)
  }

  get options(): ProbeOptions {
    return { ...this.#o }
  }

  /** Probes on now. */
  active(): Array<{ output: number; hz: number; slot: number; startT: number }> {
    return this.#probes.map((p) => ({ output: p.output, hz: p.hz, slot: p.slot, startT: p.startT }))
  }

  #near(a: number, b: number): boolean {
    return Math.abs(a - b) <= Math.max(this.#o.holdOffHz, a / this.#o.q / 2)
  }

  /**
   * Starts a probe at hz on output (a fusion alarm, or a loose candidate) unless one is on there,
   * it is held off, `notched` says a notch is there already, or maxProbes are on. Returns the notch.
   */
  trigger(
    t: number,
    output: number,
    hz: number,
    why: { reason: FeedbackAlarm['reason']; growthDbPerS: number; loose?: boolean },
    notched: (hz: number) => boolean = () => false,
  ): Notch[] {
    const o = this.#o
    if (this.#probes.some((p) => p.output === output && this.#near(p.hz, hz))) return []
    if (this.#holdOffs.some((h) => h.output === output && t < h.until && this.#near(h.hz, hz))) return []
    if (notched(hz)) return []
    const mine = this.#probes.filter((p) => p.output === output)
    if (mine.length >= o.maxProbes) {
      // Not lost: the fusion raises one alarm per track, so a howl refused now would never be probed.
      if (!this.#pending.some((q) => q.output === output && this.#near(q.hz, hz))) this.#pending.push({ t, output, hz, why })
      return []
    }
    let slot = MAX_NOTCHES - 1
    while (mine.some((p) => p.slot === slot)) slot--
    this.#probes.push({
      output,
      slot,
      hz,
      startT: t,
      reason: why.reason,
      growthDbPerS: why.growthDbPerS,
      lastDb: -Infinity,
      partials: [],
      neighbourDb: 0,
      loose: why.loose === true,
      floorDb: Infinity,
    })
    this.started++
    return [{ output, slot, hz, gainDb: o.depthDb, q: o.q, enabled: true }]
  }

  /** One analysis frame's candidates: a peak rising over looseFrames frames at one frequency starts a probe. */
  observe(t: number, output: number, candidates: readonly HowlCandidate[], notched?: (hz: number) => boolean): Notch[] {
    const o = this.#o
    if (!o.looseTrigger) return []
    const hop = 1024 / 48000
    this.#loose = this.#loose.filter((k) => t - k.points[k.points.length - 1]!.t <= 1.5 * hop)
    const out: Notch[] = []
    for (const c of candidates) {
      let k = this.#loose.find((x) => x.output === output && Math.abs(x.hz - c.hz) <= o.looseHoldHz && x.points[x.points.length - 1]!.t < t)
      if (!k) {
        k = { output, hz: c.hz, points: [] }
        this.#loose.push(k)
      }
      k.hz = c.hz
      k.points.push({ t, level: c.levelDb, hz: c.hz })
      if (k.points.length > o.looseFrames) k.points.shift()
      const p = k.points
      if (p.length < o.looseFrames || c.paprDb < o.looseMinPaprDb || c.levelDb < o.looseMinLevelDb) continue
      if (p.some((q, i) => i > 0 && q.level <= p[i - 1]!.level)) continue
      if (p[p.length - 1]!.level - p[0]!.level < o.looseRiseDb) continue
      if (Math.max(...p.map((q) => q.hz)) - Math.min(...p.map((q) => q.hz)) > o.looseHoldHz) continue
      const growth = (p[p.length - 1]!.level - p[0]!.level) / Math.max(1e-3, p[p.length - 1]!.t - p[0]!.t)
      out.push(...this.trigger(t, output, c.hz, { reason: 'growing', growthDbPerS: growth, loose: true }, notched))
    }
    return out
  }

  #alarm(t: number, p: Probe): FeedbackAlarm {
    return {
      t,
      output: p.output,
      hz: Math.round(p.hz * 10) / 10,
      levelDb: Math.round((p.peakDb ?? p.lastDb) * 10) / 10,
      growthDbPerS: Math.round(p.growthDbPerS * 10) / 10,
      reason: p.reason,
      classifier: 0,
    }
  }

  /**
   * The probes' readings at time t (the caller's level on the pre-notch feed): verdicts, alarms,
   * notches off. notchedHz: the output's notches in place (their lines fall for their own reason).
   */
  measure(t: number, level: LineLevel, notchedHz: readonly number[] = []): ProbeStep {
    const o = this.#o
    const step: ProbeStep = { notches: [], alarms: [], verdicts: [] }
    const kept: Probe[] = []
    for (const p of this.#probes) {
      const others = [...notchedHz, ...this.#probes.filter((q) => q !== p && q.output === p.output).map((q) => q.hz)]
      const clear = (f: number) => others.every((h) => Math.abs(h - f) > CLEAR_HZ)
      const db = level(p.hz)
      if (p.peakDb === undefined) {
        // The first reading: the line before the notch has acted (the notch goes on after it).
        p.peakDb = db
        p.lastDb = db
        p.partials = PARTIALS.map((m) => ({ hz: p.hz * m, db: level(p.hz * m) })).filter((q) => q.hz > 40 && q.hz < 20000 && q.db >= db - o.partialDb)
        p.neighbourDb = o.neighbourDropDb > 0 ? neighbourhood(p.hz, level, clear) : 0
        kept.push(p)
        continue
      }
      p.lastDb = db
      const age = t - p.startT
      if (p.watchT !== undefined) {
        // Taken off after a collapse: a howl comes back (the loop is closed there again), a note that ended does not.
        p.floorDb = Math.min(p.floorDb, db)
        const back = db >= p.floorDb + o.regrowDb
        if (!back && t - p.watchT < o.watchS) {
          kept.push(p)
          continue
        }
        step.verdicts.push({
          t,
          output: p.output,
          hz: p.hz,
          startT: p.startT,
          loose: p.loose,
          outcome: back ? 'verified' : 'note-ended',
          peakDb: p.peakDb,
          lastDb: db,
        })
        if (back) step.alarms.push(this.#alarm(t, p))
        continue
      }
      p.peakDb = Math.max(p.peakDb, db)
      // Down: collapseDb under the peak (2 dB of slack once down, so one reading's jitter does not bounce it).
      const down = age >= o.settleS && db <= p.peakDb - o.collapseDb + (p.downT === undefined ? 0 : 2)
      let collapsed = false
      let bounced = false
      if (down) {
        p.downT ??= t
        collapsed = t - p.downT >= o.holdDownS
        if (!collapsed) {
          kept.push(p)
          continue
        }
      } else if (p.downT !== undefined) bounced = true // back up with the probe on: beating or tremolo, not a broken loop
      const ended =
        collapsed &&
        ((o.partialDb > 0 && p.partials.some((q) => clear(q.hz) && level(q.hz) <= q.db - (o.collapseDb - o.partialSlackDb))) ||
          (o.neighbourDropDb > 0 && neighbourhood(p.hz, level, clear) <= p.neighbourDb - o.neighbourDropDb))
      let outcome: ProbeVerdict['outcome'] | null = null
      if (ended) outcome = 'note-ended'
      else if (collapsed) outcome = 'verified'
      else if (bounced || age >= o.probeS) outcome = 'released'
      if (outcome === null) {
        kept.push(p)
        continue
      }
      this.probeSeconds += age
      step.notches.push({ output: p.output, slot: p.slot, hz: p.hz, gainDb: 0, q: o.q, enabled: false })
      if (outcome === 'verified' && (o.confirm === 'all' || (o.confirm === 'loose' && p.loose))) {
        p.watchT = t
        p.floorDb = db
        kept.push(p)
        continue
      }
      step.verdicts.push({ t, output: p.output, hz: p.hz, startT: p.startT, loose: p.loose, outcome, peakDb: p.peakDb, lastDb: db })
      if (outcome === 'released') this.#holdOffs.push({ output: p.output, hz: p.hz, until: t + o.holdOffS })
      if (outcome === 'verified') step.alarms.push(this.#alarm(t, p))
    }
    this.#probes = kept
    this.#holdOffs = this.#holdOffs.filter((h) => t < h.until)
    const pending = this.#pending.filter((q) => t - q.t <= PENDING_S)
    this.#pending = []
    for (const q of pending) {
      const n = this.trigger(t, q.output, q.hz, q.why, (hz) => notchedHz.some((h) => this.#near(h, hz)))
      step.notches.push(...n)
    }
    return step
  }
}

/** Level (dBFS as a sine) of a line at hz in the 2048 samples of x (48 kHz) ending at `end`: one bin of a Hann-windowed DFT (Goertzel). */
export function lineLevelDb(x: Float32Array, end: number, hz: number, n = 2048): number {
  const a = Math.max(0, end - n)
  const len = end - a
  if (len < 64) return -Infinity
  const w = (2 * Math.PI * hz) / 48000
  const cw = 2 * Math.cos(w)
  let s1 = 0
  let s2 = 0
  for (let i = 0; i < len; i++) {
    const s0 = x[a + i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / len)) + cw * s1 - s2
    s2 = s1
    s1 = s0
  }
  const re = s1 - s2 * Math.cos(w)
  const im = s2 * Math.sin(w)
  return 20 * Math.log10((Math.hypot(re, im) * 4) / len + 1e-12)
}
