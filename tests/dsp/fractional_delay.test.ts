// Delay-and-sum builds its fractional-delay filters from a table over the fraction (linear
// interpolation between rows) instead of designing each one. These checks pin the table-built
// filters, as the beamformer really applies them, to the direct Kaiser-windowed-sinc design
// (computed here, independently of the addon), so the table cannot drift silently.
import t from 'tap'
import { beamform, beamformerLatency } from '../../firmware/engine/dsp.ts'
import type { ArrayGeometry } from '../../firmware/engine/types.ts'
import { rng } from '../helpers/rng.ts'

const SR = 48000
const C = 343 // speed of sound, m/s (geometry.h)
const TAPS = 16 // delay_and_sum.cc: kTaps
const BETA = 6 // delay_and_sum.cc: kBeta
const AT = 1024 // impulse position, past any start-up
// Bounds: linear interpolation over 256 steps is off by about 1e-4 dB and 2e-6 samples at 0.8
// Nyquist. Even a 16-step table would meet 0.05 dB / 0.01 samples, so the bounds are set where a
// table 8 times coarser (32 steps: 7e-3 dB, 1.4e-4 samples) fails them.
const MAX_DB = 0.001 // magnitude bound, dB
const MAX_GD = 0.0001 // group delay bound, samples
const TOP = 0.8 // checked up to this fraction of Nyquist (the filter's documented band)

function besselI0(x: number): number {
  let sum = 1,
    term = 1
  const q = (x * x) / 4
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k)
    sum += term
    if (term < 1e-12 * sum) break
  }
  return sum
}

/** The direct design: taps delaying by TAPS/2 - 1 + frac, unit DC gain. */
function directTaps(frac: number): number[] {
  const centre = TAPS / 2 - 1 + frac,
    half = TAPS / 2,
    i0b = besselI0(BETA)
  const h = Array.from({ length: TAPS }, (_, k) => {
    const x = k - centre
    const sinc = Math.abs(x) < 1e-12 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x)
    const r = x / half
    return r * r >= 1 ? 0 : (sinc * besselI0(BETA * Math.sqrt(1 - r * r))) / i0b
  })
  const sum = h.reduce((a, b) => a + b, 0)
  return h.map((v) => v / sum)
}

/** Magnitude (dB) and group delay (samples) of an FIR at w rad/sample. */
function response(h: ArrayLike<number>, w: number): { db: number; gd: number } {
  let re = 0,
    im = 0,
    kre = 0,
    kim = 0
  for (let k = 0; k < h.length; k++) {
    const c = Math.cos(w * k),
      s = -Math.sin(w * k)
    re += h[k]! * c
    im += h[k]! * s
    kre += k * h[k]! * c
    kim += k * h[k]! * s
  }
  const p = re * re + im * im
  return { db: 10 * Math.log10(p), gd: (kre * re + kim * im) / p }
}

/** Largest magnitude and group delay differences between two FIRs over (0, TOP * Nyquist]. */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): { db: number; gd: number } {
  let db = 0,
    gd = 0
  for (let i = 1; i <= 200; i++) {
    const w = (Math.PI * TOP * i) / 200
    const ra = response(a, w),
      rb = response(b, w)
    db = Math.max(db, Math.abs(ra.db - rb.db))
    gd = Math.max(gd, Math.abs(ra.gd - rb.gd))
  }
  return { db, gd }
}

/**
 * The taps delay-and-sum really applies for one fraction: a 2-mic array, beam at azimuth 0, an
 * impulse on mic 0 only. Mic 0 sits on the x axis where its delay is K0 + x fs / c, so the beam
 * output is mic 0's fractional-delay filter (times 1/2, the average over 2 mics), placed at
 * floor(delay - (TAPS/2 - 1)). Returns the fraction it got (from the same double arithmetic).
 */
function appliedTaps(wantFrac: number, whole: number): { frac: number; taps: Float32Array; outside: number } {
  const probe: ArrayGeometry = {
    sampleRate: SR,
    mics: [
      [0, 0, 0],
      [0, 0.5, 0],
    ],
  }
  const k0 = beamformerLatency(probe, 'das') // the radius (0.5 m, mic 1) fixes K0
  const x = ((whole + wantFrac + TAPS / 2 - 1 - k0) * C) / SR
  const g: ArrayGeometry = {
    sampleRate: SR,
    mics: [
      [x, 0, 0],
      [0, 0.5, 0],
    ],
  }
  if (beamformerLatency(g, 'das') !== k0) throw new Error('probe geometry changed K0')
  const base = k0 + (x / C) * SR - (TAPS / 2 - 1)
  const at = Math.floor(base),
    frac = base - at
  const n = AT + 256
  const imp = new Float32Array(n),
    silent = new Float32Array(n)
  imp[AT] = 1
  const y = beamform(g, 'das', 0, 0, [imp, silent])
  const taps = new Float32Array(TAPS)
  let outside = 0
  for (let i = 0; i < n; i++) {
    const k = i - AT - at
    if (k >= 0 && k < TAPS) taps[k] = 2 * y[i]!
    else outside = Math.max(outside, Math.abs(y[i]!))
  }
  return { frac, taps, outside }
}

t.test("the beamformer's table-built filters match the direct design for random fractions", async (t) => {
  const seed = 20261126
  const rand = rng(seed)
  // Random fractions, the worst case of linear interpolation (half-way between table rows at
  // 256 and 512 steps), and both ends.
  const fracs = [
    ...Array.from({ length: 150 }, () => rand()),
    ...[3, 77, 128, 200, 255].map((i) => (i + 0.5) / 256),
    ...[5, 300, 511].map((i) => (i + 0.5) / 512),
    1e-7,
    0.5,
    1 - 1e-7,
  ]
  let maxDb = 0,
    maxGd = 0,
    maxOutside = 0,
    maxDc = 0,
    worstFrac = 0
  for (const [i, f] of fracs.entries()) {
    const { frac, taps, outside } = appliedTaps(f, 3 + (i % 40))
    const e = worst(taps, directTaps(frac))
    if (e.db > maxDb || e.gd > maxGd) worstFrac = frac
    maxDb = Math.max(maxDb, e.db)
    maxGd = Math.max(maxGd, e.gd)
    maxOutside = Math.max(maxOutside, outside)
    maxDc = Math.max(maxDc, Math.abs(taps.reduce((a, b) => a + b, 0) - 1))
  }
  t.equal(maxOutside, 0, 'the filter sits where the delay says (nothing outside its 16 taps)')
  t.ok(maxDc < 1e-5, `unit DC gain: largest error ${maxDc.toExponential(1)}`)
  t.ok(
    maxDb <= MAX_DB,
    `${fracs.length} fractions (seed ${seed}), 0..${TOP} Nyquist: magnitude within ${maxDb.toExponential(1)} dB of the direct design (bound ${MAX_DB})`,
  )
  t.ok(maxGd <= MAX_GD, `group delay within ${maxGd.toExponential(1)} samples (bound ${MAX_GD}); worst fraction ${worstFrac.toFixed(4)}`)
})

t.test('the comparison catches a table that is too coarse', async (t) => {
  // Control: a 32-step table (linear interpolation between its rows) fails the same bounds, so
  // the check above has the resolution to see a table drifting from the direct design.
  const steps = 32
  const coarse = (frac: number) => {
    const pos = frac * steps,
      i = Math.min(Math.floor(pos), steps - 1),
      u = pos - i
    const a = directTaps(i / steps),
      b = directTaps((i + 1) / steps)
    return a.map((v, k) => v + u * (b[k]! - v))
  }
  let maxDb = 0,
    maxGd = 0
  for (let i = 0; i < steps; i++) {
    const f = (i + 0.5) / steps
    const e = worst(coarse(f), directTaps(f))
    maxDb = Math.max(maxDb, e.db)
    maxGd = Math.max(maxGd, e.gd)
  }
  t.ok(maxDb > MAX_DB || maxGd > MAX_GD, `a ${steps}-step table is off by ${maxDb.toFixed(4)} dB / ${maxGd.toFixed(5)} samples (bounds ${MAX_DB} / ${MAX_GD})`)
})
