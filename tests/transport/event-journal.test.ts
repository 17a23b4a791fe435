// The unit's event journal (firmware/transport/event-journal.ts), shared by every transport that
// streams events: ids, times, the bounded buffer and replay after a Last-Event-ID.
import t from 'tap'
import { EventJournal, journalFor } from '../../firmware/transport/event-journal.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const at = Date.UTC(2026, 11, 7, 8, 30, 0, 123)

t.test('replay after a Last-Event-ID the journal still holds: exactly what came after, no gap', async (t) => {
  const j = new EventJournal({ capacity: 4, now: () => at })
  for (let i = 0; i < 6; i++) j.record({ type: 'panel', event: `p${i + 1}` })
  const r = j.since(3)
  t.same(
    r.entries.map((e) => e.id),
    [4, 5, 6],
  )
  t.equal(r.gap, false, 'id 4 is the oldest held after 3: nothing lost')
  t.equal(r.oldest, 3)
  t.equal(r.entries[0]!.at, '2026-12-07T08:30:00.123Z')
  t.same(j.since(6), { entries: [], gap: false, oldest: 3 }, 'up to date: nothing to send')
})

t.test('a Last-Event-ID older than the journal is a gap: what is held is replayed, and the oldest named', async (t) => {
  const j = new EventJournal({ capacity: 4, now: () => at })
  for (let i = 0; i < 10; i++) j.record({ type: 'panel', event: `p${i + 1}` })
  const r = j.since(2)
  t.equal(r.gap, true, 'ids 3 to 6 are gone')
  t.equal(r.oldest, 7)
  t.same(
    r.entries.map((e) => e.id),
    [7, 8, 9, 10],
  )
  t.equal(j.since(6).gap, false, 'just at the edge: 7 is the next and is held')
  t.equal(j.since(5).gap, true, 'one before the edge: 6 is lost')
  t.equal(j.since(0).gap, true, 'a client that saw nothing, once the journal has wrapped, is told too')
})

t.test('an empty journal has no gap for anyone who saw nothing', async (t) => {
  const j = new EventJournal()
  t.same(j.since(0), { entries: [], gap: false, oldest: 0 })
})

t.test('a listener that throws does not stop the others or the journal', async (t) => {
  const j = new EventJournal()
  const seen: number[] = []
  j.subscribe(() => {
    throw new Error('bad listener')
  })
  const off = j.subscribe((e) => seen.push(e.id))
  j.record({ type: 'panel', event: 'a' })
  off()
  j.record({ type: 'panel', event: 'b' })
  t.same(seen, [1], 'delivered, then unsubscribed')
  t.equal(j.lastId(), 2)
})

t.test('journalFor gives every transport the same journal of an appliance', async (t) => {
  const app = new FakeAppliance()
  const a = journalFor(app)
  t.equal(journalFor(app), a)
  t.not(journalFor(new FakeAppliance()), a, 'another unit has its own')
})
