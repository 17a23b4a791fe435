// Added stable gain (issue 13, fourth round): what notches can reach on the simulated loop, and what
// a frequency shifter adds.
//   oracle      from each room's own impulse response (AcousticLoop through the binding) with the PA
//               band limits: the loop's response on a 0.37 Hz grid (zero-padded FFT), its maximum
//               stable gain (MSG) with no notch and with K ideal notches of the planner's shape
//               (peaking biquad, Q 40, -18 dB) placed greedily at the highest remaining peak. The
//               ceiling any notch suppressor with K notches reaches on this loop. Two readings: the
//               magnitude bound (-max |L|) and Nyquist's (the largest |L| where the loop's phase is a
//               whole number of turns). Also the loop delay (first tap), the group delay at the
//               critical frequency and the howl's growth at margins +1..+6 dB, predicted
//               (M dB per group delay) and measured (the loop from silence).
//   shift       the largest stable gain with the frequency shifter at 0 / 2 / 5 / 10 Hz, alone and
//               with the notch suppressor, on music (fluidsynth) and speech (flite, festival):
//               the SAME stability check, bisection and upward scan as the feedback section
//               (tests/bench/feedback-lib.ts); the programme cost while stable (log-spectral
//               distance 3 dB under the off limit) and the detuning in cents.
//   afc         the largest stable gain with the adaptive feedback canceller (addons/src/dsp/afc.h,
//               AFC_DEFAULTS) alone, with a 5 Hz shift, with the notch suppressor: the same check and
//               upward scan, on runs of 10 s and of 20 s (how long after the start the loop can take
//               the gain), music and speech reported apart; the programme cost while stable (AFC on
//               against off, 3 dB under the off limit), the final misalignment, and the canceller's
//               CPU per output->input pair (open loop, white noise).
//   ringout     (sixth round) the ring-out (firmware/process/feedback-ringout.ts) per room on pink
//               noise, 8 / 16 / 24 fixed notches; then ASG by the sixth round's check (the level
//               criterion AND the probe tail: feedback-lib.ts check) over the 4 rooms x music x
//               speech for: 16 live notches, 5 Hz + 16 live (the old criterion's figures beside),
//               ring-out 8 / 16 / 24, ring-out 16 + 16 live, the same + 5 Hz (speech); the cost of
//               the fixed notches (log-spectral distance with vs without, 3 dB under the off limit);
//               rung out with the shift on: 5 Hz (speech; BENCH_RINGOUT_MUSIC=1 on music too) and
//               2 Hz (music). BENCH_RINGOUT_CONFIGS picks rows by name.
//               BENCH_FEEDBACK_GAIN=ringout runs only these rows.
// The detector alone decides the notches here (BENCH_FEEDBACK_CLASSIFIER=1 fuses the classifier too,
// as the feedback section does by default; ~10x slower).
import { loadNative } from '../../firmware/engine/native.ts'
import type { Notch } from '../../firmware/inference/feedback.ts'
import { startFeedbackClassifier } from '../../firmware/process/feedback-classifier.ts'
import { AFC_DEFAULTS, ROOMS, rmsDb, runLoop, runLoopWithClassifier } from '../../firmware/process/feedback-loop.ts'
import { type RingOutResult, ringOut } from '../../firmware/process/feedback-ringout.ts'
import { fft } from '../helpers/fft.ts'
import { check, type GainCase, type LoopRunner, limit, logSpectralDistance, programmes, quantile, scan } from './feedback-lib.ts'
import { type BenchRow, type BenchSection, fixed } from './lib.ts'

const FS = 48000
const { Afc, FeedbackLoop, FreqShift } = loadNative().features as {
  Afc: new (o: unknown) => { run(mic: Float32Array, u: Float32Array): Float32Array }
  FreqShift: new () => { setShiftHz(hz: number): void; process(x: Float32Array): Float32Array }
  FeedbackLoop: new (
    o: unknown,
  ) => {
    impulseResponse: Float32Array
    criticalHz: number
    run(x: Float32Array): { speaker: Float32Array }
    afcTaps(len: number): Float32Array
    setShiftHz(hz: number): void
  }
}

interface Coeffs {
  b0: number
  b1: number
  b2: number
  a1: number
  a2: number
}

/** RBJ cookbook, as addons/src/dsp/biquad.cc designs them. */
function biquad(type: 'peak' | 'hp' | 'lp', f: number, q: number, gainDb = 0): Coeffs {
  const A = 10 ** (gainDb / 40)
  const w0 = (2 * Math.PI * f) / FS
  const cw = Math.cos(w0)
  const alpha = Math.sin(w0) / (2 * q)
  let [b0, b1, b2, a0, a1, a2] = [1, 0, 0, 1, 0, 0]
  if (type === 'peak') [b0, b1, b2, a0, a1, a2] = [1 + alpha * A, -2 * cw, 1 - alpha * A, 1 + alpha / A, -2 * cw, 1 - alpha / A]
  else if (type === 'hp') [b0, b1, b2, a0, a1, a2] = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2, 1 + alpha, -2 * cw, 1 - alpha]
  else [b0, b1, b2, a0, a1, a2] = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2, 1 + alpha, -2 * cw, 1 - alpha]
  return { b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: a1 / a0, a2: a2 / a0 }
}

/** Multiplies (re, im) on the grid k * FS / n (k < n / 2 + 1) by the biquad's response. */
function applyBiquad(c: Coeffs, re: Float64Array, im: Float64Array, n: number, from = 0, to = re.length): void {
  for (let k = from; k < to; k++) {
    const w = (2 * Math.PI * k) / n
    const c1 = Math.cos(w)
    const s1 = -Math.sin(w)
    const c2 = Math.cos(2 * w)
    const s2 = -Math.sin(2 * w)
    const nr = c.b0 + c.b1 * c1 + c.b2 * c2
    const ni = c.b1 * s1 + c.b2 * s2
    const dr = 1 + c.a1 * c1 + c.a2 * c2
    const di = c.a1 * s1 + c.a2 * s2
    const d = dr * dr + di * di
    const hr = (nr * dr + ni * di) / d
    const hi = (ni * dr - nr * di) / d
    const r = re[k]! * hr - im[k]! * hi
    im[k] = re[k]! * hi + im[k]! * hr
    re[k] = r
  }
}

interface LoopResponse {
  n: number
  re: Float64Array
  im: Float64Array
}

/** The loop's response (room impulse response x PA band limits) on bins 0..n/2, n = 2^17 (0.37 Hz). */
function loopResponse(h: Float32Array): LoopResponse {
  const n = 1 << 17
  const full = { re: new Float64Array(n), im: new Float64Array(n) }
  for (let i = 0; i < h.length; i++) full.re[i] = h[i]!
  fft(full.re, full.im)
  const re = full.re.slice(0, n / 2 + 1)
  const im = full.im.slice(0, n / 2 + 1)
  applyBiquad(biquad('hp', 100, Math.SQRT1_2), re, im, n)
  applyBiquad(biquad('lp', 8000, Math.SQRT1_2), re, im, n)
  return { n, re, im }
}

/** Maximum stable gain, dB: the magnitude bound and Nyquist's (|L| where the phase is a whole number of turns). */
function msg(L: LoopResponse): { magDb: number; nyqDb: number; peakBin: number; nyqBin: number } {
  let peak = 0
  let peakBin = 1
  let nyq = 0
  let nyqBin = 1
  for (let k = 1; k < L.re.length - 1; k++) {
    const m = L.re[k]! ** 2 + L.im[k]! ** 2
    if (m > peak) {
      peak = m
      peakBin = k
    }
    // Phase through 0 (mod 2 pi): the imaginary part changes sign with the real part positive.
    if (L.im[k]! <= 0 !== L.im[k + 1]! <= 0 && L.re[k]! + L.re[k + 1]! > 0) {
      const a = Math.abs(L.im[k]!) / (Math.abs(L.im[k]!) + Math.abs(L.im[k + 1]!))
      const v = L.re[k]! + a * (L.re[k + 1]! - L.re[k]!)
      if (v > nyq) {
        nyq = v
        nyqBin = k + a
      }
    }
  }
  return { magDb: -10 * Math.log10(peak), nyqDb: -20 * Math.log10(nyq), peakBin, nyqBin }
}

/**
 * Places K notches greedily, one at a time: 'peak' at the highest remaining peak of |L| (the issue's
 * oracle), 'howl' at the frequency where the loop would howl next (the largest |L| with the phase a
 * whole number of turns: what a perfect howl detector would hand the planner). MSG after each count in `at`.
 */
function oracle(L0: LoopResponse, at: number[], by: 'peak' | 'howl'): Map<number, { magDb: number; nyqDb: number }> {
  const L = { n: L0.n, re: L0.re.slice(), im: L0.im.slice() }
  const out = new Map<number, { magDb: number; nyqDb: number }>()
  const max = Math.max(...at)
  for (let k = 1; k <= max; k++) {
    const { peakBin: pb, nyqBin } = msg(L)
    // The peak's frequency between bins (parabola through the three dB values).
    const db = (b: number) => 10 * Math.log10(L.re[b]! ** 2 + L.im[b]! ** 2)
    const [a, b, c] = [db(pb - 1), db(pb), db(pb + 1)]
    const off = (0.5 * (a - c)) / (a - 2 * b + c || 1)
    const bin = by === 'peak' ? pb + off : nyqBin
    const peakBin = Math.round(bin)
    const hz = (bin * FS) / L.n
    // The notch only matters within a few hundred bandwidths; far off it is 1 within 1e-5.
    const span = Math.ceil((hz / 40) * 200 * (L.n / FS))
    applyBiquad(biquad('peak', hz, 40, -18), L.re, L.im, L.n, Math.max(0, peakBin - span), Math.min(L.re.length, peakBin + span))
    if (at.includes(k)) out.set(k, msg(L))
  }
  return out
}

/** Howl growth, dB/s, measured: the loop at `margin` dB over its Nyquist MSG (gain msgDb + margin) from a 10 ms noise burst (about -125 dBFS), the slope of the loudspeaker's level from -110 to -25 dBFS (5.3 ms frames, after the first 0.1 s). */
function measuredGrowth(room: string, msgDb: number, margin: number): number {
  const x = new Float32Array(FS * 12)
  let s = 1
  for (let i = 0; i < 480; i++) {
    s = (s * 16807) % 2147483647
    x[i] = 2e-6 * (s / 2147483647 - 0.5)
  }
  const loop = new FeedbackLoop({ gainDb: msgDb + margin, room: { ...ROOMS[room]!, maxSeconds: 0.25 } })
  const y = loop.run(x).speaker
  const frame = 256
  const pts: Array<[number, number]> = []
  for (let i = 0; i + frame <= y.length; i += frame) {
    let e = 0
    for (let j = 0; j < frame; j++) e += y[i + j]! ** 2
    const l = 10 * Math.log10(e / frame + 1e-30)
    if (l > -25) break
    if (l > -110 && i > FS * 0.1) pts.push([i / FS, l])
  }
  if (pts.length < 4) return Number.NaN
  const mt = pts.reduce((a, p) => a + p[0], 0) / pts.length
  const ml = pts.reduce((a, p) => a + p[1], 0) / pts.length
  let num = 0
  let den = 0
  for (const [t, l] of pts) {
    num += (t - mt) * (l - ml)
    den += (t - mt) ** 2
  }
  return num / den
}

/** Section 4: the adaptive feedback canceller in the loop. */
async function afcRows(ctx: Parameters<BenchSection['run']>[0], run: LoopRunner, q: boolean, rooms: string[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  // CPU per output->input pair: the canceller alone, open loop, 10 s of white noise, fastest of 3.
  const n = FS * 10
  const u = new Float32Array(n)
  const y = new Float32Array(n)
  let s = 1
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647
    u[i] = s / 2147483647 - 0.5
    y[i] = 0.3 * u[Math.max(0, i - 400)]!
  }
  for (const o of [{}, { lpcOrder: 0 }, { partitions: 24 }]) {
    let best = Infinity
    for (let k = 0; k < 3; k++) {
      const a = new Afc(o)
      const t0 = performance.now()
      a.run(y, u)
      best = Math.min(best, performance.now() - t0)
    }
    const st = { ...AFC_DEFAULTS, ...o }
    rows.push({
      metric: `AFC CPU per output->input pair (B ${st.blockSize}, P ${st.partitions}, LPC ${st.lpcOrder})`,
      value: fixed((best / 1000 / 10) * 100, 2),
      unit: '% of one core at 48 kHz',
      note: `${fixed((best * 1e6) / n, 1)} ns a sample through the binding (its copy included), fastest of 3 runs of 10 s`,
    })
  }
  const progs = await programmes(ctx.tmp, 21, q ? 1 : 2, q ? 1 : 2)
  const afcRooms = q ? ['small', 'club'] : rooms
  const configs: Array<{ name: string; suppress: boolean; shiftHz: number }> = [
    { name: 'AFC', suppress: false, shiftHz: 0 },
    { name: 'AFC + 5 Hz', suppress: false, shiftHz: 5 },
    { name: 'AFC + notches', suppress: true, shiftHz: 0 },
  ]
  const added = new Map<string, number[]>()
  const cost = new Map<string, number[]>()
  const mis = new Map<string, number[]>()
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v])
  for (const p of progs)
    for (const room of afcRooms) {
      const kind = p.family.startsWith('music') ? 'music' : 'speech'
      const parts: string[] = []
      for (const seconds of [10, 20]) {
        const x = p.x.subarray(0, FS * seconds)
        if (x.length < FS * seconds) continue
        const off = await limit(run, x, { room, suppress: false }, q)
        const g = off - 3
        const ref = runLoop(x, { gainDb: g, room: ROOMS[room]! }).speaker
        // Quick: the 20 s runs with the canceller alone.
        for (const c of q && seconds === 20 ? configs.slice(0, 1) : configs) {
          const up = await scan(run, x, { room, suppress: c.suppress, shiftHz: c.shiftHz, afc: true }, off, q, 14)
          const on = runLoop(x, { gainDb: g, room: ROOMS[room]!, suppress: c.suppress, shiftHz: c.shiftHz, afc: true })
          const d = logSpectralDistance(ref, on.speaker)
          const key = `${c.name}, ${kind}, ${seconds} s runs`
          push(added, key, up - off)
          push(cost, key, d)
          push(mis, key, on.afc!.misalignmentDb)
          parts.push(`${seconds} s ${c.name}: ${fixed(up - off, 1)} (cost ${fixed(d, 2)} dB, misalignment ${fixed(on.afc!.misalignmentDb, 1)} dB)`)
          ctx.log(`AFC ${room}, ${p.family}, off limit ${fixed(off, 1)} dB: ${parts[parts.length - 1]}`)
        }
        parts.unshift(`${seconds} s off limit ${fixed(off, 1)} dB`)
      }
      ctx.log(`AFC ${room}, ${p.family}: ${parts.join('; ')}`)
      rows.push({ metric: `AFC added stable gain: ${room}, ${p.family}`, value: parts.length ? 'see note' : 'n/a', note: parts.join('; ') })
    }
  for (const [k, v] of added) {
    const d = cost.get(k)!
    const m = mis.get(k)!
    rows.push({
      metric: `added stable gain, ${k}: worst / median / best`,
      value: `${fixed(Math.min(...v), 1)} / ${fixed(quantile(v, 0.5), 1)} / ${fixed(Math.max(...v), 1)}`,
      unit: 'dB',
      target: '>= 6 dB',
      note: `${v.length} cases, scanned up from the off limit (${q ? 1 : 0.5} dB steps); programme cost while stable (AFC on against off, 3 dB under the off limit) worst / median ${fixed(Math.max(...d), 2)} / ${fixed(quantile(d, 0.5), 2)} dB; final misalignment there median ${fixed(quantile(m, 0.5), 1)} dB`,
    })
  }
  rows.push(...(await afcQualityRows(ctx)))
  return rows
}

/**
 * What the level criterion does not see: the loudspeaker feed (scaled back by the gain) against the
 * programme itself (log-spectral distance) and its level over the last 2 s, in the small room with
 * no canceller at -1 dB and with it at -1 / +6 / +12 / +16 dB (10 s runs; one music and one speech piece).
 */
async function afcQualityRows(ctx: Parameters<BenchSection['run']>[0]): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const progs = await programmes(ctx.tmp, 12, 1, 1)
  for (const p of progs) {
    const x = p.x.subarray(0, FS * 10)
    const parts: string[] = []
    for (const [g, afc] of [
      [-1, false],
      [-1, true],
      [6, true],
      [12, true],
      [16, true],
    ] as Array<[number, boolean]>) {
      const r = runLoop(x, { gainDb: g, room: ROOMS.small!, afc })
      const k = 10 ** (-g / 20)
      const d = logSpectralDistance(
        x,
        r.speaker.map((v) => v * k),
      )
      const level = rmsDb(r.speaker, 8, 10) - rmsDb(x, 8, 10) - g
      parts.push(
        `${g} dB ${afc ? 'AFC' : 'off'}: ${fixed(d, 2)} dB (level ${fixed(level, 1)} dB${r.afc ? `, misalignment ${fixed(r.afc.misalignmentDb, 1)} dB` : ''})`,
      )
    }
    ctx.log(`AFC quality, small, ${p.family}: ${parts.join('; ')}`)
    rows.push({ metric: `AFC: loudspeaker against the programme (log-spectral distance), small, ${p.family}`, value: 'see note', note: parts.join('; ') })
  }
  // The literature's ASG of a canceller: the MSG of what is left of the loop, F - F^ (with the PA
  // band limits; magnitude bound and Nyquist, as the oracle reads them), against F's, after a run at
  // -1 dB (under every room's off limit) and at +6 dB, 10 s and 20 s, without and with a 5 Hz shift.
  const long = await programmes(ctx.tmp, 21, 1, 1)
  for (const p of long)
    for (const room of Object.keys(ROOMS)) {
      const parts: string[] = []
      for (const shift of [0, 5])
        for (const seconds of [10, 20])
          for (const g of [-1, 6]) {
            const x = p.x.subarray(0, FS * seconds)
            if (x.length < FS * seconds) continue
            const loop = new FeedbackLoop({ gainDb: g, room: { ...ROOMS[room]!, maxSeconds: 0.25 }, afc: AFC_DEFAULTS })
            loop.setShiftHz(shift)
            loop.run(x)
            const h = loop.impulseResponse
            const est = loop.afcTaps(h.length)
            const m0 = msg(loopResponse(h))
            const m1 = msg(loopResponse(h.map((v, i) => v - est[i]!)))
            parts.push(`${shift ? `${shift} Hz shift, ` : ''}${seconds} s at ${g} dB: ${fixed(m1.magDb - m0.magDb, 1)} / ${fixed(m1.nyqDb - m0.nyqDb, 1)}`)
          }
      ctx.log(`AFC residual-loop ASG, ${room}, ${p.family}: ${parts.join('; ')}`)
      rows.push({
        metric: `AFC: MSG of the residual loop F - F^ over F's (magnitude / Nyquist), ${room}, ${p.family}`,
        value: 'see note',
        unit: 'dB',
        note: parts.join('; '),
      })
    }
  return rows
}

/** Section 5 (sixth round): the ring-out's fixed notches, alone and under the live notches, on the sixth round's check. */
async function ringoutRows(ctx: Parameters<BenchSection['run']>[0], run: LoopRunner, q: boolean, rooms: string[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const budgets = [8, 16, 24]
  const rung = new Map<string, RingOutResult>()
  // Rung out on first use (per room, budget and shift), logged with its notches.
  const fixedOf = (room: string, n: number, shiftHz = 0): Notch[] => {
    const k = `${room} ${n} ${shiftHz}`
    let r = rung.get(k)
    if (!r) {
      const t0 = performance.now()
      r = ringOut(ROOMS[room]!, { maxNotches: n, shiftHz })
      const ms = performance.now() - t0
      rung.set(k, r)
      const depths = r.notches.map((x) => x.gainDb)
      const note = `stopped by ${r.stoppedBy} after ${fixed(r.seconds, 0)} s simulated (${fixed(ms / 1000, 1)} s wall); howls at ${r.howlsDb.join(', ')} dB; notches ${r.notches.map((x) => `${x.hz}/${x.gainDb}/Q${x.q}`).join(' ')}; deepest ${Math.min(...depths)} dB`
      const name = `ring-out ${room}, ${n} fixed notches${shiftHz ? `, rung out with ${shiftHz} Hz on` : ''}`
      ctx.log(`${name}: reached ${r.reachedDb} dB; ${note}`)
      rows.push({ metric: `${name}: gain held on pink noise`, value: fixed(r.reachedDb, 1), unit: 'dB (loop gain)', note })
    }
    return r.notches
  }
  const progs = await programmes(ctx.tmp, 12, q ? 1 : 2, q ? 1 : 2)
  type Config = { name: string; c: (room: string) => Omit<GainCase, 'room'>; speechOnly?: boolean; musicOnly?: boolean; old?: boolean }
  const configs: Config[] = [
    { name: '16 live notches', c: () => ({ suppress: true, maxNotches: 16 }), old: true },
    { name: '5 Hz + 16 live notches', c: () => ({ suppress: true, shiftHz: 5, maxNotches: 16 }), old: true },
    ...budgets.map((n) => ({ name: `ring-out ${n}`, c: (room: string) => ({ suppress: false, notches: fixedOf(room, n) }) })),
    { name: 'ring-out 16 + 16 live', c: (room) => ({ suppress: true, maxNotches: 16, notches: fixedOf(room, 16) }) },
    { name: 'ring-out 16 + 16 live + 5 Hz', c: (room) => ({ suppress: true, maxNotches: 16, shiftHz: 5, notches: fixedOf(room, 16) }), speechOnly: true },
    // Rung out with the shift on (the output's show setting): the notches sit where the shifted loop howls.
    {
      name: 'ring-out at 5 Hz 16 + 16 live + 5 Hz',
      c: (room) => ({ suppress: true, maxNotches: 16, shiftHz: 5, notches: fixedOf(room, 16, 5) }),
      speechOnly: true,
    },
    // Music takes a smaller shift (2 Hz: 31 cents at A2, 8 at A4), rung out with it on.
    {
      name: 'ring-out at 2 Hz 16 + 16 live + 2 Hz',
      c: (room) => ({ suppress: true, maxNotches: 16, shiftHz: 2, notches: fixedOf(room, 16, 2) }),
      musicOnly: true,
    },
  ]
  const pick = process.env.BENCH_RINGOUT_CONFIGS?.split(',')
  const added = new Map<string, number[]>()
  const addedOld = new Map<string, number[]>()
  const cost = new Map<string, number[]>()
  const offs: string[] = []
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v])
  const step = q ? 1 : 0.5
  for (const p of progs)
    for (const room of rooms) {
      const x = p.x.subarray(0, FS * 10)
      const speech = p.family.startsWith('speech')
      const off = await limit(run, x, { room, suppress: false }, q)
      const offOld = await limit(run, x, { room, suppress: false }, q, 'level')
      offs.push(`${room} ${p.family} ${fixed(off, 1)} (old ${fixed(offOld, 1)})`)
      const g = off - 3
      const ref = runLoop(x, { gainDb: g, room: ROOMS[room]! }).speaker
      const parts: string[] = [`off limit ${fixed(off, 1)} dB (old criterion ${fixed(offOld, 1)})`]
      for (const cf of configs) {
        // BENCH_RINGOUT_MUSIC=1: the speech-only (shifted) rows on music too.
        if (cf.speechOnly && !speech && process.env.BENCH_RINGOUT_MUSIC !== '1') continue
        if (cf.musicOnly && speech) continue
        if (pick && !pick.includes(cf.name)) continue
        const gc: GainCase = { room, ...cf.c(room) }
        const up = await scan(run, x, gc, off, q, 14)
        const asg = up - off
        push(added, `${cf.name}, ${speech ? 'speech' : 'music'}`, asg)
        push(added, cf.name, asg)
        const v = await check(run, x, gc, up + step)
        let part = `${cf.name}: ${fixed(asg, 1)} (first howl at ${fixed(up + step, 1)}: tail decay ${fixed(v.tailDecayDb, 0)} dB (${v.tailNotches} notch changes), frozen probe ${fixed(v.frozenDecayDb, 0)} dB, level ${v.level ? 'ok' : 'over'})`
        if (cf.old) {
          const upOld = await scan(run, x, gc, offOld, q, 14, 'level')
          push(addedOld, cf.name, upOld - offOld)
          part += `, old criterion ${fixed(upOld - offOld, 1)}`
        }
        // What the notches in place at the limit cost the programme all show: the fixed ones, and
        // the live ones a run at the limit left, held on the programme 3 dB under the off limit.
        const left = gc.suppress
          ? (await run(x, { gainDb: up, room: ROOMS[room]!, suppress: true, shiftHz: gc.shiftHz ?? 0, limits: { maxNotches: 16 }, notches: gc.notches }))
              .notches
          : []
        const held = [...(gc.notches ?? []), ...left]
        const d = logSpectralDistance(ref, (await run(x, { gainDb: g, room: ROOMS[room]!, shiftHz: gc.shiftHz ?? 0, notches: held })).speaker)
        push(cost, cf.name, d)
        parts.push(`${part}, ${held.length} notches held cost ${fixed(d, 2)} dB`)
        ctx.log(`ringout ${room}, ${p.family}: ${parts[parts.length - 1]}`)
      }
      rows.push({ metric: `ring-out ASG: ${room}, ${p.family}`, value: fixed(off, 1), unit: 'dB (off limit)', note: parts.join('; ') })
    }
  rows.push({ metric: 'off limits, sixth-round check (old criterion)', value: 'see note', unit: 'dB', note: offs.join('; ') })
  const wmb = (v: number[]) => `${fixed(Math.min(...v), 1)} / ${fixed(quantile(v, 0.5), 1)} / ${fixed(Math.max(...v), 1)}`
  for (const [k, v] of added) {
    const d = cost.get(k)
    const o = addedOld.get(k)
    rows.push({
      metric: `added stable gain (sixth-round check), ${k}: worst / median / best`,
      value: wmb(v),
      unit: 'dB',
      target: '>= 6 dB',
      note: `${v.length} cases, scanned up from the off limit (${step} dB steps, at most 14 dB); ${v.filter((a) => a >= 6).length} of ${v.length} >= 6 dB${d ? `; notches held at the limit cost worst / median ${fixed(Math.max(...d), 2)} / ${fixed(quantile(d, 0.5), 2)} dB` : ''}${o ? `; old criterion ${wmb(o)}` : ''}`,
    })
  }
  return rows
}

const cents = (f: number, df: number) => 1200 * Math.log2((f + df) / f)

const section: BenchSection = {
  name: 'feedback-gain',
  async run(ctx) {
    const rows: BenchRow[] = []
    const q = ctx.quick
    const Ks = [1, 2, 4, 8, 16, 32]
    const rooms = Object.keys(ROOMS)

    // BENCH_FEEDBACK_GAIN=afc: the canceller's rows alone (the detector alone deciding the notches).
    if (process.env.BENCH_FEEDBACK_GAIN === 'afc') return afcRows(ctx, (x, o) => Promise.resolve(runLoop(x, o)), q, rooms)
    if (process.env.BENCH_FEEDBACK_GAIN === 'afc-quality') return afcQualityRows(ctx)
    if (process.env.BENCH_FEEDBACK_GAIN === 'ringout') return ringoutRows(ctx, (x, o) => Promise.resolve(runLoop(x, o)), q, rooms)
    // --- 1. The oracle bound.
    const oracleAsg = new Map<number, number[]>()
    const howlAsg = new Map<number, number[]>()
    for (const room of rooms) {
      const loop = new FeedbackLoop({ gainDb: 0, room: { ...ROOMS[room]!, maxSeconds: 0.25 } })
      const h = loop.impulseResponse
      const L = loopResponse(h)
      const m0 = msg(L)
      const res = oracle(L, Ks, 'peak')
      const howlRes = oracle(L, Ks, 'howl')
      const first = h.findIndex((v) => v !== 0)
      // Group delay where it howls (the Nyquist frequency): the phase's slope over +-2 bins.
      const k = Math.round(m0.nyqBin)
      const ph = (b: number) => Math.atan2(L.im[b]!, L.re[b]!)
      let dph = ph(k + 2) - ph(k - 2)
      dph = ((((dph + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI
      const groupS = -dph / ((2 * Math.PI * 4) / L.n) / FS
      rows.push({
        metric: `oracle ${room}: MSG with no notch (magnitude / Nyquist)`,
        value: `${fixed(m0.magDb, 2)} / ${fixed(m0.nyqDb, 2)}`,
        unit: 'dB',
        note: `largest |L| at ${fixed((m0.peakBin * FS) / L.n, 1)} Hz (the loop's own reading: ${fixed(loop.criticalHz, 1)} Hz; its 0 dB is the largest |L| on a 1.5 Hz grid); it howls first at ${fixed((m0.nyqBin * FS) / L.n, 1)} Hz`,
      })
      for (const K of Ks) {
        const r = res.get(K)!
        const asg = r.magDb - m0.magDb
        const hr = howlRes.get(K)!
        oracleAsg.set(K, [...(oracleAsg.get(K) ?? []), asg])
        howlAsg.set(K, [...(howlAsg.get(K) ?? []), hr.nyqDb - m0.nyqDb])
        rows.push({
          metric: `oracle ${room}: ASG with ${K} ideal notches at the highest peaks (magnitude / Nyquist)`,
          value: `${fixed(asg, 2)} / ${fixed(r.nyqDb - m0.nyqDb, 2)}`,
          unit: 'dB',
          note: `notches where it howls next instead (Nyquist): ${fixed(hr.nyqDb - m0.nyqDb, 2)} dB`,
        })
      }
      const growth = [1, 2, 3, 4, 5, 6].map((M) => ({ M, predicted: M / groupS, measured: measuredGrowth(room, m0.nyqDb, M) }))
      rows.push({
        metric: `loop ${room}: delay (first tap) / group delay where it howls first`,
        value: `${fixed((first / FS) * 1000, 2)} / ${fixed(groupS * 1000, 2)}`,
        unit: 'ms',
        note: `${loop.impulseResponse.length} samples of impulse response`,
      })
      rows.push({
        metric: `loop ${room}: howl growth at +1..+6 dB over the Nyquist MSG, measured`,
        value: growth.map((g) => fixed(g.measured, 0)).join(' / '),
        unit: 'dB/s',
        note: `predicted M dB per group delay: ${growth.map((g) => fixed(g.predicted, 0)).join(' / ')}; M dB per first-tap delay: ${growth.map((g) => fixed(g.M / (first / FS), 0)).join(' / ')}`,
      })
    }
    for (const K of Ks) {
      const v = oracleAsg.get(K)!
      rows.push({
        metric: `oracle ASG with ${K} notches (magnitude bound), worst / median / best of ${v.length} rooms`,
        value: `${fixed(Math.min(...v), 2)} / ${fixed(quantile(v, 0.5), 2)} / ${fixed(Math.max(...v), 2)}`,
        unit: 'dB',
        target: K === 8 ? '>= 6 dB' : undefined,
      })
    }

    // --- 3. The shifter in the loop, alone and with the notches.
    const cls = process.env.BENCH_FEEDBACK_CLASSIFIER === '1' ? await startFeedbackClassifier() : null
    const run: LoopRunner = (x, o) => (cls ? runLoopWithClassifier(x, o, cls.classify) : Promise.resolve(runLoop(x, o)))
    try {
      const progs = await programmes(ctx.tmp, 12, q ? 1 : 2, q ? 1 : 2)
      const shiftRooms = q && process.env.BENCH_GAIN_ROOMS !== 'all' ? ['small', 'hall'] : rooms
      const shifts = [0, 2, 5, 10]
      // Fifth round: the notch count (8 / 16 / 32) with and without the shift; the shift-aware
      // fusion is on whenever the shift is (runLoop tells it). BENCH_GAIN_CONFIGS picks some, e.g.
      // "0+8,0+32,5,5+16" (shift Hz, + notches); BENCH_GAIN_ROOMS=all runs every room in a quick run.
      type Config = { shiftHz: number; suppress: boolean; maxNotches?: number }
      const all: Config[] = [
        ...shifts.flatMap((s) => [false, true].map((suppress) => ({ shiftHz: s, suppress }))).filter((c) => c.shiftHz > 0 || c.suppress),
        ...[0, 5, 10].flatMap((s) => [8, 16, 32].map((maxNotches) => ({ shiftHz: s, suppress: true, maxNotches }))),
      ]
      const key = (c: Config) => `${c.shiftHz} Hz${c.suppress ? ` + ${c.maxNotches ? `${c.maxNotches} ` : ''}notches` : ''}`
      const pick = process.env.BENCH_GAIN_CONFIGS?.split(',')
      const configs = pick ? all.filter((c) => pick.includes(`${c.shiftHz}${c.suppress ? `+${c.maxNotches ?? ''}` : ''}`.replace(/\+$/, '+'))) : all
      const added = new Map<string, number[]>()
      const cost = new Map<string, number[]>()
      const heldCost = new Map<string, number[]>()
      for (const p of progs)
        for (const room of shiftRooms) {
          const x = p.x.subarray(0, FS * 10)
          const offCase: GainCase = { room, suppress: false }
          const off = await limit(run, x, offCase, q)
          const g = off - 3
          const ref = runLoop(x, { gainDb: g, room: ROOMS[room]! }).speaker
          const parts: string[] = []
          for (const c of configs) {
            const gc: GainCase = { room, ...c }
            const up = await scan(run, x, gc, off, q, 14)
            const bis = pick ? Number.NaN : await limit(run, x, gc, q)
            const kk = key(c)
            added.set(kk, [...(added.get(kk) ?? []), up - off])
            const limits = c.maxNotches ? { limits: { maxNotches: c.maxNotches } } : {}
            const on = (await run(x, { gainDb: g, room: ROOMS[room]!, suppress: c.suppress, shiftHz: c.shiftHz, ...limits })).speaker
            const d = logSpectralDistance(ref, on)
            // How many notches the suppressor placed at the first gain that howls (with a shift the
            // howl glides up, and the detector may never see a steady line).
            const placed = c.suppress
              ? (await run(x, { gainDb: up + (q ? 1 : 0.5), room: ROOMS[room]!, suppress: true, shiftHz: c.shiftHz, ...limits })).notches.length
              : 0
            // What the notches cost the programme (fifth round): those a run at the last stable gain
            // left in place, held on the programme 3 dB under the off limit (no suppression, same shift).
            let held = Number.NaN
            let heldN = 0
            if (c.suppress && c.maxNotches) {
              const left = (await run(x, { gainDb: up, room: ROOMS[room]!, suppress: true, shiftHz: c.shiftHz, ...limits })).notches
              heldN = left.length
              held = logSpectralDistance(ref, (await run(x, { gainDb: g, room: ROOMS[room]!, shiftHz: c.shiftHz, notches: left })).speaker)
            }
            cost.set(kk, [...(cost.get(kk) ?? []), d])
            if (!Number.isNaN(held)) heldCost.set(kk, [...(heldCost.get(kk) ?? []), held])
            parts.push(
              `${kk}: ${fixed(up - off, 1)} (bisection ${fixed(bis - off, 1)}, cost ${fixed(d, 2)} dB${c.suppress ? `, ${placed} notches where it howls` : ''}${Number.isNaN(held) ? '' : `, ${heldN} notches left at the limit cost ${fixed(held, 2)} dB`})`,
            )
          }
          ctx.log(`${room}, ${p.family}: off limit ${fixed(off, 1)} dB; ${parts.join('; ')}`)
          rows.push({ metric: `added stable gain: ${room}, ${p.family}`, value: fixed(off, 1), unit: 'dB (off limit)', note: parts.join('; ') })
        }
      for (const c of configs) {
        const kk = key(c)
        const v = added.get(kk)!
        const d = cost.get(kk)!
        rows.push({
          metric: `added stable gain, ${kk}: worst / median / best`,
          value: `${fixed(Math.min(...v), 1)} / ${fixed(quantile(v, 0.5), 1)} / ${fixed(Math.max(...v), 1)}`,
          unit: 'dB',
          target: '>= 6 dB',
          note: `scanned up from the off limit (${q ? 1 : 0.5} dB steps) over ${v.length} cases; programme cost while stable (log-spectral distance, 3 dB under the off limit) worst / median ${fixed(Math.max(...d), 2)} / ${fixed(quantile(d, 0.5), 2)} dB${heldCost.has(kk) ? `; with the notches a run at the limit left, worst / median ${fixed(Math.max(...heldCost.get(kk)!), 2)} / ${fixed(quantile(heldCost.get(kk)!, 0.5), 2)} dB` : ''}`,
        })
      }
      for (const s of shifts.filter((v) => v > 0)) {
        // The shift alone, no loop: the programme against itself shifted (the same distance).
        const open = progs.map((p) => {
          const f = new FreqShift()
          f.setShiftHz(s)
          return logSpectralDistance(p.x, f.process(p.x))
        })
        rows.push({
          metric: `programme against itself shifted ${s} Hz, no loop (log-spectral distance), worst / median`,
          value: `${fixed(Math.max(...open), 2)} / ${fixed(quantile(open, 0.5), 2)}`,
          unit: 'dB',
          note: progs.map((p, i) => `${p.family} ${fixed(open[i]!, 2)}`).join(', '),
        })
        rows.push({
          metric: `detuning of a ${s} Hz shift at 110 / 440 / 1760 Hz`,
          value: `${fixed(cents(110, s), 1)} / ${fixed(cents(440, s), 1)} / ${fixed(cents(1760, s), 1)}`,
          unit: 'cents',
          note: 'every partial moves by the same Hz, so harmonics stop being harmonic: a 5 Hz shift puts A2 (110 Hz) 77 cents sharp, most of a semitone',
        })
      }
      rows.push(...(await afcRows(ctx, run, q, rooms)))
      rows.push(...(await ringoutRows(ctx, run, q, rooms)))
      rows.push({ metric: 'classifier fused (crowd_state feedback probability)', value: cls ? 'yes' : 'no' })
    } finally {
      await cls?.stop()
    }
    return rows
  },
}

export default section
