// Offline, the VAD sends a second of windows per request (SileroVadStream.pushMany, the child's
// `scan`): the same probabilities as one window per request, in order with the recurrent state
// carried, for 1/32 of the round trips to the inference process. Real espeak-ng speech, the real
// Silero model in the real child process.

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { SileroVadStream, VAD_BATCH, VAD_WINDOW, vadProbabilities } from '../../firmware/inference/models.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { readWav } from '../../firmware/wav/wav.ts'

t.test('a batch of VAD windows gives what one window at a time gives, in 1/32 of the requests', async (t) => {
  const dir = t.testdir({})
  const speech = join(dir, 'speech.wav')
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', speech, 'good evening, and welcome to the show. one two, one two, check'])
  const s = readWav(speech)
  const mono = s.data as Float32Array
  // espeak-ng writes 22050 Hz; the VAD hears 16 kHz (nearest sample is enough for this comparison).
  const n16 = Math.floor((mono.length * 16000) / s.info.sampleRate)
  const x16 = new Float32Array(n16 + 16000)
  for (let i = 0; i < n16; i++) x16[8000 + i] = mono[Math.floor((i * s.info.sampleRate) / 16000)]!

  const svc = new InferenceService()
  await svc.start()
  t.teardown(() => svc.stop())
  for (const m of BUILTIN_MANIFESTS) await svc.activate(m)

  const one = new SileroVadStream(svc)
  const windows = Math.floor(x16.length / VAD_WINDOW)
  const single = new Float32Array(windows)
  const before = svc.stats().requests
  for (let i = 0; i < windows; i++) single[i] = await one.push(x16.subarray(i * VAD_WINDOW, (i + 1) * VAD_WINDOW), { deadlineMs: 5000 })
  const singleRequests = svc.stats().requests - before

  const mid = svc.stats().requests
  const batched = await vadProbabilities(svc, x16, { deadlineMs: 5000 })
  const batchRequests = svc.stats().requests - mid

  t.equal(one.missed, 0, 'no window missed one at a time')
  t.ok(
    single.some((p) => p > 0.8),
    `speech is heard (max ${Math.max(...single).toFixed(2)})`,
  )
  let worst = 0
  for (let i = 0; i < windows; i++) worst = Math.max(worst, Math.abs(single[i]! - batched[i]!))
  t.ok(worst < 1e-6, `the same probabilities window by window (largest difference ${worst})`)
  t.equal(batchRequests, Math.ceil(windows / VAD_BATCH), `${batchRequests} requests instead of ${singleRequests}`)
})
