// Issue 10, items 11 and 12: event streams per certificate, change notifications on SSE and
// WebSocket with per-unit ids and ISO times, and Last-Event-ID replay after a reconnect — all over
// real TLS clients (Node https, the ws package's client) against the sim appliance.

import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import t from 'tap'
import WebSocket from 'ws'
import type { ApiHandle } from '../../firmware/api/server.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { EventJournal } from '../../firmware/transport/event-journal.ts'
import { until } from '../helpers/until.ts'
import { bootSim, type Creds, call, type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let api: ApiHandle
let app: ApplianceApi
let op: Creds
let obs: Creds

t.before(async () => {
  fx = await makeFixture(t.testdir())
  const rig = await bootSim(t, fx.dataDir, { maxEventStreams: 8 })
  app = rig.app
  api = rig.api
  op = fx.creds(fx.operator)
  obs = fx.creds(fx.observer)
})

interface Sse {
  status: number
  events: Array<{ id: string | null; event: string; data: any }>
  close(): void
  text(): string
}

function openSse(creds: Creds, query: string, headers: Record<string, string> = {}): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: api.port, path: `/api/events${query}`, servername: 'localhost', agent: false, ...creds, headers })
    req.on('error', reject)
    req.on('response', (res: IncomingMessage) => {
      const events: Sse['events'] = []
      let buf = ''
      let all = ''
      res.on('data', (d: Buffer) => {
        buf += d.toString()
        all += d.toString()
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const ev = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (ev && data) events.push({ id: /^id: (.*)$/m.exec(block)?.[1] ?? null, event: ev, data: JSON.parse(data) })
        }
      })
      res.on('error', () => {})
      resolve({ status: res.statusCode ?? 0, events, close: () => res.destroy(), text: () => all })
    })
    req.end()
  })
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

t.test('one certificate cannot hold every event stream: a per-certificate cap, others still get in', async (t) => {
  const mine: Sse[] = []
  const codes: number[] = []
  for (let i = 0; i < 8; i++) {
    const s = await openSse(obs, '?types=transition')
    codes.push(s.status)
    if (s.status === 200) mine.push(s)
    else s.close()
  }
  t.teardown(() => {
    for (const s of mine) s.close()
  })
  t.same(codes.slice(0, 4), [200, 200, 200, 200], 'the first 4 streams of one certificate open')
  t.ok(
    codes.slice(4).every((c) => c === 429),
    `then 429: ${codes}`,
  )
  const other = await openSse(op, '?types=transition')
  t.equal(other.status, 200, 'another certificate still opens a stream')
  other.close()
  const refused = await call(api.port, obs, 'GET', '/api/events?types=transition')
  t.equal(refused.status, 429)
  t.equal(refused.json.code, 'FW_ERR_API_RATE_LIMITED')
  t.match(refused.json.message, /already holds 4 event streams/)
  for (const s of mine.splice(0)) s.close()
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50))
    const s = await openSse(obs, '?types=transition')
    status = s.status
    s.close()
  }
  t.equal(status, 200, "closing its streams frees the certificate's room")
})

t.test('a gain change reaches an SSE stream as a change event with a unit id and an ISO time', async (t) => {
  const s = await openSse(obs, '?types=change')
  t.teardown(() => s.close())
  t.equal(s.status, 200)
  await new Promise((r) => setTimeout(r, 100))
  const g = await call(api.port, op, 'POST', '/api/gain', { output: 4, db: -1.25 })
  t.equal(g.status, 200, g.text)
  await until(() => s.events.some((e) => e.event === 'change'), 5000, 'the event')
  const c = s.events.find((e) => e.event === 'change')!
  t.match(c.id, /^\d+$/, 'the frame has an id')
  t.equal(c.data.eventId, Number(c.id))
  t.match(c.data.at, ISO_MS)
  t.equal(c.data.what, 'gain')
  t.same(c.data.target, { output: 4 }, 'outputs numbered from 1, like the commands')
  t.equal(c.data.value, -1.25)
  t.match(c.data.who, /CN=operator-1/)
})

t.test('inference reports (a howl, the notches in place) stream as type inference when asked for by name', async (t) => {
  const s = await openSse(obs, '?types=inference')
  t.teardown(() => s.close())
  const plain = await openSse(obs, '')
  t.teardown(() => plain.close())
  t.equal(s.status, 200)
  await new Promise((r) => setTimeout(r, 100))
  app.publish?.({ type: 'inference', report: { kind: 'howl', output: 1, hz: 2000, levelDb: -21.5, growthDbPerS: 30, reason: 'growing', t: 12.5 } })
  app.publish?.({ type: 'inference', report: { kind: 'notches', output: 1, notches: [{ hz: 2000, gainDb: -6, q: 30 }] } })
  await until(() => s.events.filter((e) => e.event === 'inference').length >= 2, 5000, 'the events')
  const [howl, notches] = s.events.filter((e) => e.event === 'inference')
  t.match(howl!.data, { kind: 'howl', output: 1, hz: 2000, levelDb: -21.5, growthDbPerS: 30, reason: 'growing', t: 12.5, eventId: Number(howl!.id) })
  t.match(howl!.data.at, ISO_MS)
  t.same(notches!.data.notches, [{ hz: 2000, gainDb: -6, q: 30 }])
  await new Promise((r) => setTimeout(r, 200))
  t.notOk(
    plain.events.some((e) => e.event === 'inference'),
    'not in the default types',
  )
})

t.test('Last-Event-ID replays what a reconnecting client missed, once and in order', async (t) => {
  const s = await openSse(obs, '?types=change')
  await new Promise((r) => setTimeout(r, 100))
  await call(api.port, op, 'POST', '/api/gain', { output: 1, db: -3 })
  await until(() => s.events.some((e) => e.event === 'change' && e.data.value === -3), 5000, 'the event')
  const last = s.events.filter((e) => e.event === 'change').at(-1)!.id!
  s.close()
  await call(api.port, op, 'POST', '/api/gain', { output: 1, db: -4 })
  await call(api.port, op, 'POST', '/api/beam/auto', { beam: 2, enabled: false })
  const again = await openSse(obs, '?types=change', { 'last-event-id': last })
  t.teardown(() => again.close())
  await until(() => again.events.filter((e) => e.event === 'change').length >= 2, 5000, 'the event')
  const ch = again.events.filter((e) => e.event === 'change')
  t.same(
    ch.map((e) => [e.data.what, e.data.value]),
    [
      ['gain', -4],
      ['beam', ch[1]!.data.value],
    ],
    'the two missed changes, in order',
  )
  t.equal(ch[1]!.data.what, 'beam')
  t.same(ch[1]!.data.target, { beam: 2 }, 'beams numbered from 1, like the commands')
  t.equal(ch[1]!.data.value.auto, false)
  t.ok(
    ch.every((e) => Number(e.id) > Number(last)),
    'nothing at or before the last seen id',
  )
  t.ok(Number(ch[1]!.id) > Number(ch[0]!.id), 'ids increase')
  const bad = await call(api.port, obs, 'GET', '/api/events?lastEventId=abc')
  t.equal(bad.status, 400)
  t.equal(bad.json.field, 'lastEventId')
})

t.test('transitions on the stream carry ISO times like everything else', async (t) => {
  const s = await openSse(obs, '?types=transition')
  t.teardown(() => s.close())
  await new Promise((r) => setTimeout(r, 100))
  await call(api.port, op, 'POST', '/api/bypass', { state: true })
  await call(api.port, op, 'POST', '/api/bypass', { state: false })
  await until(() => s.events.some((e) => e.event === 'transition'), 5000, 'the event')
  const tr = s.events.find((e) => e.event === 'transition')!
  t.match(tr.data.at, ISO_MS)
  t.match(tr.id, /^\d+$/)
})

t.test('a WebSocket on the same mTLS listener gets the same change events and resumes by id', async (t) => {
  const open = (query: string, creds: Partial<Creds> & { ca: string }): Promise<{ ws: WebSocket; msgs: any[] }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${api.port}/api/ws${query}`, { ...creds })
      const msgs: any[] = []
      ws.on('message', (d) => msgs.push(JSON.parse(d.toString())))
      ws.once('open', () => resolve({ ws, msgs }))
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  const a = await open('?types=change', obs)
  await new Promise((r) => setTimeout(r, 100))
  await call(api.port, op, 'POST', '/api/gain', { output: 3, db: -2.5 })
  await until(() => a.msgs.some((m) => m.event === 'change'), 5000, 'the event')
  const m = a.msgs.find((x) => x.event === 'change')
  t.equal(m.data.what, 'gain')
  t.equal(m.data.value, -2.5)
  t.match(m.data.at, ISO_MS)
  t.equal(m.id, m.data.eventId)
  a.ws.close()
  await call(api.port, op, 'POST', '/api/gain', { output: 3, db: -3.5 })
  const b = await open(`?types=change&lastEventId=${m.id}`, obs)
  t.teardown(() => b.ws.close())
  await until(() => b.msgs.some((x) => x.event === 'change'), 5000, 'the event')
  t.equal(b.msgs.find((x) => x.event === 'change').data.value, -3.5, 'the missed change is replayed')
  await t.rejects(open('', { ca: op.ca, cert: fx.creds(fx.revoked).cert, key: fx.creds(fx.revoked).key }), 'a revoked certificate gets no WebSocket')
  const plain = await call(api.port, obs, 'GET', '/api/ws')
  t.equal(plain.status, 426, 'a plain GET is told to upgrade')
  t.match(plain.json.message, /WebSocket/)
})

t.test('the journal says when a reconnect asks for ids older than its buffer', async (t) => {
  const j = new EventJournal({ capacity: 3, now: () => Date.UTC(2026, 0, 1) })
  for (let i = 0; i < 5; i++) j.record({ type: 'panel', event: `e${i}` })
  t.equal(j.lastId(), 5)
  t.same(j.since(4), { entries: [j.since(0).entries[2]], gap: false, oldest: 3 })
  const old = j.since(1)
  t.equal(old.gap, true, 'ids 2 are gone')
  t.same(
    old.entries.map((e) => e.id),
    [3, 4, 5],
  )
  t.equal(old.entries[0]!.at, '2026-01-01T00:00:00.000Z')
  t.equal(j.record({ type: 'meters', meters: {} as never }), null, 'meters are not journaled')
  const restarted = j.since(900)
  t.equal(restarted.gap, true, 'an id from before a firmware restart (newer than any given out) is a gap')
  t.same(
    restarted.entries.map((e) => e.id),
    [3, 4, 5],
    'and everything held is replayed',
  )
})

t.test("status reports the unit's counts", async (t) => {
  const s = await call(api.port, obs, 'GET', '/api/status')
  t.same(s.json.value.device, { inputs: app.profile.audio.inputs, outputs: app.profile.audio.outputs, beams: app.beams().length })
})
