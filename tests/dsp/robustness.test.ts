// Fail-open at the module level: a corrupt sample (NaN or infinity from a broken input) may spoil
// the samples around it, but no DSP stage may stay broken afterwards.
import t from 'tap'
import { beamform, compress, doa, equalize, simulateStage } from '../../firmware/engine/dsp.ts'
import { ring8, sine } from './helpers.ts'

const SR = 48000
const allFinite = (x: Float32Array, from: number) => x.subarray(from).every((v) => Number.isFinite(v))

t.test('EQ and compressor recover from NaN and infinite samples', async (t) => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const x = sine(1000, 0.5, SR / 2)
    x[5000] = bad
    const y = equalize(
      SR,
      [
        { type: 'peak', freqHz: 1000, gainDb: 6, q: 1 },
        { type: 'lowpass', freqHz: 8000 },
      ],
      x,
    )
    t.ok(allFinite(y, 5200), `EQ: finite again after a ${bad} sample`)
    const z = compress({ thresholdDb: -20, ratio: 4 }, SR, x)
    t.ok(allFinite(z, 5200), `compressor: finite again after a ${bad} sample`)
    t.ok(Math.abs(z[SR / 2 - 1]!) < 0.5, 'and still compressing')
  }
})

t.test('beamformers and DOA recover from a NaN sample in one mic', async (t) => {
  const g = ring8()
  const x = simulateStage(g, [{ azimuth: 40, kind: 'noise', levelDb: -20 }], -40, 9, SR)
  x[3]![10000] = NaN
  for (const kind of ['das', 'mvdr'] as const) {
    const y = beamform(g, kind, 40, 0, x)
    t.ok(allFinite(y, 12000), `${kind}: finite again after the NaN`)
  }
  const tr = doa(g, x, 1024)
  t.ok(
    tr.every((e) => Number.isFinite(e.azimuth) && Number.isFinite(e.confidence)),
    'no NaN in the DOA track',
  )
  t.ok(tr.length >= 85, `frames touching the NaN are skipped, the rest estimated (${tr.length})`)
  t.ok(Math.abs(tr[tr.length - 1]!.azimuth - 40) < 2, 'and the estimate is right again')
})
