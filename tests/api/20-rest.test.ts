import { readdirSync, readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import t from 'tap'
import { openApiText } from '../../firmware/api/openapi.ts'
import { type ApiHandle, startApi } from '../../firmware/api/server.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { AuditLog } from '../../firmware/transport/audit.ts'
import { servedOpenApiText } from '../../scripts/docs/served-openapi.ts'
import { bootSim, type Creds, call, type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let api: ApiHandle
let app: ApplianceApi
let registry: Parameters<typeof openApiText>[0]
let op: Creds
let obs: Creds

t.before(async () => {
  fx = await makeFixture(t.testdir())
  const rig = await bootSim(t, fx.dataDir, { maxBodyBytes: 4096 })
  app = rig.app
  api = rig.api
  registry = rig.registry
  op = fx.creds(fx.operator)
  obs = fx.creds(fx.observer)
})

async function snapshot(): Promise<string> {
  const outputs = await call(api.port, op, 'GET', '/api/output/show')
  const status = await call(api.port, op, 'GET', '/api/status')
  return JSON.stringify([outputs.json.value, status.json.value.state, status.json.value.relay])
}

t.test('malformed, oversized and wrongly typed JSON get a clear 4xx and change nothing', async (t) => {
  const before = await snapshot()
  const cases: Array<[string, string, number, RegExp, string | undefined]> = [
    ['broken JSON', '{"output": 1, "db": ', 400, /not valid JSON/, undefined],
    ['an array body', '[1, 2]', 400, /must be a JSON object/, undefined],
    ['a string where a number goes', '{"output": "two", "db": -6}', 400, /field "output" must be a whole number/, 'output'],
    ['a fraction where a whole number goes', '{"output": 1.5, "db": -6}', 400, /field "output" must be a whole number/, 'output'],
    ['a value out of range', '{"output": 1, "db": 99}', 400, /field "db" must be between -80 and 12 dB, got 99/, 'db'],
    ['an output the unit does not have', '{"output": 9, "db": -6}', 400, /field "output" must be between 1 and 4/, 'output'],
    ['a missing field', '{"output": 1}', 400, /field "db" is required/, 'db'],
    ['an unknown field', '{"output": 1, "db": -6, "channel": 3}', 400, /field "channel" is not an argument of gain/, 'channel'],
    ['null for a required field', '{"output": null, "db": -6}', 400, /field "output" must be a whole number, got null/, 'output'],
  ]
  for (const [what, body, status, msg, field] of cases) {
    const r = await call(api.port, op, 'POST', '/api/gain', body)
    t.equal(r.status, status, `${what}: status`)
    t.equal(r.json.ok, false, `${what}: ok false`)
    t.equal(r.json.code, 'FW_ERR_API_BAD_REQUEST', `${what}: code`)
    t.match(r.json.message, msg, `${what}: message`)
    if (field) t.equal(r.json.field, field, `${what}: names the field`)
  }
  const bypass = await call(api.port, op, 'POST', '/api/bypass', { state: 'yes' })
  t.equal(bypass.status, 400)
  t.match(bypass.json.message, /field "state" must be true or false/)
  const big = await call(api.port, op, 'POST', '/api/gain', JSON.stringify({ output: 1, db: -6, pad: 'x'.repeat(8000) }))
  t.equal(big.status, 413)
  t.equal(big.json.code, 'FW_ERR_API_TOO_LARGE')
  const ct = await call(api.port, op, 'POST', '/api/gain', '{"output":1,"db":-6}', { headers: { 'content-type': 'text/plain' } })
  t.equal(ct.status, 415)
  t.match(ct.json.message, /Content-Type must be application\/json/)
  t.equal(await snapshot(), before, 'outputs, state and relay unchanged')
})

t.test('an oversized body sent without a length is cut off with 413', async (t) => {
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: api.port,
        method: 'POST',
        path: '/api/gain',
        servername: 'localhost',
        agent: false,
        ...op,
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += d.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.write('{"output":1,"db":-6,"pad":"')
    for (let i = 0; i < 10; i++) req.write('y'.repeat(1000))
    req.end('"}')
  })
  t.equal(r.status, 413)
  t.match(JSON.parse(r.body).message, /over the limit of 4096 bytes/)
})

t.test('unknown resources and wrong methods get 404 and 405', async (t) => {
  const a = await call(api.port, op, 'GET', '/api/nonsense')
  t.equal(a.status, 404)
  t.match(a.json.message, /GET \/api\/commands lists them/)
  const b = await call(api.port, op, 'GET', '/api/gain')
  t.equal(b.status, 405)
  t.equal(b.headers.allow, 'POST')
  const q = await call(api.port, op, 'GET', '/api/faults?count=abc')
  t.equal(q.status, 400)
  t.equal(q.json.field, 'count')
})

t.test('reads and writes go through the command registry', async (t) => {
  const list = await call(api.port, obs, 'GET', '/api/commands')
  t.ok(
    list.json.value.some(
      (c: { command: string; path: string; method: string }) => c.command === 'beam steer' && c.path === '/api/beam/steer' && c.method === 'POST',
    ),
  )
  const steer = await call(api.port, op, 'POST', '/api/beam/steer', { beam: 2, azimuth: 45 })
  t.equal(steer.status, 200, steer.text)
  const beams = await call(api.port, obs, 'GET', '/api/beam/list')
  t.equal(beams.status, 200)
  t.match(JSON.stringify(beams.json.value), /45/)
  const on = await call(api.port, op, 'POST', '/api/bypass', { state: true })
  t.equal(on.status, 200, on.text)
  t.equal((await call(api.port, obs, 'GET', '/api/status')).json.value.relay, 'bypass')
  const off = await call(api.port, op, 'POST', '/api/bypass', { state: false })
  t.equal(off.status, 200)
  const reboot = await call(api.port, op, 'POST', '/api/reboot', {})
  t.equal(reboot.status, 403, 'operators may not reboot (admin)')
  t.equal(reboot.json.code, 'FW_ERR_API_FORBIDDEN')
  t.match(reboot.json.message, /needs an admin certificate/)
})

t.test('the device serves the OpenAPI description of the registry behind it', async (t) => {
  const r = await call(api.port, obs, 'GET', '/api/openapi.json')
  t.equal(r.status, 200)
  t.equal(r.text, openApiText(registry), 'served: the description of the registry the API calls')
  t.ok(r.json.paths['/api/beam/steer'].post.requestBody, 'writes have a request schema')
  t.equal(r.json.paths['/api/gain'].post.requestBody.content['application/json'].schema.properties.db.maximum, 12)
})

t.test('the repo keeps the OpenAPI description of the whole firmware (every command a unit serves)', async (t) => {
  const text = await servedOpenApiText(t.testdir())
  t.equal(text, readFileSync('docs/openapi.json', 'utf8'), 'docs/openapi.json is current (regenerate: node scripts/docs/openapi.ts)')
  const doc = JSON.parse(text)
  for (const path of ['/api/preset/save', '/api/accept', '/api/osc/on', '/api/model/activate']) t.ok(doc.paths[path], `${path} is described`)
})

t.test('every state-changing request is in the audit log with who, what, when and result', async (t) => {
  const marker = -7.5
  await call(api.port, op, 'POST', '/api/gain', { output: 4, db: marker })
  await call(api.port, obs, 'POST', '/api/gain', { output: 4, db: -1 })
  await call(api.port, op, 'POST', '/api/gain', '{"output":4,')
  const lines = [api.files.audit, api.files.refused].flatMap((f) => readFileSync(f, 'utf8').trim().split('\n')).map((l) => JSON.parse(l))
  const ok = lines.find((e) => e.command === 'gain' && e.args?.db === marker)
  t.ok(ok, 'the accepted write is logged')
  t.same(ok.who, { cn: 'operator-1', serial: fx.operator.serial, role: 'operator' })
  t.equal(ok.status, 200)
  t.equal(ok.result, 'ok')
  t.match(ok.at, /^\d{4}-\d\d-\d\dT/)
  const refused = lines.find((e) => e.who?.cn === 'observer-1' && e.path === '/api/gain')
  t.ok(refused, 'the refused observer write is logged')
  t.equal(refused.status, 403)
  t.equal(refused.result, 'FW_ERR_API_FORBIDDEN')
  t.ok(
    lines.some((e) => e.status === 400 && e.result === 'FW_ERR_API_BAD_REQUEST'),
    'the malformed write is logged',
  )
  t.notOk(
    lines.some((e) => e.method === 'GET'),
    'reads are not audited',
  )
})

t.test('the audit log rotates by size and keeps a bounded number of files', async (t) => {
  const dir = t.testdir()
  // Rotation alone: no minimum retention for changes here (80-audit.test.ts covers that).
  const log = new AuditLog(join(dir, 'audit.jsonl'), { maxBytes: 2000, keep: 3, minRecords: 0, minAgeMs: 0 })
  for (let i = 0; i < 100; i++) {
    log.write({
      at: new Date().toISOString(),
      who: { cn: 'x', serial: '1', role: 'operator' },
      remote: '::1',
      method: 'POST',
      path: '/api/gain',
      command: 'gain',
      args: { output: 1, db: i },
      status: 200,
      result: 'ok',
    })
  }
  const files = readdirSync(dir).sort()
  t.same(files, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3'])
  for (const f of files) t.ok(readFileSync(join(dir, f)).length <= 2000, `${f} is within the size`)
  const last = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').pop()!
  t.equal(JSON.parse(last).args.db, 99, 'the newest entry is in the live file')
})

t.test('each client has its own rate limit (429 with Retry-After)', async (t) => {
  const limited = await startApi(app, createRegistry(app), loadProfile('sim'), {
    port: 0,
    host: '127.0.0.1',
    dataDir: fx.dataDir,
    rateLimit: { perSecond: 1, burst: 5 },
  })
  t.teardown(() => limited.stop())
  const codes: number[] = []
  for (let i = 0; i < 8; i++) codes.push((await call(limited.port, op, 'GET', '/api/status')).status)
  t.same(codes.slice(0, 5), [200, 200, 200, 200, 200])
  t.ok(
    codes.slice(5).every((c) => c === 429),
    `then 429: ${codes}`,
  )
  const r = await call(limited.port, op, 'GET', '/api/status')
  t.equal(r.json.code, 'FW_ERR_API_RATE_LIMITED')
  t.ok(Number(r.headers['retry-after']) >= 1)
  t.equal((await call(limited.port, obs, 'GET', '/api/status')).status, 200, 'another client is unaffected')
})

t.test('the event stream sends meters at the requested rate, DOA and transitions', async (t) => {
  const events: Array<{ event: string; data: unknown }> = []
  const req = httpsRequest({
    host: '127.0.0.1',
    port: api.port,
    path: '/api/events?types=meters,transition,doa&metersHz=20',
    servername: 'localhost',
    agent: false,
    ...obs,
  })
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
    req.end()
  })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/event-stream/)
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
  await new Promise((r) => setTimeout(r, 300))
  await call(api.port, op, 'POST', '/api/bypass', { state: true })
  await call(api.port, op, 'POST', '/api/bypass', { state: false })
  await new Promise((r) => setTimeout(r, 700))
  res.destroy()
  const meters = events.filter((e) => e.event === 'meters')
  t.ok(meters.length >= 5, `meters arrive repeatedly (${meters.length} in ~1 s at 20 Hz)`)
  t.ok(Array.isArray((meters[0]!.data as { outputPeakDb: number[] }).outputPeakDb), 'meters carry output peaks')
  const tr = events.filter((e) => e.event === 'transition')
  t.ok(tr.length >= 1, 'the bypass transition arrives')
  t.ok(
    events.some((e) => e.event === 'doa' && typeof (e.data as { azimuth: number }).azimuth === 'number'),
    'DOA estimates of the simulated stage arrive',
  )
  const bad = await call(api.port, obs, 'GET', '/api/events?metersHz=500')
  t.equal(bad.status, 400)
  t.equal(bad.json.field, 'metersHz')
})
