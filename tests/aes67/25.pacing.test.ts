// Paced transmission (docs/aes67.md, "Threads and the jitter buffer"): the unit sends each 1 ms
// packet at its packet time, not the packets of one engine block back to back. A 64-frame block
// holds 1.33 packets: sent as the blocks come, every third or fourth packet would leave right behind
// another (an interval near 0); paced, the intervals sit at 1 ms. The receiver stamps packets with
// the kernel's receive time (loopback: the send time). Exact figures (p50, p99) are in the bench.
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { timestampingReceiver } from './peers.ts'

t.test('transmit packets leave one per packet time, not in bursts per block', async (t) => {
  const rx = await timestampingReceiver(1500)
  t.teardown(() => rx.child.kill('SIGKILL'))
  const e = new Engine({
    backend: 'aes67',
    inputs: 2,
    outputs: 2,
    startProcessed: false,
    aes67: { tx: [{ address: '127.0.0.1', port: rx.port, channels: 2, ptimeMs: 1 }] },
  })
  e.start()
  t.teardown(() => e.stop())
  const gaps = await rx.intervalsMs
  const sorted = [...gaps].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0
  // A thread the machine held back sends what fell due at once when it runs again: a gap longer than
  // a packet time and a run of short intervals right after it. That is catching up, not bursting
  // per block (unpaced, the short intervals come every third or fourth packet after a 1.33 ms one).
  let catchingUp = false
  let blockBursts = 0
  let catchUp = 0
  for (const g of gaps) {
    if (g > 1.5) catchingUp = true
    else if (g < 0.25) {
      if (catchingUp) catchUp++
      else blockBursts++
    } else catchingUp = false
  }
  t.ok(median > 0.9 && median < 1.1, `the median interval is the packet time: ${median.toFixed(3)} ms`)
  t.ok(
    blockBursts / gaps.length < 0.05,
    `${((blockBursts / gaps.length) * 100).toFixed(1)} % of ${gaps.length} intervals under 0.25 ms not after a stall (bursts per block); ${catchUp} more caught up after stalls`,
  )
})
