// Playout by RTP timestamp (docs/aes67.md, "Playout"): with the system clock the media clock (PTP
// locked; here the sender stamps with this machine's own CLOCK_REALTIME, which is what a unit under
// the same grandmaster has), a receive stream plays each sample at its RTP timestamp plus the link
// offset, whatever the network did to its packets on the way. One sender, two receive streams of
// one bypassed unit: one direct, one through the userspace relay adding 0-20 ms of jitter. Both
// play every sample at the same instant, and the unit's transmit stream (stamped by the same media
// clock) carries each sample at exactly its sender's timestamp plus the link offset.
import { createSocket } from 'node:dgram'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { rtpPacket, sendPaced, streamStats } from './peers.ts'
import { ImpairRelay } from './relay.ts'

const LINK_MS = 50
const LINK = LINK_MS * 48
const PACKETS = 2500

/** CLOCK_REALTIME in samples at 48 kHz, mod 2^32 (the media clock, RFC 7273 direct=0). */
function mediaNow(): number {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n
  return Number(((ns * 48000n) / 1_000_000_000n) % 2n ** 32n)
}

t.test('two receive paths, one jittered: every sample plays at its timestamp plus the link offset', async (t) => {
  const back = createSocket('udp4')
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r))
  t.teardown(() => back.close())
  const e = new Engine({
    backend: 'aes67',
    inputs: 2,
    outputs: 2,
    startProcessed: false,
    aes67: {
      rx: [
        { port: 0, channels: 1, firstChannel: 0, linkOffsetMs: LINK_MS },
        { port: 0, channels: 1, firstChannel: 1, linkOffsetMs: LINK_MS },
      ],
      tx: [{ address: '127.0.0.1', port: back.address().port, channels: 2, firstChannel: 0 }],
    },
  })
  e.start()
  t.teardown(() => e.stop())
  e.setMediaClockLocked(true)
  const relay = new ImpairRelay({ loss: 0, reorder: 0, jitterMs: 20, seed: 45 })
  const viaRelay = await relay.listen(streamStats(e, 1).localPort)
  t.teardown(() => relay.close())

  // Sample i carries the value i + 1 and the timestamp base + i: the sender's media clock.
  const base = (mediaNow() - 48) >>> 0
  const packets = Array.from({ length: PACKETS }, (_, n) =>
    rtpPacket({ seq: n, ts: (base + n * 48) >>> 0, ssrc: 45, samples: Array.from({ length: 48 }, (_, k) => n * 48 + k + 1) }),
  )
  // Where each sample came back: its outgoing timestamp, per channel.
  const at = [new Map<number, number>(), new Map<number, number>()]
  back.on('message', (m: Buffer) => {
    const ts = m.readUInt32BE(4)
    for (let f = 0; 12 + f * 6 + 6 <= m.length; f++) {
      for (let c = 0; c < 2; c++) {
        const v = m.readIntBE(12 + f * 6 + c * 3, 3)
        if (v > 0) at[c]?.set(v - 1, (ts + f) >>> 0)
      }
    }
  })
  const direct = createSocket('udp4')
  const jittered = createSocket('udp4')
  t.teardown(() => {
    direct.close()
    jittered.close()
  })
  await Promise.all([sendPaced(direct, streamStats(e, 0).localPort, packets), sendPaced(jittered, viaRelay, packets)])
  await new Promise((r) => setTimeout(r, LINK_MS + 100))

  const [a, b] = at as [Map<number, number>, Map<number, number>]
  const total = PACKETS * 48
  t.ok(a.size > total * 0.8 && b.size > total * 0.8, `most samples came back: ${a.size} direct, ${b.size} jittered of ${total}`)
  const rx = e.netStats().slice(0, 2)
  t.ok(
    rx.every((s) => s.timestampPlayout),
    `both receive streams play by timestamp (late frames dropped: ${rx.map((s) => s.overflows).join(', ')})`,
  )
  // The jitter moved packets by up to 20 ms; the playout did not move.
  let same = 0
  let both = 0
  const offsets = new Map<number, number>()
  for (const [i, tsA] of a) {
    const off = (tsA - ((base + i) >>> 0)) | 0
    offsets.set(off, (offsets.get(off) ?? 0) + 1)
    const tsB = b.get(i)
    if (tsB === undefined) continue
    both++
    if (tsB === tsA) same++
  }
  t.ok(same >= both * 0.99, `${same} of ${both} samples heard on both paths play at the same instant on both`)
  const onTime = [...offsets].filter(([off]) => Math.abs(off - LINK) <= 2).reduce((n, [, c]) => n + c, 0)
  const common = [...offsets].sort((x, y) => y[1] - x[1])[0]
  t.ok(
    onTime >= a.size * 0.99,
    `${onTime} of ${a.size} samples leave stamped their timestamp + the link offset (${LINK} samples) ±2; most common offset ${common?.[0]}`,
  )
})

t.test('without the media clock (PTP not locked) the streams play by arrival', async (t) => {
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: { rx: [{ port: 0, channels: 1, linkOffsetMs: 100 }], tx: [{ address: '127.0.0.1', port: 9, channels: 1 }] },
  })
  e.start()
  t.teardown(() => e.stop())
  const out = createSocket('udp4')
  t.teardown(() => out.close())
  // Timestamps nowhere near the media clock (GStreamer's random start): by arrival even when locked.
  const packets = Array.from({ length: 300 }, (_, n) => rtpPacket({ seq: n, ts: 1000 + n * 48, ssrc: 7, samples: new Array(48).fill(1000) }))
  e.setMediaClockLocked(true)
  await sendPaced(out, streamStats(e, 0).localPort, packets.slice(0, 150))
  t.equal(streamStats(e, 0).timestampPlayout, false, 'timestamps a day off the media clock: by arrival')
  t.ok(streamStats(e, 0).packets >= 150, 'and the stream plays')
  e.setMediaClockLocked(false)
  await sendPaced(out, streamStats(e, 0).localPort, packets.slice(150))
  t.equal(streamStats(e, 0).timestampPlayout, false, 'not locked: by arrival')
  t.equal(streamStats(e, 0).underruns, 0, 'no underrun')
})
