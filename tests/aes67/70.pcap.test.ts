// `firmware process` replays an RTP capture: GStreamer sends an L24 stream, the test captures the
// datagrams as a classic pcap (Ethernet, IPv4, UDP; one packet dropped and two swapped, as a
// capture on a real network may hold them), the reader returns the sent audio sample-exact with
// the lost packet as silence, and `firmware process --in capture.pcap` runs it through the chain.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { readRtpCapture } from '../../firmware/netaudio/pcap.ts'
import { wavInfo } from '../../firmware/wav/wav.ts'
import { gstSender, udpCollector, writeNoiseWav24 } from './peers.ts'

/** A classic pcap (little-endian, Ethernet) of UDP datagrams to `port`. */
function pcapOf(datagrams: Buffer[], port: number): Buffer {
  const head = Buffer.alloc(24)
  head.writeUInt32LE(0xa1b2c3d4, 0)
  head.writeUInt16LE(2, 4)
  head.writeUInt16LE(4, 6)
  head.writeUInt32LE(65535, 16)
  head.writeUInt32LE(1, 20)
  const recs = datagrams.map((d, i) => {
    const frame = Buffer.alloc(14 + 20 + 8 + d.length)
    frame.writeUInt16BE(0x0800, 12)
    frame[14] = 0x45
    frame.writeUInt16BE(20 + 8 + d.length, 16)
    frame[14 + 8] = 64
    frame[14 + 9] = 17
    Buffer.from([127, 0, 0, 1, 127, 0, 0, 1]).copy(frame, 14 + 12)
    frame.writeUInt16BE(40000, 34)
    frame.writeUInt16BE(port, 36)
    frame.writeUInt16BE(8 + d.length, 38)
    d.copy(frame, 42)
    const rec = Buffer.alloc(16)
    rec.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), 0)
    rec.writeUInt32LE((i % 1000) * 1000, 4)
    rec.writeUInt32LE(frame.length, 8)
    rec.writeUInt32LE(frame.length, 12)
    return Buffer.concat([rec, frame])
  })
  return Buffer.concat([head, ...recs])
}

t.test('an RTP capture of a GStreamer stream reads back sample-exact and runs through firmware process', async (t) => {
  const dir = t.testdir()
  const sent = writeNoiseWav24(join(dir, 'in.wav'), 24000, 2, 70)
  const { sock, got } = await udpCollector()
  const port = sock.address().port
  const tx = gstSender(join(dir, 'in.wav'), 2, port)
  t.equal(await tx.exited, 0, 'the gst sender ran')
  await new Promise((r) => setTimeout(r, 100))
  sock.close()
  t.equal(got.length, 500, 'GStreamer sent 500 packets of 1 ms')
  // Packet 100 lost, 200 and 201 swapped.
  const captured = got.filter((_, i) => i !== 100)
  ;[captured[199], captured[200]] = [captured[200] as Buffer, captured[199] as Buffer]
  writeFileSync(join(dir, 'cap.pcap'), pcapOf(captured, port))
  const c = readRtpCapture(join(dir, 'cap.pcap'))
  t.same([c.channels, c.bits, c.packets, c.missing], [2, 24, 499, 1], 'L24 stereo, 499 packets, one missing')
  let wrong = 0
  for (let i = 0; i < sent.length; i++) {
    const inLost = i >= 100 * 96 && i < 101 * 96
    const want = inLost ? 0 : (sent[i] ?? 0) / 8388608
    if (c.samples[i] !== want) wrong++
  }
  t.equal(wrong, 0, 'every sample as sent, the lost packet silent, the swapped pair in order')
  const r = spawnSync(
    process.execPath,
    ['firmware/cli.ts', 'process', '--in', join(dir, 'cap.pcap'), '--out', join(dir, 'out.wav'), '--report', join(dir, 'report.json')],
    { encoding: 'utf8', timeout: 60_000 },
  )
  t.equal(r.status, 0, `firmware process ran: ${r.stderr.slice(-400)}`)
  t.match(r.stderr, /RTP L24\/48000\/2, SSRC \d+, 499 packets, 1 missing/, 'it says what it read')
  const info = wavInfo(join(dir, 'out.wav'))
  t.equal(info.frames, 24000, 'the processed output is the capture long')
})
