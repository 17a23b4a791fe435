// The API's event streams (firmware/api/streams.ts) over a real event journal, without TLS: replay
// from Last-Event-ID, a gap older than the journal, a restarted firmware, live entries during the
// replay, the caps, and the query's checks.
import t from 'tap'
import { HttpError } from '../../firmware/api/http.ts'
import { EventStreams, parseStreamQuery, type ReplayAnswer, type StreamSink } from '../../firmware/api/streams.ts'
import type { ClientIdentity } from '../../firmware/api/tls.ts'
import { EventJournal } from '../../firmware/transport/event-journal.ts'

const op: ClientIdentity = { cn: 'operator-1', serial: 'AA01', role: 'operator', permission: 'operate', validTo: Infinity }
const obs: ClientIdentity = { cn: 'observer-1', serial: 'BB02', role: 'observer', permission: 'observe', validTo: Infinity }

interface Frame {
  type: string
  id: number | null
  data: any
}

/** A sink that records frames; close() runs what the stream registered for its end. */
function sink(): StreamSink & { frames: Frame[]; close(): void } {
  const frames: Frame[] = []
  let onClose: (() => void) | null = null
  return {
    frames,
    send: (type, id, data) => {
      frames.push({ type, id, data })
    },
    comment: () => {},
    onClose: (fn) => {
      onClose = fn
    },
    end: () => onClose?.(),
    close: () => onClose?.(),
  }
}

function rig(
  capacity: number,
  opts: { max?: number; perClient?: number } = {},
): { j: EventJournal; streams: EventStreams; announced: Array<[number, number]>; replayWait: { hold: Promise<void> | null } } {
  const j = new EventJournal({ capacity, now: () => Date.UTC(2026, 11, 7, 8, 0, 0) })
  const announced: Array<[number, number]> = []
  const replayWait: { hold: Promise<void> | null } = { hold: null }
  const streams = new EventStreams({
    maxStreams: opts.max ?? 8,
    maxPerClient: opts.perClient ?? 4,
    replay: async (after): Promise<ReplayAnswer> => {
      if (replayWait.hold !== null) await replayWait.hold
      return { replay: j.since(after), last: j.lastId() }
    },
    announce: (count, hz) => announced.push([count, hz]),
  })
  j.subscribe((e) => streams.entry(e))
  return { j, streams, announced, replayWait }
}

const query = (q: string, header?: string) => parseStreamQuery(new URL(`https://device/api/events${q}`), header)
const panel = (j: EventJournal, n: number): void => {
  for (let i = 0; i < n; i++) j.record({ type: 'panel', event: `press-${j.lastId() + 1}` })
}

t.test('a reconnect with Last-Event-ID gets what it missed, in order, then live events', async (t) => {
  const { j, streams } = rig(16)
  panel(j, 5)
  const s = sink()
  await streams.run(op, query('?types=panel', '3'), s)
  t.same(
    s.frames.map((f) => f.id),
    [4, 5],
    'events 4 and 5 replayed',
  )
  t.same(
    s.frames.map((f) => f.data.event),
    ['press-4', 'press-5'],
  )
  t.equal(s.frames[0]!.data.at, '2026-12-07T08:00:00.000Z', 'ISO time from the journal')
  panel(j, 1)
  t.same(
    s.frames.map((f) => f.id),
    [4, 5, 6],
    'then live',
  )
  s.close()
})

t.test('a Last-Event-ID older than the journal gets a reset saying what was lost, then what is held', async (t) => {
  const { j, streams } = rig(3)
  panel(j, 10)
  const s = sink()
  await streams.run(op, query('?types=panel', '2'), s)
  t.equal(s.frames[0]!.type, 'reset', 'the reset comes first')
  t.same({ lastEventId: s.frames[0]!.data.lastEventId, oldest: s.frames[0]!.data.oldest }, { lastEventId: 2, oldest: 8 })
  t.match(s.frames[0]!.data.message, /events after 2 up to 7 are no longer held; read the state again/)
  t.same(
    s.frames.slice(1).map((f) => f.id),
    [8, 9, 10],
  )
  s.close()
})

t.test('a Last-Event-ID from before a firmware restart gets a reset and everything held', async (t) => {
  const { j, streams } = rig(8)
  panel(j, 2)
  const s = sink()
  await streams.run(op, query('?types=panel&lastEventId=500'), s)
  t.match(s.frames[0], { type: 'reset', data: { lastEventId: 500, message: /before the firmware restarted/ } })
  t.same(
    s.frames.slice(1).map((f) => f.id),
    [1, 2],
  )
  s.close()
})

t.test('events that arrive while the replay is answered come after it, once each', async (t) => {
  const { j, streams, replayWait } = rig(16)
  panel(j, 3)
  let release!: () => void
  replayWait.hold = new Promise((r) => {
    release = r
  })
  const s = sink()
  const running = streams.run(op, query('?types=panel', '1'), s)
  panel(j, 2) // ids 4 and 5: live, but the replay is not back yet
  t.same(s.frames, [], 'nothing sent before the replay')
  release()
  await running
  t.same(
    s.frames.map((f) => f.id),
    [2, 3, 4, 5],
    'replay, then the held live ones, no duplicates',
  )
  s.close()
})

t.test('without Last-Event-ID a stream is live only, and filters by type', async (t) => {
  const { j, streams } = rig(16)
  panel(j, 3)
  const s = sink()
  await streams.run(op, query('?types=change'), s)
  panel(j, 2)
  t.same(s.frames, [], 'no replay, and panel events are not asked for')
  s.close()
})

t.test('streams are capped per certificate (429) and in all (503); closing one frees its place', async (t) => {
  const { streams, announced } = rig(4, { max: 3, perClient: 2 })
  const a = sink()
  const b = sink()
  const c = sink()
  await streams.run(op, query('?types=panel'), a)
  await streams.run(op, query('?types=meters&metersHz=5'), b)
  let mine: unknown
  try {
    streams.checkRoom(op)
  } catch (e) {
    mine = e
  }
  t.match(mine, { status: 429, code: 'FW_ERR_API_RATE_LIMITED', message: /already holds 2 event streams/ })
  await streams.run(obs, query('?types=panel'), c)
  let err: unknown
  try {
    streams.checkRoom(obs)
  } catch (e) {
    err = e
  }
  t.match(err, { status: 503, message: /3 event streams are already open/ })
  t.same(announced.at(-1), [3, 5], 'the main thread is told the count and the fastest meter rate')
  b.close()
  t.same(announced.at(-1), [2, 0], 'no meters wanted any more')
  t.doesNotThrow(() => streams.checkRoom(op), 'room again')
  a.close()
  c.close()
  t.equal(streams.count, 0)
})

t.test('a stream query is checked before anything is opened (400 with the field)', async (t) => {
  const cases: Array<[string, string | undefined, string]> = [
    ['?types=panel,bogus', undefined, 'types'],
    ['?foo=1', undefined, 'foo'],
    ['?metersHz=0.1', undefined, 'metersHz'],
    ['?metersHz=51', undefined, 'metersHz'],
    ['?lastEventId=-1', undefined, 'lastEventId'],
    ['', '1.5', 'lastEventId'],
  ]
  for (const [q, header, field] of cases) {
    let err: unknown
    try {
      query(q, header)
    } catch (e) {
      err = e
    }
    t.ok(
      err instanceof HttpError && err.status === 400 && err.code === 'FW_ERR_API_BAD_REQUEST' && err.field === field,
      `${q} ${header ?? ''} -> 400 on ${field}`,
    )
  }
  t.equal(query('?lastEventId=3', '7').after, 7, 'the Last-Event-ID header wins over the query')
  t.same([...query('').types], ['transition', 'meters', 'doa', 'recommendation', 'change'], 'the default types')
  t.equal(query('').hz, 10, 'meters at 10 Hz by default')
})
