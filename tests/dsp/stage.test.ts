// The synthetic stage: levels as specified, plane-wave delays that match the geometry, and
// deterministic output for a seed.
import t from 'tap'
import { simulateStage } from '../../firmware/engine/dsp.ts'
import type { ArrayGeometry } from '../../firmware/engine/types.ts'
import { db, power, ring8 } from './helpers.ts'

const SR = 48000

t.test('the same seed renders the same stage, another seed a different one', async (t) => {
  const g = ring8()
  const src = [
    { azimuth: 60, kind: 'speechlike' as const, freqHz: 220, levelDb: -20 },
    { azimuth: 200, kind: 'noise' as const, levelDb: -30 },
  ]
  const a = simulateStage(g, src, -50, 42, 4096),
    b = simulateStage(g, src, -50, 42, 4096, 64),
    c = simulateStage(g, src, -50, 43, 4096)
  const equal = (x: Float32Array[], y: Float32Array[]) => x.every((ch, k) => ch.every((v, i) => v === y[k]![i]))
  t.ok(equal(a, b), 'same seed, different block size: identical')
  t.notOk(equal(a, c), 'another seed differs')
})

t.test('source and noise levels are RMS dBFS as specified', async (t) => {
  const g = ring8()
  for (const kind of ['tone', 'noise', 'speechlike'] as const) {
    const x = simulateStage(g, [{ azimuth: 10, kind, freqHz: 200, levelDb: -20 }], -400, 1, SR * 4)
    const level = db(power(x[0]!))
    t.ok(Math.abs(level + 20) < 0.3, `${kind}: ${level.toFixed(2)} dBFS at a mic (wanted -20)`)
  }
  const n = simulateStage(g, [], -50, 1, SR)
  t.ok(Math.abs(db(power(n[5]!)) + 50) < 0.1, `mic noise ${db(power(n[5]!)).toFixed(2)} dBFS (wanted -50)`)
  t.ok(Math.abs(db(power(simulateStage(g, [], -400, 1, 1000)[0]!))) === Infinity, 'noiseDb -400: no noise at all')
})

t.test('a plane wave reaches each mic early by dot(mic, direction) / c', async (t) => {
  // Two mics 34.3 cm apart on x: a source on +x reaches the +x mic 1 ms (48 samples) early;
  // a tone lets the delay be read from the phase.
  const g: ArrayGeometry = {
    sampleRate: SR,
    mics: [
      [0.1715, 0, 0],
      [-0.1715, 0, 0],
    ],
  }
  for (const [az, wantMs] of [
    [0, 1],
    [60, 0.5],
    [90, 0],
    [180, -1],
  ] as const) {
    const f = 250
    const x = simulateStage(g, [{ azimuth: az, kind: 'tone', freqHz: f, levelDb: -10 }], -400, 1, SR)
    // Phase of each channel at f by correlation with a complex exponential.
    const phase = (ch: Float32Array) => {
      let re = 0,
        im = 0
      for (let i = 0; i < ch.length; i++) {
        re += ch[i]! * Math.cos((2 * Math.PI * f * i) / SR)
        im -= ch[i]! * Math.sin((2 * Math.PI * f * i) / SR)
      }
      return Math.atan2(im, re)
    }
    let d = phase(x[0]!) - phase(x[1]!)
    d = ((d + 3 * Math.PI) % (2 * Math.PI)) - Math.PI
    const leadMs = (d / (2 * Math.PI * f)) * 1000
    t.ok(Math.abs(leadMs - wantMs) < 0.002, `source at ${az} deg: mic 0 leads by ${leadMs.toFixed(4)} ms (wanted ${wantMs})`)
  }
})
