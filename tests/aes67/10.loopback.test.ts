// A real peer: GStreamer sends an L24 stream (rtpL24pay -> udpsink) that the unit receives, runs
// through its engine (bypassed: the dry path is bit-exact) and sends back; GStreamer receives it
// (udpsrc -> rtpL24depay -> wavenc). The returned audio equals the sent audio, sample for sample,
// after the unit's delay.
import { join } from 'node:path'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { until } from '../helpers/until.ts'
import { findStart, gstReceiver, gstSender, readWav24, streamStats, writeNoiseWav24 } from './peers.ts'

t.test('a stream from GStreamer comes back through the bypassed unit sample-exact', async (t) => {
  const dir = t.testdir()
  const channels = 2
  const frames = 48000
  const sent = writeNoiseWav24(join(dir, 'in.wav'), frames, channels, 15)
  const rx = await gstReceiver(join(dir, 'out.wav'), channels)
  const e = new Engine({
    backend: 'aes67',
    inputs: channels,
    outputs: channels,
    startProcessed: false,
    aes67: {
      rx: [{ port: 0, channels, linkOffsetMs: 100 }],
      tx: [{ address: '127.0.0.1', port: rx.port, channels }],
    },
  })
  t.teardown(() => {
    e.stop()
    rx.child.kill('SIGKILL')
  })
  e.start()
  const unitPort = streamStats(e, 0).localPort
  t.ok(unitPort > 0, `the unit listens on ${unitPort}`)
  const tx = gstSender(join(dir, 'in.wav'), channels, unitPort)
  const code = await tx.exited
  t.equal(code, 0, `the gst sender ran to the end${code ? `: ${tx.log()}` : ''}`)
  // Taken before the jitter buffer runs dry at the end of the stream (that underrun is no fault).
  const rxStats = streamStats(e, 0)
  // The tail: the jitter buffer runs dry once the stream has ended, then 20 more packets go out.
  await until(() => streamStats(e, 0).underruns > rxStats.underruns, 10_000, 'the end of the stream to play out')
  const sentThen = streamStats(e, 1).packets
  await until(() => streamStats(e, 1).packets > sentThen + 20, 10_000, 'the unit to send the tail back')
  await rx.stop()
  const stats = [streamStats(e, 0), streamStats(e, 1)] as const
  e.stop()
  t.equal(stats[0].packets, frames / 48, 'the unit accepted every packet')
  t.equal(
    rxStats.lost + rxStats.late + rxStats.malformed + rxStats.underruns + rxStats.overflows,
    0,
    `no loss, lateness, malformed packet, underrun or overflow: ${JSON.stringify(rxStats)}`,
  )
  t.equal(stats[1].overflows + stats[1].sendErrors, 0, `the unit sent everything: ${JSON.stringify(stats[1])}`)
  const got = readWav24(join(dir, 'out.wav'))
  t.equal(got.channels, channels, 'the returned stream has the channels sent')
  const start = findStart(got.samples, sent, channels)
  t.ok(start >= 0, 'the sent audio is found in the returned audio')
  if (start < 0) return
  let mismatches = 0
  let first = -1
  for (let i = 0; i < sent.length; i++) {
    if (got.samples[start + i] !== sent[i]) {
      mismatches++
      if (first < 0) first = i
    }
  }
  t.equal(mismatches, 0, `first mismatch at sample ${first};`)
  t.equal(mismatches, 0, `all ${sent.length} samples come back bit-exact, ${start / channels} frames into the returned stream`)
})
