// The telemetry disk buffer on its own: bounded in bytes and in age, what goes past a bound is
// counted (and the count kept across a restart), order kept, a start counted on every open.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DiskQueue } from '../../firmware/telemetry/queue.ts'
import { scratch } from './helpers.ts'

const msg = (i: number) => ({ topic: 'fest/main/u/health', payload: JSON.stringify({ seq: i, pad: 'x'.repeat(200) }), retain: false })

t.test('past the byte bound the oldest batches go, counted; the count survives a restart', async (t) => {
  const dir = scratch(t)
  const q = await DiskQueue.open(dir, { maxBytes: 4096, maxAgeMs: 3600_000 })
  t.equal(q.boot, 1)
  for (let i = 1; i <= 40; i++) await q.enqueue([msg(i)])
  const s = q.stats
  t.ok(s.queuedBytes <= 4096, `${s.queuedBytes} bytes kept`)
  t.equal(s.dropped + s.queuedMessages, 40, `${s.dropped} dropped + ${s.queuedMessages} kept = all`)
  t.ok(s.dropped > 0)
  const first = await q.peek()
  t.equal(JSON.parse(first!.messages[0]!.payload).seq, s.dropped + 1, 'the oldest kept is the one after the dropped ones')
  const again = await DiskQueue.open(dir, { maxBytes: 4096, maxAgeMs: 3600_000 })
  t.equal(again.boot, 2, 'a start counted')
  t.same(again.stats, s, 'queue and drop count as they were')
  for (const name of readdirSync(dir)) t.equal(statSync(join(dir, name)).mode & 0o777, 0o600, `${name} is 0600`)
})

t.test('past the age bound batches go, counted; acknowledged batches leave the disk in order', async (t) => {
  const dir = scratch(t)
  const q = await DiskQueue.open(dir, { maxBytes: 1 << 20, maxAgeMs: 60_000 })
  const now = Date.now()
  await q.enqueue([msg(1), msg(2)], now - 120_000)
  await q.enqueue([msg(3)], now - 1000)
  await q.enqueue([msg(4)], now)
  const b = await q.peek()
  t.same(
    b!.messages.map((m) => JSON.parse(m.payload).seq),
    [3],
    'the batch older than the bound was dropped',
  )
  t.equal(q.stats.dropped, 2)
  await q.ack(b!)
  t.same(
    (await q.peek())!.messages.map((m) => JSON.parse(m.payload).seq),
    [4],
  )
})
