// The mix tap is one more consumer of the engine's output: the engine never waits for it. An
// unpaced file run outpaces any listener's stream; every tap record is either rendered or
// dropped and counted, and the file the PA path writes is exactly what it is without a stream.
import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'

t.test('an unpaced run with a stream to a dead ingest: the output file is untouched, tap drops are counted', async (t) => {
  const dir = t.testdir({})
  const frames = 48000 * 6
  const x = new Float32Array(frames * 2)
  let seed = 7
  for (let i = 0; i < x.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    x[i] = ((seed / 2 ** 32) * 2 - 1) * 0.3
  }
  writeWav(join(dir, 'in.wav'), { channels: 2, sampleRate: 48000 }, x)
  // A port nobody listens on: the streamer's sends are refused.
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const dead = s.address().port
  await new Promise<void>((r) => s.close(() => r()))

  const engine = new Engine({ backend: 'file', inputs: 2, outputs: 2, heartbeatTimeoutMs: 0, file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav') } })
  // The stream is published before the engine starts, so the tap sees every block.
  const streams = new MixStreams(engine.mixPort(), 10)
  streams.publish(validateProfile({ name: 'm', sources: [{ output: 0, gainDb: 0 }], bedDb: -6 }), { host: '127.0.0.1', port: dead, bitrate: 64000 })
  engine.start()
  await engine.finished()
  await new Promise((r) => setTimeout(r, 300))
  const st = streams.stats()!
  streams.stop()
  engine.stop()
  const records = frames / 32
  t.ok(st.chunks > 0, `the streamer rendered ${st.chunks} tap records`)
  t.ok(
    st.chunks + st.tapDrops <= records,
    `rendered ${st.chunks} + dropped ${st.tapDrops} of the ${records} the run pushed (records pushed before the stream started are not in the tap)`,
  )
  t.ok(st.tapDrops > 0, `the unpaced engine outran the streamer: ${st.tapDrops} records dropped and counted, none waited for`)
  t.ok(st.streams[0]!.sendErrors > 0 || st.streams[0]!.packets > 0, `sends ${st.streams[0]!.packets}, refused ${st.streams[0]!.sendErrors}`)
  const out = readWav(join(dir, 'out.wav')).data
  let diff = 0
  for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(out[i]! - x[i]!))
  t.equal(out.length, x.length, 'the whole input came out')
  t.equal(diff, 0, 'the PA output is the input, sample for sample')
})
