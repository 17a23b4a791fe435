// The unit's receiver against a hostile network: malformed packets (wrong payload type, short,
// huge, bad RTP version, a spoofed SSRC) are counted and dropped while the audio goes on; loss,
// reordering and jitter from a userspace relay (tests/aes67/relay.ts) are reordered and concealed
// with the timeline intact. The unit sends what it received back (bypassed), and the returned
// audio is compared with what was sent, packet by packet. The link offset is the largest the unit
// takes (100 ms) because the senders here are event loops on a shared, loaded machine; the
// bench (tests/bench/aes67.bench.ts) measures the unit at real link offsets.
import { createSocket } from 'node:dgram'
import t from 'tap'
import type { NetStreamStats } from '../../firmware/engine/aes67-options.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { until } from '../helpers/until.ts'
import { findStart, noisePackets, rtpPacket, rtpSamples, sendPaced, streamStats, udpCollector } from './peers.ts'
import { type Impairment, ImpairRelay } from './relay.ts'

const CH = 2
const PACKETS = 1000
const SSRC = 0x1234abcd
const FRAME_SAMPLES = 48 * CH

interface Run {
  rx: NetStreamStats
  sent: Int32Array
  returned: Int32Array
  relay: ImpairRelay | null
}

/** Sends PACKETS packets (1 s) through the relay (or straight) to a bypassed unit; collects what it returns. */
async function run(imp: Impairment | null, extra?: (i: number) => Buffer[]): Promise<Run> {
  const { sock: back, got } = await udpCollector()
  const e = new Engine({
    backend: 'aes67',
    inputs: CH,
    outputs: CH,
    startProcessed: false,
    aes67: { rx: [{ port: 0, channels: CH, linkOffsetMs: 100 }], tx: [{ address: '127.0.0.1', port: back.address().port, channels: CH }] },
  })
  e.start()
  const relay = imp ? new ImpairRelay(imp) : null
  try {
    const unitPort = streamStats(e, 0).localPort
    const port = relay ? await relay.listen(unitPort) : unitPort
    const out = createSocket('udp4')
    const { packets, samples } = noisePackets(PACKETS, CH, 7, SSRC)
    await sendPaced(out, port, packets, extra)
    out.close()
    // Sent: the jitter buffer still holds the last 100 ms. Underruns until now happened during
    // the stream; the one that comes next is the stream's end playing out.
    const during = streamStats(e, 0).underruns
    await until(() => streamStats(e, 0).underruns > during, 10_000, 'the end of the stream to play out')
    const rx = { ...streamStats(e, 0), underruns: during }
    const n = streamStats(e, 1).packets
    await until(() => streamStats(e, 1).packets > n + 20, 10_000, 'the tail to come back')
    const returned = new Int32Array(got.reduce((a, b) => a + (b.length - 12) / 3, 0))
    let o = 0
    for (const b of got) {
      returned.set(rtpSamples(b), o)
      o += (b.length - 12) / 3
    }
    return { rx, sent: samples, returned, relay }
  } finally {
    e.stop()
    relay?.close()
    back.close()
  }
}

/** Packets of `sent` that come back exactly in their place, after the returned stream's start. */
function inPlace(r: Run): { start: number; exact: number; checked: number } {
  // Packets the relay did not forward (dropped, or held for reordering when the stream ended).
  const skip = new Set<number>()
  for (let p = 0; p < PACKETS; p++) if (r.relay && !r.relay.forwardedSeqs.has((60000 + p) & 0xffff)) skip.add((60000 + p) & 0xffff)
  // The first packet forwarded anchors the timeline.
  let anchor = 0
  while (skip.has((60000 + anchor) & 0xffff)) anchor++
  const at = findStart(r.returned, r.sent.subarray(anchor * FRAME_SAMPLES), CH) - anchor * FRAME_SAMPLES
  let exact = 0
  let checked = 0
  for (let p = anchor; p < PACKETS; p++) {
    if (skip.has((60000 + p) & 0xffff)) continue
    checked++
    let ok = true
    for (let i = p * FRAME_SAMPLES; i < (p + 1) * FRAME_SAMPLES && ok; i++) ok = r.returned[at + i] === r.sent[i]
    if (ok) exact++
  }
  return { start: at, exact, checked }
}

t.test('malformed packets are counted and dropped; the audio goes on bit-exact', async (t) => {
  const kinds = {
    wrongPayloadType: (i: number) => rtpPacket({ seq: 60000 + i, ts: 0, ssrc: SSRC, pt: 97, samples: new Array(FRAME_SAMPLES).fill(5) }),
    tooShort: () => Buffer.from([0x80, 96, 0, 1, 0, 0]),
    tooLarge: (i: number) => rtpPacket({ seq: 60000 + i, ts: 0, ssrc: SSRC, samples: new Array(1000).fill(5) }),
    badVersion: (i: number) => rtpPacket({ seq: 60000 + i, ts: 0, ssrc: SSRC, version: 1, samples: new Array(FRAME_SAMPLES).fill(5) }),
    wrongSsrc: (i: number) => rtpPacket({ seq: 60000 + i + 1, ts: 0, ssrc: 0xbad, samples: new Array(FRAME_SAMPLES).fill(5) }),
  }
  const names = Object.keys(kinds) as Array<keyof typeof kinds>
  // From the 5th packet on (the SSRC is locked by then), one bad datagram after every 10th packet.
  const r = await run(null, (i) => (i >= 5 && i % 10 === 0 ? [kinds[names[(i / 10) % names.length] as keyof typeof kinds](i)] : []))
  const each = Math.floor((PACKETS - 10) / 10 / names.length)
  for (const k of names) t.ok(r.rx[k] >= each && r.rx[k] <= each + 1, `${k}: ${r.rx[k]} counted`)
  t.equal(r.rx.malformed, (PACKETS - 10) / 10 + 0, `malformed is their sum (${r.rx.malformed})`)
  t.equal(r.rx.packets, PACKETS, 'every good packet accepted')
  t.equal(r.rx.lost + r.rx.underruns + r.rx.overflows, 0, `nothing lost, no underrun: ${JSON.stringify(r.rx)}`)
  const p = inPlace(r)
  t.equal(p.exact, PACKETS, `all ${PACKETS} packets come back bit-exact in place (${p.exact})`)
})

t.test('reordering and jitter are undone by the jitter buffer: bit-exact, nothing lost', async (t) => {
  const r = await run({ loss: 0, reorder: 0.1, jitterMs: 3, seed: 15 })
  t.ok((r.relay?.counts.reordered ?? 0) > 50, `the relay reordered ${r.relay?.counts.reordered} packets`)
  t.equal(r.rx.lost + r.rx.late + r.rx.underruns + r.rx.overflows, 0, `nothing lost or late, no underrun: ${JSON.stringify(r.rx)}`)
  const p = inPlace(r)
  t.equal(p.exact, PACKETS, `all ${PACKETS} packets come back bit-exact in place (${p.exact})`)
})

for (const loss of [0.05, 0.2]) {
  t.test(`${loss * 100}% random loss is concealed with the timeline intact`, async (t) => {
    const r = await run({ loss, reorder: 0.05, jitterMs: 2, seed: 150 + loss * 100 })
    const dropped = r.relay?.droppedSeqs ?? new Set<number>()
    t.ok(dropped.size > PACKETS * loss * 0.6, `the relay dropped ${dropped.size} packets`)
    t.equal(r.rx.lost, dropped.size, 'the unit counts each dropped packet as lost')
    t.equal(r.rx.concealed, r.rx.lost, 'and conceals each one')
    t.equal(r.rx.underruns + r.rx.overflows, 0, `the jitter buffer never ran dry or over: ${JSON.stringify(r.rx)}`)
    const p = inPlace(r)
    t.equal(p.exact, p.checked, `every packet that arrived comes back bit-exact in its place (${p.exact}/${p.checked})`)
  })
}
