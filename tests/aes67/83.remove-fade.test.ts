// A receive stream removed while its input plays it (docs/aes67.md, "Streams at run time"): the
// input fades out over half the link offset instead of stepping to silence (no click), the engine
// keeps running, and the slot is free for the next stream. Engine level: a bypassed engine, a
// steady level in over RTP from this process, the engine's output back over RTP to a socket here.
import { createSocket } from 'node:dgram'
import t from 'tap'
import { resolveStreams } from '../../firmware/engine/aes67-options.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { until } from '../helpers/until.ts'
import { rtpPacket, rtpSamples, sendPaced, udpCollector } from './peers.ts'

const LEVEL = 2 ** 22 // half of full scale, in 24 bits

t.test('a playing receive stream removed at run time fades out over half its link offset', async (t) => {
  const { sock: back, got } = await udpCollector()
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: { tx: [{ address: '127.0.0.1', port: back.address().port, channels: 1 }], rxSlots: 2 },
  })
  e.start()
  t.teardown(() => {
    e.stop()
    back.close()
  })
  const [stream] = resolveStreams([{ port: 0, channels: 1, firstChannel: 0, linkOffsetMs: 20 }], 'rx', 1)
  if (!stream) throw new Error('no stream')
  const slot = e.addAes67Stream('rx', stream)
  const st = () => e.netStats().find((s) => s.direction === 'rx' && s.slot === slot)
  const port = st()?.localPort ?? 0
  t.ok(port > 0, `added in slot ${slot}, bound to port ${port}`)
  const packets = Array.from({ length: 2000 }, (_, p) => rtpPacket({ seq: p, ts: p * 48, ssrc: 0x5eed, samples: new Array(48).fill(LEVEL) }))
  const sock = createSocket('udp4')
  t.teardown(() => sock.close())
  const sending = sendPaced(sock, port, packets)
  await until(() => (st()?.packets ?? 0) > 300, 10_000, 'the stream to play')
  const t0 = performance.now()
  // The event loop runs while the fade plays out: a 1 ms timer fires during the remove. (A remove
  // that waited inside the native call, as the first version did, let none fire, on any machine.)
  let ticks = 0
  const ticker = setInterval(() => ticks++, 1)
  await e.removeAes67Stream('rx', slot)
  clearInterval(ticker)
  const removeMs = performance.now() - t0
  t.ok(ticks >= 1, `the event loop ran ${ticks} timer ticks during the ${removeMs.toFixed(1)} ms remove`)
  t.notOk(st(), 'gone from netStats')
  t.ok(removeMs < 1000, `remove returned after ${removeMs.toFixed(1)} ms (fade 10 ms, then the threads let go)`)
  // The slot is free again: a second stream takes it.
  const again = e.addAes67Stream('rx', stream)
  t.equal(again, slot, 'the freed slot takes the next stream')
  await e.removeAes67Stream('rx', again)
  await sending
  await new Promise((r) => setTimeout(r, 100))

  const out = Int32Array.from(got.flatMap((m) => Array.from(rtpSamples(m))))
  const first = out.indexOf(LEVEL)
  t.ok(first >= 0, 'the level played')
  let last = out.length - 1
  while (last > first && out[last] !== LEVEL) last--
  // From the last sample at the level down to silence.
  let end = last
  while (end < out.length && out[end] !== 0) end++
  const fade = end - last
  let maxStep = 0
  for (let i = first + 1; i < out.length; i++) maxStep = Math.max(maxStep, Math.abs((out[i] ?? 0) - (out[i - 1] ?? 0)))
  t.ok(fade >= 400 && fade <= 560, `the level fades to silence over ${fade} samples (half the 20 ms link offset: 480)`)
  t.ok(maxStep < LEVEL / 100, `no step larger than ${maxStep} (a cut would be ${LEVEL})`)
})
