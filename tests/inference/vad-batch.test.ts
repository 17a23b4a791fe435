import t from 'tap'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { SileroVadStream, VAD_BATCH, VAD_WINDOW, vadProbabilities } from '../../firmware/inference/models.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { espeakAt16k } from '../helpers/speech.ts'

t.test('a batch of VAD windows gives what one window at a time gives, in 1/32 of the requests', async (t) => {
  const x16 = espeakAt16k(t.testdir({}))

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
