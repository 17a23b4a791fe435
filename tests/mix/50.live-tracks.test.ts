// Live tracks (issue 17, third round) on the sim board with two talkers (speech-like sources at 60
// and 200 degrees): `tracking on` over the API (a real TLS client) makes the DOA thread localise,
// the tracker follow, `tracks` list two confirmed tracks near the true azimuths and the API's
// event stream carry `inference` reports of kind 'tracks'; `tracking off` empties them; bad
// arguments and an observer are refused with a clear FW_ERR and change nothing; the setting
// survives a restart.
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import t from 'tap'
import { angleDiff } from '../../firmware/mix/tracker.ts'
import { type Creds, call, makeFixture } from '../api/helpers.ts'
import { bootUnit, eventually } from './unit.ts'

const TRUE_AZ = [60, 200]

/** Two talkers on the sim board's stage, at TRUE_AZ. */
const TWO_TALKERS = [
  { azimuth: TRUE_AZ[0]!, elevation: 0, kind: 'speechlike' as const, freqHz: 220, levelDb: -20 },
  { azimuth: TRUE_AZ[1]!, elevation: 0, kind: 'speechlike' as const, freqHz: 150, levelDb: -22 },
]
const boot = (dataDir: string) => bootUnit(dataDir, TWO_TALKERS)

interface Sse {
  events: Array<{ event: string; data: any }>
  close(): void
}

function openSse(port: number, creds: Creds, query: string): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: `/api/events${query}`, servername: 'localhost', agent: false, ...creds })
    req.on('error', reject)
    req.on('response', (res: IncomingMessage) => {
      const events: Sse['events'] = []
      let buf = ''
      res.on('data', (d: Buffer) => {
        buf += d.toString()
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const ev = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) })
        }
      })
      res.on('error', () => {})
      resolve({ events, close: () => res.destroy() })
    })
    req.end()
  })
}

interface Listed {
  on: boolean
  tracks: Array<{ id: number; azimuth: number; confirmed: boolean; age: number }>
}

/** Each true azimuth's nearest confirmed track within 5 degrees, or null. */
function matched(tracks: Listed['tracks']): Array<number | null> {
  return TRUE_AZ.map((az) => {
    const near = tracks.filter((x) => x.confirmed && Math.abs(angleDiff(x.azimuth, az)) <= 5)
    return near.length ? near[0]!.id : null
  })
}

t.test('tracking on: two confirmed tracks near the talkers, on `tracks` and the event stream; off: none; stored', async (t) => {
  const fx = await makeFixture(t.testdir())
  const op = fx.creds(fx.operator)
  const obs = fx.creds(fx.observer)
  let unit = await boot(fx.dataDir)
  t.teardown(() => unit.stop())
  const port = () => unit.api.port
  const list = async (): Promise<Listed> => (await call(port(), obs, 'GET', '/api/tracks')).json.value as Listed

  t.same(await list(), { on: false, tracks: [] }, 'off by default: no tracks')
  const bad = await call(port(), op, 'POST', '/api/tracking', { state: 'maybe' })
  t.match(bad, { status: 400, json: { ok: false, code: /^FW_ERR_/, field: 'state' } }, `a bad state is refused: ${bad.text}`)
  const observer = await call(port(), obs, 'POST', '/api/tracking', { state: 'on' })
  t.match(observer, { status: 403 }, `an observer may not turn tracking on: ${observer.text}`)
  t.same(await list(), { on: false, tracks: [] }, 'and nothing changed')

  const sse = await openSse(port(), obs, '?types=inference')
  t.teardown(() => sse.close())
  const on = await call(port(), op, 'POST', '/api/tracking', { state: 'on' })
  t.match(on, { status: 200, json: { value: { on: true, available: true } } }, 'an operator turns it on')
  const onAt = Date.now()
  let last: Listed = { on: false, tracks: [] }
  const found = await eventually(async () => {
    last = await list()
    return matched(last.tracks).every((id) => id !== null)
  }, 15_000)
  t.ok(found, `two confirmed tracks within 5 deg of ${TRUE_AZ.join(' and ')}: ${JSON.stringify(last)}`)
  const ids = matched(last.tracks)
  t.not(ids[0], ids[1], 'two different tracks')
  t.ok(
    last.tracks.every((x) => x.age >= 0),
    'each with its age',
  )
  // A second later the same two ids (no churn), and the reports on the stream name them.
  await new Promise((r) => setTimeout(r, 1000))
  t.same(matched((await list()).tracks), ids, `the same ids a second later: ${JSON.stringify(await list())}`)
  const reports = sse.events.filter((e) => e.event === 'inference' && e.data.kind === 'tracks').map((e) => e.data)
  const seconds = (Date.now() - onAt) / 1000
  t.ok(
    reports.some((r) => ids.every((id) => r.tracks.some((x: { id: number; confirmed: boolean }) => x.id === id && x.confirmed))),
    `an event on the API stream carries both confirmed tracks (${reports.length} tracks events)`,
  )
  const changes = new Set(reports.map((r) => JSON.stringify(r.tracks.filter((x: { confirmed: boolean }) => x.confirmed).map((x: { id: number }) => x.id)))).size
  t.ok(
    reports.length <= 4 * seconds + 2 * changes + 2,
    `${reports.length} reports in ${seconds.toFixed(1)} s with ${changes} id sets: at most 4 a second plus the changes`,
  )

  // Mixing a tracked source in (its own separated stem, never an engine beam): tests/mix/60.live-stems.test.ts.

  const off = await call(port(), op, 'POST', '/api/tracking', { state: 'off' })
  t.match(off, { status: 200, json: { value: { on: false } } }, 'turned off')
  t.same(await list(), { on: false, tracks: [] }, 'off: no tracks')
  t.ok(await eventually(() => sse.events.some((e) => e.data.kind === 'tracks' && e.data.tracks.length === 0), 2000), 'the stream says the tracks are gone')

  // Stored: on again, restart the unit on the same data directory, and it tracks without being asked.
  t.match(await call(port(), op, 'POST', '/api/tracking', { state: 'on' }), { status: 200 })
  sse.close()
  await unit.stop()
  unit = await boot(fx.dataDir)
  t.ok(
    await eventually(async () => matched((await list()).tracks).every((id) => id !== null), 15_000),
    `after a restart tracking is on again and finds both: ${JSON.stringify(await list())}`,
  )
})
