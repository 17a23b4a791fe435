// Biquad and parametric EQ checks: the designed filters against the RBJ cookbook's analog
// prototypes, and parameter changes that must not click.

import type { Test } from 'tap'
import t from 'tap'
import { biquadMagnitudeDb, designBiquad, equalize } from '../../firmware/engine/dsp.ts'
import type { BandParams } from '../../firmware/engine/types.ts'
import { maxStep, sine } from './helpers.ts'

const SR = 48000

// |H(jW)| of the cookbook's analog prototypes, with the bilinear transform's frequency warping
// (W = tan(pi f / fs) / tan(pi f0 / fs)), evaluated independently of the addon.
function cookbookDb(p: BandParams, f: number, sr: number): number {
  const W = Math.tan((Math.PI * f) / sr) / Math.tan((Math.PI * p.freqHz) / sr)
  const A = 10 ** (p.gainDb / 40),
    Q = p.q,
    sA = Math.sqrt(A)
  // A polynomial c2 s^2 + c1 s + c0 at s = jW: (c0 - c2 W^2) + j c1 W
  const mag = (c2: number, c1: number, c0: number) => Math.hypot(c0 - c2 * W * W, c1 * W)
  let h: number
  switch (p.type) {
    case 'lowpass':
      h = 1 / mag(1, 1 / Q, 1)
      break
    case 'highpass':
      h = (W * W) / mag(1, 1 / Q, 1)
      break
    case 'peak':
      h = mag(1, A / Q, 1) / mag(1, 1 / (A * Q), 1)
      break
    case 'lowshelf':
      h = (A * mag(1, sA / Q, A)) / mag(A, sA / Q, 1)
      break
    case 'highshelf':
      h = (A * mag(A, sA / Q, 1)) / mag(1, sA / Q, A)
      break
  }
  return 20 * Math.log10(h)
}

const freqs = [20, 50, 100, 200, 500, 700, 1000, 1500, 2000, 3000, 5000, 8000, 10000, 15000, 20000]
const cases: BandParams[] = [
  { type: 'peak', freqHz: 1000, gainDb: 6, q: 1, enabled: true },
  { type: 'peak', freqHz: 250, gainDb: -12, q: 4, enabled: true },
  { type: 'peak', freqHz: 8000, gainDb: 9, q: 0.5, enabled: true },
  { type: 'lowshelf', freqHz: 200, gainDb: 6, q: 0.7071, enabled: true },
  { type: 'lowshelf', freqHz: 800, gainDb: -9, q: 1.2, enabled: true },
  { type: 'highshelf', freqHz: 4000, gainDb: -6, q: 0.7071, enabled: true },
  { type: 'highshelf', freqHz: 10000, gainDb: 8, q: 0.5, enabled: true },
  { type: 'highpass', freqHz: 80, gainDb: 0, q: 0.7071, enabled: true },
  { type: 'highpass', freqHz: 1200, gainDb: 0, q: 2, enabled: true },
  { type: 'lowpass', freqHz: 5000, gainDb: 0, q: 0.7071, enabled: true },
  { type: 'lowpass', freqHz: 300, gainDb: 0, q: 1.5, enabled: true },
]

t.test('biquad magnitude responses match the RBJ cookbook within 0.1 dB, all five types', async (t) => {
  for (const p of cases) {
    const got = biquadMagnitudeDb(p, SR, freqs)
    let worst = 0
    freqs.forEach((f, i) => {
      const want = cookbookDb(p, f, SR)
      // Deep in a pass filter's stop band both go toward -inf; compare where the response is audible.
      if (want < -60) return
      worst = Math.max(worst, Math.abs(got[i]! - want))
    })
    t.ok(worst <= 0.1, `${p.type} ${p.freqHz} Hz ${p.gainDb} dB Q ${p.q}: worst error ${worst.toFixed(4)} dB`)
  }
})

t.test('the designed filter really filters: a peak band lifts a sine at its centre by its gain', async (t) => {
  const x = sine(1000, 0.1, SR)
  const y = equalize(SR, [{ type: 'peak', freqHz: 1000, gainDb: 6, q: 1 }], x)
  let peak = 0
  for (let i = SR / 2; i < SR; i++) peak = Math.max(peak, Math.abs(y[i]!))
  t.ok(Math.abs(20 * Math.log10(peak / 0.1) - 6) < 0.05, `gain ${(20 * Math.log10(peak / 0.1)).toFixed(3)} dB`)
  const c = designBiquad({ type: 'peak', freqHz: 1000, gainDb: 6, q: 1 }, SR)
  t.ok(c.b0 > 1, 'a boost has b0 > 1')
})

// How far the largest sample-to-sample step around a change at `at` exceeds the sine's own
// largest step (settled, before or after the change): <= 1 means no click.
function clickRatio(y: Float32Array, at: number): number {
  const n = y.length
  const own = Math.max(maxStep(y, n - SR / 10, n), maxStep(y, SR / 10, at))
  return maxStep(y, at - 64, at + SR / 10) / own
}

// A sine through a band whose settings change at `at` (a block boundary, as in the engine, and
// away from a zero crossing). A glide may overshoot the settled level by a few percent, as any
// filter transient does; a click is many times larger (see the control below).
const AT = SR / 2 + 3 * 64
function checkNoClick(t: Test, label: string, freqHz: number, before: Partial<BandParams>, after: Partial<BandParams>) {
  const n = SR,
    at = AT
  const x = sine(freqHz, 0.25, n)
  const y = equalize(SR, [before], x, [{ at, band: 0, params: { ...(before as BandParams), ...after } }], 64)
  const r = clickRatio(y, at)
  t.ok(r <= 1.05, `${label}: largest step during the change is ${r.toFixed(3)} x the sine's own`)
}

t.test("EQ parameter changes mid-signal give no step larger than the signal's own (no click, no zipper)", async (t) => {
  checkNoClick(t, 'peak 0 -> +12 dB', 1000, { type: 'peak', freqHz: 1000, gainDb: 0, q: 1 }, { gainDb: 12 })
  checkNoClick(t, 'peak +12 -> -12 dB', 1000, { type: 'peak', freqHz: 1000, gainDb: 12, q: 1 }, { gainDb: -12 })
  checkNoClick(t, 'peak centre moved off the tone, 1 kHz -> 4 kHz', 1000, { type: 'peak', freqHz: 1000, gainDb: 10, q: 2 }, { freqHz: 4000 })
  checkNoClick(t, 'lowpass 10 kHz -> 400 Hz', 2000, { type: 'lowpass', freqHz: 10000, q: 0.7071 }, { freqHz: 400 })
  checkNoClick(t, 'highpass switched in', 200, { type: 'highpass', freqHz: 1000, q: 0.7071, enabled: false }, { enabled: true })
  checkNoClick(t, 'high shelf switched out', 5000, { type: 'highshelf', freqHz: 2000, gainDb: 12, q: 0.7071 }, { enabled: false })
  checkNoClick(t, 'peak changed into a lowpass', 1000, { type: 'peak', freqHz: 1000, gainDb: 6, q: 1 }, { type: 'lowpass', freqHz: 3000, gainDb: 0 })
})

t.test('a band ridden block by block, as automation does, gives no zipper', async (t) => {
  // Gain 0 -> +12 dB and centre 500 Hz -> 2 kHz in 48 steps, one per 64-sample block.
  const n = SR,
    at = AT
  const x = sine(1000, 0.25, n)
  const changes = Array.from({ length: 48 }, (_, i) => ({
    at: at + i * 64,
    band: 0,
    params: { type: 'peak' as const, freqHz: 500 * 4 ** ((i + 1) / 48), gainDb: (12 * (i + 1)) / 48, q: 1, enabled: true },
  }))
  const y = equalize(SR, [{ type: 'peak', freqHz: 500, gainDb: 0, q: 1 }], x, changes, 64)
  // The tone's own largest step over the whole ride: the level legitimately peaks when the band
  // centre passes 1 kHz, so compare with the largest step a clean sine of that peak level has.
  let peak = 0
  for (let i = at; i < n; i++) peak = Math.max(peak, Math.abs(y[i]!))
  const own = 2 * peak * Math.sin((Math.PI * 1000) / SR)
  const r = maxStep(y, at - 64, n) / own
  t.ok(r <= 1.05, `largest step during the ride is ${r.toFixed(3)} x a clean sine's at the peak level`)
})

t.test('the click check catches a click: a highpass switched in abruptly fails it', async (t) => {
  // Control for the test above, computed here in TypeScript: the same highpass switched in at
  // once (fresh state, no crossfade), as a naive implementation would.
  const n = SR,
    at = AT
  const x = sine(200, 0.25, n)
  const c = designBiquad({ type: 'highpass', freqHz: 1000, q: 0.7071 }, SR)
  const y = Float32Array.from(x)
  let s1 = 0,
    s2 = 0
  for (let i = at; i < n; i++) {
    const v = c.b0 * x[i]! + s1
    s1 = c.b1 * x[i]! - c.a1 * v + s2
    s2 = c.b2 * x[i]! - c.a2 * v
    y[i] = v
  }
  const r = clickRatio(y, at)
  t.ok(r > 1.5, `an abrupt switch steps ${r.toFixed(2)} x the sine's own`)
})

t.test('bad band settings are refused with a clear error', async (t) => {
  t.throws(() => designBiquad({ type: 'notch' as never }, SR), { code: 'FW_ERR_BAD_OPTION', message: /type/ })
  t.throws(() => designBiquad({ freqHz: 30000 }, SR), { code: 'FW_ERR_BAD_OPTION', message: /freqHz/ })
  t.throws(() => designBiquad({ q: 0 }, SR), { code: 'FW_ERR_BAD_OPTION', message: /q/ })
})
