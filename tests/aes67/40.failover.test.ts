// Failover: one input fed by two receive streams in priority order. The primary sender stops
// (its packets end, as when a sender dies or its cable is pulled): the input crosses to the backup
// with a short crossfade, and every backup sample after the crossfade plays, in order, bit-exact
// (0 samples lost on the failover source). The primary comes back: after its return time healthy
// the input crosses back. Each switch is counted with its cause and time.
import { createSocket } from 'node:dgram'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { until } from '../helpers/until.ts'
import { findStart, noisePackets, rtpSamples, sendPaced, streamStats, udpCollector } from './peers.ts'

t.test('a dead primary fails over to the backup with no backup sample lost, and returns', async (t) => {
  const { sock: back, got } = await udpCollector()
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: {
      rx: [
        { port: 0, channels: 1, firstChannel: 0, priority: 1, linkOffsetMs: 100, returnMs: 300 },
        { port: 0, channels: 1, firstChannel: 0, priority: 2, linkOffsetMs: 100 },
      ],
      tx: [{ address: '127.0.0.1', port: back.address().port, channels: 1 }],
    },
  })
  e.start()
  t.teardown(() => {
    e.stop()
    back.close()
  })
  const [pa, pb] = [streamStats(e, 0).localPort, streamStats(e, 1).localPort]
  const a = noisePackets(1800, 1, 1, 0xaaaa)
  const b = noisePackets(1500, 1, 2, 0xbbbb)
  const sa = createSocket('udp4')
  const sb = createSocket('udp4')
  // Primary: packets 0..499, silence for 400 ms, then 900..1799 (it outlives the backup); backup: 0..1499.
  const primary = (async () => {
    await sendPaced(sa, pa, a.packets.slice(0, 500))
    const dead = streamStats(e, 0)
    await new Promise((r) => setTimeout(r, 400))
    const switched = streamStats(e, 0)
    await sendPaced(sa, pa, a.packets.slice(900))
    return { dead, switched }
  })()
  await sendPaced(sb, pb, b.packets)
  // The backup has sent its last packet; it still plays its last 100 ms.
  const backupUnderruns = streamStats(e, 1).underruns
  await until(() => streamStats(e, 0).switches >= 2, 10_000, 'the return to the primary')
  const s = [streamStats(e, 0), streamStats(e, 1)]
  const { dead, switched } = await primary
  sa.close()
  sb.close()
  const failoverMs = switched.lastSwitchMs - dead.lastPacketMs
  t.equal(switched.lastSwitchCause, 'source-dead', 'the first switch: the primary is dead')
  t.ok(failoverMs > 0 && failoverMs < 150, `failover ${failoverMs.toFixed(1)} ms after the primary's last packet (half the 100 ms link offset by design)`)
  t.equal(s[0]?.switches, 2, `two switches: ${JSON.stringify(s[0])}`)
  t.equal(s[0]?.lastSwitchCause, 'source-returned', 'the last one returned to the primary')
  t.ok(s[0]?.active, 'the primary plays again')
  t.equal(backupUnderruns, 0, 'the backup never ran dry')

  const out = new Int32Array(got.reduce((n, m) => n + (m.length - 12) / 3, 0))
  let o = 0
  for (const m of got) {
    out.set(rtpSamples(m), o)
    o += (m.length - 12) / 3
  }
  // Where the primary's first 500 packets sit, and the backup's samples from the switch on.
  const aStart = findStart(out, a.samples, 1)
  t.ok(aStart >= 0, 'the primary plays first')
  let aExact = 0
  while (aExact < 500 * 48 && out[aStart + aExact] === a.samples[aExact]) aExact++
  // The crossfade ends where the output equals the backup again; from there to the return
  // crossfade every backup sample plays in order.
  const bAt = aStart + aExact
  let bOffset = -1
  for (let k = 0; k < b.samples.length && bOffset < 0; k++) {
    let ok = true
    for (let i = 0; i < 64 && ok; i++) ok = out[bAt + 48 * 60 + i] === b.samples[k + i]
    if (ok) bOffset = k - 48 * 60
  }
  t.ok(bOffset >= 0, 'the backup is found just after the switch')
  let run = 0
  while (out[bAt + 48 * 60 + run] === b.samples[bOffset + 48 * 60 + run]) run++
  t.ok(run >= 300 * 48, `${run} backup samples in a row play bit-exact after the switch (0 lost), until the return crossfade`)
  t.ok(aExact >= 500 * 48 - 4800, `the primary played bit-exact until the fade (${aExact} samples)`)
})
