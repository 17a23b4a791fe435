import { join } from 'node:path'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { loadNative } from '../../firmware/engine/native.ts'
import type { FeatureFrames } from '../../firmware/engine/types.ts'
import { writeWav } from '../../firmware/wav/wav.ts'

interface FeaturesExport {
  decimate48to16(x: Float32Array): Float32Array
  logMel(x: Float32Array): Float32Array
}
const f = loadNative().features as FeaturesExport
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('the engine publishes the same log-mel frames and VAD windows as the offline extractors, through its ring', async (t) => {
  const dir = t.testdir({})
  const n = 48000
  let seed = 7
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1
  const x = Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 523 * i) / 48000) + 0.05 * rand())
  writeWav(join(dir, 'in.wav'), { channels: 1, sampleRate: 48000, format: 'float32' }, x)
  const engine = new Engine({
    backend: 'file',
    sampleRate: 48000,
    blockSize: 64,
    inputs: 1,
    outputs: 1,
    file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav'), format: 'float32' },
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
  })
  engine.start()
  const got: FeatureFrames[] = []
  while (!engine.stats().finished) {
    got.push(engine.pollFeatures())
    await sleep(5)
  }
  got.push(engine.pollFeatures())
  engine.stop()
  const cat = (k: 'logMel' | 'vad') => {
    const out = new Float32Array(got.reduce((a, g) => a + g[k].length, 0))
    let o = 0
    for (const g of got) {
      out.set(g[k], o)
      o += g[k].length
    }
    return out
  }
  const mel = cat('logMel'),
    vad = cat('vad')
  t.equal(got.at(-1)!.dropped, 0, 'nothing dropped')
  const x16 = f.decimate48to16(x)
  const want = f.logMel(x16)
  t.equal(mel.length, want.length, `${want.length / 40} log-mel frames, as offline`)
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - mel[i]!))
  t.ok(worst < 1e-4, `frames equal the offline extractor's (largest difference ${worst.toExponential(1)})`)
  t.equal(vad.length, Math.floor(x16.length / 512) * 512, 'every complete 512-sample window')
  let vworst = 0
  for (let i = 0; i < vad.length; i++) vworst = Math.max(vworst, Math.abs(vad[i]! - x16[i]!))
  t.ok(vworst < 1e-6, 'VAD windows are the decimated input mix')
  const spectra = got.flatMap((g) => g.spectra)
  t.ok(spectra.length >= 1 && spectra.every((s) => s.output === 0 && s.mean.length === 32 && s.spread.length === 32), 'output spectra for output 1')
})
