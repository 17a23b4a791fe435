// Compressor/limiter checks: the static curve (threshold, ratio, knee, makeup) and the attack and
// release time constants.
import t from 'tap'
import { compress } from '../../firmware/engine/dsp.ts'
import { sine } from './helpers.ts'

const SR = 48000

// The soft-knee static curve (Giannoulis, Massberg & Reiss 2012), output level for input level.
function curve(x: number, T: number, R: number, W: number): number {
  if (2 * (x - T) < -W) return x
  if (2 * Math.abs(x - T) <= W) return x + ((1 / R - 1) * (x - T + W / 2) ** 2) / (2 * W)
  return T + (x - T) / R
}

const peakDb = (y: Float32Array, from: number) => {
  let p = 0
  for (let i = from; i < y.length; i++) p = Math.max(p, Math.abs(y[i]!))
  return 20 * Math.log10(p)
}

t.test('the static curve follows threshold, ratio, knee and makeup on steady sines', async (t) => {
  const settings = [
    { thresholdDb: -20, ratio: 4, kneeDb: 6, makeupDb: 3 },
    { thresholdDb: -12, ratio: 2, kneeDb: 0, makeupDb: 0 },
    { thresholdDb: -30, ratio: 10, kneeDb: 12, makeupDb: 6 },
  ]
  for (const s of settings) {
    for (const level of [-40, -30, -24, -20, -17, -14, -10, -6, -1]) {
      const x = sine(1000, 10 ** (level / 20), SR / 2)
      const y = compress({ ...s, attackMs: 1, releaseMs: 200 }, SR, x)
      const got = peakDb(y, SR / 4)
      const want = curve(level, s.thresholdDb, s.ratio, s.kneeDb) + s.makeupDb
      t.ok(Math.abs(got - want) < 0.2, `T ${s.thresholdDb} R ${s.ratio} W ${s.kneeDb}: in ${level} dB -> ${got.toFixed(2)} dB (curve ${want.toFixed(2)})`)
    }
  }
})

t.test('a limiter (ratio 1000) holds loud peaks at the threshold', async (t) => {
  const x = sine(500, 1, SR / 2)
  const y = compress({ thresholdDb: -6, ratio: 1000, kneeDb: 0, attackMs: 0.1, releaseMs: 100 }, SR, x)
  t.ok(Math.abs(peakDb(y, SR / 4) + 6) < 0.2, `peak ${peakDb(y, SR / 4).toFixed(2)} dBFS`)
})

// Gain over time on a level step. A constant (DC) input makes the gain exact sample by sample:
// gain = output / input, with no waveform ripple to average out.
function gainTrace(attackMs: number, releaseMs: number) {
  const n = SR * 3,
    quiet = 10 ** (-40 / 20),
    loud = 10 ** (-6 / 20)
  const x = new Float32Array(n)
  for (let i = 0; i < n; i++) x[i] = i >= SR / 2 && i < SR ? loud : quiet
  const y = compress({ thresholdDb: -20, ratio: 8, kneeDb: 0, attackMs, releaseMs }, SR, x)
  return Array.from(y, (v, i) => 20 * Math.log10(v / x[i]!))
}

// Samples from `start` until the gain has covered 1 - 1/e of its way from `start` to `end`.
function timeConstant(g: number[], start: number, end: number): number {
  const from = g[start - 1]!,
    to = g[end - 1]!
  for (let i = start; i < end; i++) if (Math.abs(g[i]! - from) >= (1 - 1 / Math.E) * Math.abs(to - from)) return i - start
  return Infinity
}

t.test('attack and release behave as one-pole time constants', async (t) => {
  for (const [attackMs, releaseMs] of [
    [5, 100],
    [20, 300],
    [1, 50],
  ] as const) {
    const g = gainTrace(attackMs, releaseMs)
    const settled = g[SR - 1]!
    t.ok(Math.abs(settled - (curve(-6, -20, 8, 0) - -6)) < 0.05, `settled gain ${settled.toFixed(2)} dB`)
    const att = (timeConstant(g, SR / 2, SR) / SR) * 1000
    t.ok(Math.abs(att - attackMs) <= attackMs * 0.05 + 0.05, `attack ${attackMs} ms: 63% reached after ${att.toFixed(2)} ms`)
    // Release runs through the peak detector and then the attack smoother, so it is the release
    // time plus a little of the attack time.
    const rel = (timeConstant(g, SR, 3 * SR) / SR) * 1000
    t.ok(rel >= releaseMs && rel <= releaseMs + attackMs * 1.5 + 1, `release ${releaseMs} ms: 63% recovered after ${rel.toFixed(1)} ms`)
    t.ok(Math.abs(g[3 * SR - 1]!) < 0.05, 'gain recovers to 0 dB')
  }
})

t.test('signals below threshold pass untouched, and a disabled compressor does nothing', async (t) => {
  const x = sine(1000, 0.01, SR / 4)
  const y = compress({ thresholdDb: -20, ratio: 4, kneeDb: 0 }, SR, x)
  let worst = 0
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i]! - x[i]!))
  t.ok(worst < 1e-6, `largest difference ${worst}`)
  const loud = sine(1000, 0.9, SR / 4)
  const off = compress({ thresholdDb: -30, ratio: 10, enabled: false }, SR, loud)
  t.same(Array.from(off), Array.from(loud), 'disabled: output equals input')
})

t.test('bad compressor settings are refused with a clear error', async (t) => {
  t.throws(() => compress({ ratio: 0.5 }, SR, new Float32Array(8)), { code: 'FW_ERR_BAD_OPTION', message: /ratio/ })
  t.throws(() => compress({ attackMs: -1 }, SR, new Float32Array(8)), { code: 'FW_ERR_BAD_OPTION', message: /attackMs/ })
})
