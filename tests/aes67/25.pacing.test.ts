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
  const bursts = gaps.filter((g) => g < 0.25).length / gaps.length
  t.ok(median > 0.9 && median < 1.1, `the median interval is the packet time: ${median.toFixed(3)} ms`)
  // Unpaced, about one interval in four is a burst (< 0.25 ms); a loaded machine that holds the
  // transmit thread back makes a few (it catches up at once), never that many.
  t.ok(bursts < 0.08, `${(bursts * 100).toFixed(1)} % of ${gaps.length} intervals under 0.25 ms (bursts)`)
})
