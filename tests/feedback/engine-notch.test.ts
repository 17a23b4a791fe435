// Feedback notches on the engine's outputs: through the command ring into the audio thread
// (file backend, unpaced and exact), measured in the output; bad settings refused before anything
// is sent; the engine's own howl detector (the feature tap) reports a howling output.

import { join } from 'node:path'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import type { FeatureFrames } from '../../firmware/engine/types.ts'
import { decodeCandidates } from '../../firmware/inference/feedback.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'

const sr = 48000

function rmsDb(x: Float32Array | Float64Array, channels: number, ch: number, from: number, to: number): number {
  let s = 0
  for (let i = from; i < to; i++) s += x[i * channels + ch]! ** 2
  return 10 * Math.log10(s / (to - from))
}

t.test('a notch (the last of 32 slots) on an output takes its tone down by its depth, and the detector sees the tone', async (t) => {
  const dir = t.testdir()
  const n = sr * 2
  const data = new Float32Array(n * 2)
  for (let i = 0; i < n; i++) {
    // Output 0: a steady 1 kHz line over noise (what a howl looks like to the detector); output 1: the same.
    const tone = 0.3 * Math.sin((2 * Math.PI * 1000 * i) / sr)
    data[2 * i] = tone + 0.003 * (Math.random() - 0.5)
    data[2 * i + 1] = tone + 0.003 * (Math.random() - 0.5)
  }
  writeWav(join(dir, 'in.wav'), { channels: 2, sampleRate: sr }, data)
  const e = new Engine({
    backend: 'file',
    inputs: 2,
    outputs: 2,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
    losslessFeatures: true,
    file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav') },
  })
  t.throws(() => e.setNotch({ output: 0, slot: 0, hz: 1000, gainDb: -12, q: 10, enabled: true }), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, 'Q under 30 refused')
  t.throws(() => e.setNotch({ output: 0, slot: 32, hz: 1000, gainDb: -12, q: 40, enabled: true }), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, 'slot 32 refused')
  t.throws(() => e.setNotch({ output: 5, slot: 0, hz: 1000, gainDb: -12, q: 40, enabled: true }), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, 'no such output')
  // The last of the 32 slots (issue 13, fifth round: 8 slots before).
  e.setNotch({ output: 0, slot: 31, hz: 1000, gainDb: -12, q: 40, enabled: true })
  const howl: NonNullable<FeatureFrames['howl']> = []
  e.start()
  const done = e.finished()
  let finished = false
  void done.then(() => {
    finished = true
  })
  while (!finished) {
    howl.push(...(e.pollFeatures().howl ?? []))
    await new Promise((r) => setTimeout(r, 5))
  }
  howl.push(...(e.pollFeatures().howl ?? []))
  e.stop()
  const out = readWav(join(dir, 'out.wav'))
  const notched = rmsDb(out.data, 2, 0, sr, n)
  const plain = rmsDb(out.data, 2, 1, sr, n)
  t.ok(plain - notched > 10 && plain - notched < 14, `output 0 is ${(plain - notched).toFixed(1)} dB under output 1 (notch -12 dB)`)
  const seen = howl.filter((h) => h.output === 1).flatMap((h) => decodeCandidates(h.candidates))
  t.ok(seen.length > 0, `the detector reported output 1's line (${seen.length} candidates)`)
  t.ok(
    seen.every((c) => Math.abs(c.hz - 1000) < 3),
    'at 1 kHz within 3 Hz',
  )
})
