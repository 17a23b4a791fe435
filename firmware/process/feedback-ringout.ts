// The ring-out (issue 13, sixth round): what an engineer, or a dedicated feedback suppressor's
// set-up wizard, does at the sound check. The room is quiet but for low-level pink noise; the gain
// goes up in small steps; when a howl appears the live detector and fusion find it, a FIXED notch
// goes on at its frequency (narrow, first depthDb, deepened by deepenDb if the same howl comes
// back), the gain steps back, the loop settles, and the climb goes on until the fixed-notch budget
// or the target gain. Each rung-out howl is a loop peak where the loop's phase closes: the notches
// sit where the loop would howl next, not where the programme happens to excite it. The fixed
// notches stay in for the show (LoopOptions.notches; the live planner keeps the slots under them).
// Runs the simulated acoustic loop (addons/src/dsp/acoustic_loop.h) offline, deterministic (the
// noise is seeded), a few seconds per room.

import { loadNative } from '../engine/native.ts'
import { FirmwareError } from '../errors.ts'
import { decodeRows, HowlFusion, MAX_NOTCHES, type Notch, SHIFTED_HOWL_THRESHOLDS } from '../inference/feedback.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'
import { checkLoopOptions, MAX_SHIFT_HZ, type RoomSpec } from './feedback-loop.ts'

const FS = 48000

export interface RingOutOptions {
  /** Fixed notches to place at most, 1 to MAX_RINGOUT_NOTCHES (24: the rest of the 32 slots stay for the live notches). Defaults to 16. */
  maxNotches: number
  /** Stop once the loop holds this gain (dB over the loop's 0 dB, as LoopOptions.gainDb) for a whole step, -20 to 20. Defaults to 14. */
  targetDb: number
  /** Gain the climb starts from, dB, -20 to 20, under targetDb. Defaults to -3 (every room's loop is stable there). */
  startDb: number
  /** Gain step, dB, 0.1 to 3. Defaults to 0.5. */
  stepDb: number
  /** Seconds of noise at each step, 0.2 to 10. Defaults to 1. */
  dwellS: number
  /** After a notch is placed or deepened the gain steps back this much, dB, 0 to 6. Defaults to 1.5. */
  backoffDb: number
  /** Seconds the loop settles after a notch, at the lower gain, 0.2 to 10. Defaults to 1. */
  settleS: number
  /** Pink noise level at the microphone, dBFS RMS, -90 to -10. Defaults to -50 (a quiet room). */
  noiseDb: number
  /** Depth of a new fixed notch, dB, -30 to -1. Defaults to -6: just what the howl's margin needs, plus a few dB. */
  depthDb: number
  /** A howl coming back at a fixed notch deepens it by this much, dB, -12 to -1. Defaults to -3. */
  deepenDb: number
  /** Deepest a fixed notch goes, dB, -30 to -3. Defaults to -18; a howl back at a notch this deep ends the ring-out. */
  maxDepthDb: number
  /** Each notch's bandwidth, Hz (Q = hz / bandwidthHz within qMin..qMax), 1 to 200. Defaults to 20. */
  bandwidthHz: number
  /** Q bounds, 5 to 200. Defaults to 30 and 120. */
  qMin: number
  qMax: number
  /** Seed of the noise. Defaults to 1. */
  seed: number
  /** The ring-out gives up after this much simulated time, s, 10 to 3600. Defaults to 600. */
  maxSeconds: number
  /** The output's frequency shift during the ring-out, Hz, 0 to MAX_SHIFT_HZ (the one it will run the show with). Defaults to 0. */
  shiftHz: number
}

export const MAX_RINGOUT_NOTCHES = 24

export const RINGOUT_DEFAULTS: RingOutOptions = {
  maxNotches: 16,
  targetDb: 14,
  startDb: -3,
  stepDb: 0.5,
  dwellS: 1,
  backoffDb: 1.5,
  settleS: 1,
  noiseDb: -50,
  depthDb: -6,
  deepenDb: -3,
  maxDepthDb: -18,
  bandwidthHz: 20,
  qMin: 30,
  qMax: 120,
  seed: 1,
  maxSeconds: 600,
  shiftHz: 0,
}

/** Refuses bad ring-out options with FW_ERR_FEEDBACK_SETTINGS (nothing run); returns them with the defaults filled in. */
export function checkRingOutOptions(o: Partial<Record<keyof RingOutOptions, unknown>>): RingOutOptions {
  const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `ringout: ${f} ${m}`)
  const known = Object.keys(RINGOUT_DEFAULTS)
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `ringout: unknown option ${k} (known: ${known.join(', ')})`)
  const v = { ...RINGOUT_DEFAULTS, ...o }
  const s: RingOutOptions = {
    maxNotches: wholeNumberIn(c, v.maxNotches, 'maxNotches', 1, MAX_RINGOUT_NOTCHES),
    targetDb: numberIn(c, v.targetDb, 'targetDb', { min: -20, max: 20 }),
    startDb: numberIn(c, v.startDb, 'startDb', { min: -20, max: 20 }),
    stepDb: numberIn(c, v.stepDb, 'stepDb', { min: 0.1, max: 3 }),
    dwellS: numberIn(c, v.dwellS, 'dwellS', { min: 0.2, max: 10 }),
    backoffDb: numberIn(c, v.backoffDb, 'backoffDb', { min: 0, max: 6 }),
    settleS: numberIn(c, v.settleS, 'settleS', { min: 0.2, max: 10 }),
    noiseDb: numberIn(c, v.noiseDb, 'noiseDb', { min: -90, max: -10 }),
    depthDb: numberIn(c, v.depthDb, 'depthDb', { min: -30, max: -1 }),
    deepenDb: numberIn(c, v.deepenDb, 'deepenDb', { min: -12, max: -1 }),
    maxDepthDb: numberIn(c, v.maxDepthDb, 'maxDepthDb', { min: -30, max: -3 }),
    bandwidthHz: numberIn(c, v.bandwidthHz, 'bandwidthHz', { min: 1, max: 200 }),
    qMin: numberIn(c, v.qMin, 'qMin', { min: 5, max: 200 }),
    qMax: numberIn(c, v.qMax, 'qMax', { min: 5, max: 200 }),
    seed: wholeNumberIn(c, v.seed, 'seed', 1, 2 ** 31 - 2),
    maxSeconds: numberIn(c, v.maxSeconds, 'maxSeconds', { min: 10, max: 3600 }),
    shiftHz: numberIn(c, v.shiftHz, 'shiftHz', { min: 0, max: MAX_SHIFT_HZ }),
  }
  if (s.startDb >= s.targetDb) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `ringout: startDb ${s.startDb} must be under targetDb ${s.targetDb}`)
  if (s.depthDb < s.maxDepthDb) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `ringout: depthDb ${s.depthDb} is deeper than maxDepthDb ${s.maxDepthDb}`)
  if (s.qMin > s.qMax) throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `ringout: qMin ${s.qMin} is over qMax ${s.qMax}`)
  return s
}

export interface RingOutEvent {
  /** Simulated time, s. */
  t: number
  gainDb: number
  event: 'howl' | 'notch' | 'deepen' | 'stop'
  hz?: number
  depthDb?: number
  q?: number
  /** What found the howl: the fusion's alarm, or (the fusion silent) the loudspeaker 20 dB over its level at the step's start. */
  by?: 'alarm' | 'level'
  why?: string
}

export interface RingOutResult {
  /** The fixed notches, output 0, slots from MAX_NOTCHES - 1 down (the live planner's slots 0.. stay free). */
  notches: Notch[]
  /** The highest gain the loop held for a whole step with the notches of that moment, dB. */
  reachedDb: number
  /** Gains at which the loop howled, in order. */
  howlsDb: number[]
  stoppedBy: 'notches' | 'target' | 'maxDepth' | 'time'
  /** Simulated seconds. */
  seconds: number
  log: RingOutEvent[]
  options: RingOutOptions
}

interface NativeLoop {
  run(src: Float32Array): { speaker: Float32Array; rows: Float32Array }
  setGainDb(db: number): void
  setNotch(i: number, hz: number, gainDb: number, q: number, enabled: boolean): void
  setShiftHz(hz: number): void
}

/** Seeded pink noise (Paul Kellet's filter on a Park-Miller white source), RMS 1. */
export class PinkNoise {
  #s: number
  readonly #b = [0, 0, 0, 0, 0, 0, 0]

  constructor(seed = 1) {
    this.#s = seed
  }

  fill(out: Float32Array, rms: number): void {
    const b = this.#b
    for (let i = 0; i < out.length; i++) {
      this.#s = (this.#s * 16807) % 2147483647
      const w = this.#s / 2147483647 - 0.5
      b[0] = 0.99886 * b[0]! + w * 0.0555179
      b[1] = 0.99332 * b[1]! + w * 0.0750759
      b[2] = 0.969 * b[2]! + w * 0.153852
      b[3] = 0.8665 * b[3]! + w * 0.3104856
      b[4] = 0.55 * b[4]! + w * 0.5329522
      b[5] = -0.7616 * b[5]! - w * 0.016898
      // 0.857: the filter's RMS on a uniform +-0.5 source, measured (so the result is about RMS 1).
      out[i] = ((b[0]! + b[1]! + b[2]! + b[3]! + b[4]! + b[5]! + b[6]! + w * 0.5362) / 0.857) * rms
      b[6] = w * 0.115926
    }
  }
}

/** Sine-peak level (dB) at hz over the last n samples of x (Hann window). */
function lineDb(x: Float32Array, hz: number): number {
  const n = x.length
  const w = (2 * Math.PI * hz) / FS
  let re = 0
  let im = 0
  for (let i = 0; i < n; i++) {
    const v = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n))
    re += v * Math.cos(w * i)
    im -= v * Math.sin(w * i)
  }
  return 20 * Math.log10((Math.hypot(re, im) * 4) / n + 1e-12)
}

/** The strongest line of x between lo and hi Hz: a coarse search in `step` Hz (on the last 2048 samples), then 0.1 Hz around the best (on all of x). */
function strongest(x: Float32Array, lo: number, hi: number, step: number): number {
  let best = lo
  let bestDb = -Infinity
  const short = x.subarray(Math.max(0, x.length - 2048))
  for (let f = lo; f <= hi; f += step) {
    const l = lineDb(short, f)
    if (l > bestDb) [best, bestDb] = [f, l]
  }
  const c = best
  bestDb = -Infinity
  for (let f = c - step; f <= c + step; f += 0.1) {
    const l = lineDb(x, f)
    if (l > bestDb) [best, bestDb] = [f, l]
  }
  return Math.round(best * 10) / 10
}

function rms(x: Float32Array): number {
  let s = 0
  for (const v of x) s += v * v
  return 10 * Math.log10(s / Math.max(1, x.length) + 1e-20)
}

interface Fixed {
  hz: number
  gainDb: number
  q: number
}

/**
 * Rings out the loop of `room`: returns the fixed notches and the log. Deterministic for the same
 * room and options. Bad options or room: FW_ERR_FEEDBACK_SETTINGS, nothing run.
 */
export function ringOut(room: RoomSpec, options: Partial<RingOutOptions> = {}): RingOutResult {
  const o = checkRingOutOptions(options)
  checkLoopOptions({ gainDb: o.startDb, room })
  const features = loadNative().features as { FeedbackLoop: new (opts: unknown) => NativeLoop }
  // With a shift: the shifted loop's detector thresholds and the shift-aware fusion, as runLoop has them.
  const loop = new features.FeedbackLoop({
    gainDb: o.startDb,
    room: { ...room, maxSeconds: 0.25 },
    ...(o.shiftHz ? { thresholds: SHIFTED_HOWL_THRESHOLDS } : {}),
  })
  if (o.shiftHz) loop.setShiftHz(o.shiftHz)
  const newFusion = () => new HowlFusion({ shiftHz: o.shiftHz })
  const noise = new PinkNoise(o.seed)
  const chunk = 1024
  const src = new Float32Array(chunk)
  // The last 4096 samples of the loudspeaker feed (85 ms: 0.3 Hz resolution after the fine search).
  const tail = new Float32Array(4096)
  const log: RingOutEvent[] = []
  const fixed: Fixed[] = []
  const howlsDb: number[] = []
  const noiseRms = 10 ** (o.noiseDb / 20)
  let fusion = newFusion()
  let g = o.startDb
  let reachedDb = -Infinity
  let t = 0

  /** Runs `seconds` of noise at the current gain; returns the howl found (its frequency and what found it), or null. */
  const dwell = (seconds: number, watch: boolean): { hz: number; by: 'alarm' | 'level' } | null => {
    const end = t + seconds
    let stepStartDb = Number.NaN
    while (t < end - 1e-9) {
      noise.fill(src, noiseRms)
      const r = loop.run(src)
      tail.copyWithin(0, r.speaker.length)
      tail.set(r.speaker, tail.length - r.speaker.length)
      t += r.speaker.length / FS
      let alarmHz = 0
      for (const fr of decodeRows(r.rows)) for (const a of fusion.push(fr.t, 0, fr.candidates)) alarmHz ||= a.hz
      if (!watch) continue
      if (alarmHz > 0) {
        // A shifted howl glides: the fusion's frequency is the middle of the band it grew in.
        if (o.shiftHz) return { hz: Math.round(alarmHz * 10) / 10, by: 'alarm' }
        // The alarm's frequency to a tenth of a hertz: the strongest line within 2 % of it.
        const span = Math.max(8, alarmHz * 0.02)
        return { hz: strongest(tail, alarmHz - span, alarmHz + span, 1), by: 'alarm' }
      }
      // A howl the fusion has not raised (yet): the loudspeaker 20 dB over its level at the step's start.
      const now = rms(tail)
      if (Number.isNaN(stepStartDb) && end - t < seconds - 0.1) stepStartDb = now
      if (now > stepStartDb + 20) return { hz: strongest(tail, 100, 8000, 5), by: 'level' }
    }
    return null
  }

  const slotOf = (i: number) => MAX_NOTCHES - 1 - i
  const apply = (i: number) => {
    const f = fixed[i]!
    loop.setNotch(slotOf(i), f.hz, f.gainDb, f.q, true)
  }
  const settle = () => {
    g -= o.backoffDb
    loop.setGainDb(g)
    dwell(o.settleS, false)
    fusion = newFusion()
  }

  let stoppedBy: RingOutResult['stoppedBy'] = 'time'
  loop.setGainDb(g)
  dwell(o.settleS, false)
  fusion = newFusion()
  for (;;) {
    if (t >= o.maxSeconds) {
      stoppedBy = 'time'
      break
    }
    const howl = dwell(o.dwellS, true)
    if (!howl) {
      reachedDb = Math.max(reachedDb, g)
      if (g >= o.targetDb) {
        stoppedBy = 'target'
        break
      }
      g = Math.min(o.targetDb, g + o.stepDb)
      loop.setGainDb(g)
      continue
    }
    howlsDb.push(g)
    log.push({ t, gainDb: g, event: 'howl', hz: howl.hz, by: howl.by })
    const near = fixed.findIndex((f) => Math.abs(f.hz - howl.hz) <= Math.max(3, f.hz / f.q / 2))
    if (near >= 0) {
      const f = fixed[near]!
      if (f.gainDb <= o.maxDepthDb) {
        stoppedBy = 'maxDepth'
        log.push({ t, gainDb: g, event: 'stop', hz: f.hz, why: `the howl at ${f.hz} Hz came back at a notch already ${f.gainDb} dB deep` })
        break
      }
      f.gainDb = Math.max(o.maxDepthDb, f.gainDb + o.deepenDb)
      apply(near)
      log.push({ t, gainDb: g, event: 'deepen', hz: f.hz, depthDb: f.gainDb, q: f.q })
      settle()
      continue
    }
    if (fixed.length >= o.maxNotches) {
      stoppedBy = 'notches'
      log.push({ t, gainDb: g, event: 'stop', hz: howl.hz, why: `all ${o.maxNotches} fixed notches placed` })
      break
    }
    const q = Math.round(Math.min(o.qMax, Math.max(o.qMin, howl.hz / o.bandwidthHz)) * 10) / 10
    fixed.push({ hz: howl.hz, gainDb: o.depthDb, q })
    apply(fixed.length - 1)
    log.push({ t, gainDb: g, event: 'notch', hz: howl.hz, depthDb: o.depthDb, q })
    settle()
  }
  if (stoppedBy === 'target' || stoppedBy === 'time')
    log.push({ t, gainDb: g, event: 'stop', why: stoppedBy === 'target' ? 'target gain held' : 'out of time' })
  return {
    notches: fixed.map((f, i) => ({ output: 0, slot: slotOf(i), hz: f.hz, gainDb: f.gainDb, q: f.q, enabled: true })),
    reachedDb,
    howlsDb,
    stoppedBy,
    seconds: t,
    log,
    options: o,
  }
}
