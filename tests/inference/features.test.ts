import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadNative } from '../../firmware/engine/native.ts'
import { modelsDir } from '../../firmware/inference/manifest.ts'

interface FeaturesExport {
  decimate48to16(x: Float32Array): Float32Array
  logMel(x: Float32Array): Float32Array
  bandSpectrum(x: Float32Array, averageSeconds?: number): { mean: Float32Array; spread: Float32Array; frames: number }
  melBands: number
  spectrumBands: number
}
const f = loadNative().features as FeaturesExport

const sine = (n: number, sr: number, hz: number, amp = 0.5) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / sr))
const rms = (x: Float32Array, from = 0) => Math.sqrt(x.subarray(from).reduce((s, v) => s + v * v, 0) / (x.length - from))

t.test('native log-mel matches the training definition (models/features.py golden frames)', async (t) => {
  const g = JSON.parse(readFileSync(join(modelsDir, 'fixtures', 'logmel_golden.json'), 'utf8')) as { frames: number[][] }
  const x = Float32Array.from({ length: 4000 }, (_, n) => {
    const s = n / 16000
    return 0.5 * Math.sin(2 * Math.PI * 440 * s) + 0.25 * Math.sin(2 * Math.PI * 3000 * s) + 0.1 * Math.sin(2 * Math.PI * 97 * s)
  })
  const got = f.logMel(x)
  t.equal(got.length / 40, g.frames.length, 'same frame count: 1 + (n - 400) / 160')
  let worst = 0
  g.frames.forEach((row, i) =>
    row.forEach((v, m) => {
      worst = Math.max(worst, Math.abs(v - got[i * 40 + m]!))
    }),
  )
  t.ok(worst < 0.01, `largest difference ${worst.toExponential(2)} (natural log units) < 0.01`)
})

t.test('the log-mel frame of a tone peaks in the band that holds the tone', async (t) => {
  const frames = f.logMel(sine(1600, 16000, 1000))
  const last = Array.from(frames.subarray(frames.length - 40))
  const best = last.indexOf(Math.max(...last))
  // HTK mel: 1000 Hz is at 1000 mel; bands are spaced (mel(7600) - mel(50)) / 41 apart from mel(50).
  const mel = (hz: number) => 2595 * Math.log10(1 + hz / 700)
  const centre = (k: number) => mel(50) + ((mel(7600) - mel(50)) * (k + 1)) / 41
  const expected = [...Array(40).keys()].reduce((a, k) => (Math.abs(centre(k) - mel(1000)) < Math.abs(centre(a) - mel(1000)) ? k : a), 0)
  t.equal(best, expected)
})

t.test('the 48 -> 16 kHz decimator passes speech band and rejects what would alias', async (t) => {
  const pass = f.decimate48to16(sine(48000, 48000, 1000))
  t.equal(pass.length, 16000)
  t.ok(Math.abs(rms(pass, 100) / (0.5 / Math.SQRT2) - 1) < 0.02, '1 kHz passes within 0.2 dB')
  const stop = f.decimate48to16(sine(48000, 48000, 12000))
  t.ok(20 * Math.log10(rms(stop, 100) / (0.5 / Math.SQRT2)) < -50, '12 kHz (would alias to 4 kHz) is below -50 dB')
})

t.test('band spectrum: a tone raises its band, the mean settles and the spread stays small', async (t) => {
  const s = f.bandSpectrum(sine(48000 * 2, 48000, 1000), 0.5)
  t.equal(s.mean.length, 32)
  t.ok(s.frames > 80)
  const edges = Array.from({ length: 33 }, (_, b) => 31.5 * (16000 / 31.5) ** (b / 32))
  const band = edges.findIndex((e, b) => b < 32 && 1000 >= e && 1000 < edges[b + 1]!)
  const means = Array.from(s.mean)
  t.equal(means.indexOf(Math.max(...means)), band, '1 kHz lands in its band')
  t.ok(s.spread[band]! < 1, 'a steady tone has a steady level')
})

t.test('the extractors refuse what is not a Float32Array', async (t) => {
  t.throws(() => f.logMel([1, 2, 3] as unknown as Float32Array), /Float32Array/)
  t.throws(() => f.decimate48to16(new Float64Array(10) as unknown as Float32Array), /Float32Array/)
})
