// Issue 10, items 9 and 13: what a request with the wrong types, the wrong method or the wrong role
// is told, over a real TLS client (Node https), and that a refused request changes nothing.

import { readFileSync } from 'node:fs'
import t from 'tap'
import type { ApiHandle } from '../../firmware/api/server.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { issueClient } from '../../provisioning/provision.ts'
import { bootSim, type Creds, call, type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let api: ApiHandle
let app: ApplianceApi
let op: Creds
let obs: Creds
let admin: Creds

t.before(async () => {
  fx = await makeFixture(t.testdir())
  const tech = issueClient(fx.dataDir, { outParent: fx.crew, name: 'system-tech', role: 'admin' })
  const rig = await bootSim(t, fx.dataDir)
  app = rig.app
  api = rig.api
  op = fx.creds(fx.operator)
  obs = fx.creds(fx.observer)
  admin = { cert: readFileSync(tech.certFile, 'utf8'), key: readFileSync(tech.keyFile, 'utf8'), ca: op.ca }
})

t.test('JSON null is a wrong type, not "absent": 400 naming the field, and nothing changes', async (t) => {
  const beamsBefore = JSON.stringify(app.beams())
  const outputsBefore = JSON.stringify(app.outputSettings())
  const auto = await call(api.port, op, 'POST', '/api/beam/auto', '{"beam":2,"enabled":null}')
  t.equal(auto.status, 400, auto.text)
  t.equal(auto.json.code, 'FW_ERR_API_BAD_REQUEST')
  t.equal(auto.json.field, 'enabled')
  t.match(auto.json.message, /field "enabled" must be true or false, got null/)
  const comp = await call(api.port, op, 'POST', '/api/comp', '{"output":1,"makeup":null}')
  t.equal(comp.status, 400, comp.text)
  t.equal(comp.json.field, 'makeup')
  t.match(comp.json.message, /field "makeup" must be a number, got null/)
  const big = await call(api.port, op, 'POST', '/api/gain', '{"output":1,"db":1e309}')
  t.equal(big.status, 400, big.text)
  t.equal(big.json.field, 'db')
  t.notMatch(big.json.message, /got null/, 'an overflowing number is not reported as null')
  t.match(big.json.message, /1e309/, 'the message shows what was sent')
  t.equal(JSON.stringify(app.beams()), beamsBefore, 'auto-follow unchanged')
  t.equal(JSON.stringify(app.outputSettings()), outputsBefore, 'outputs unchanged')
})

t.test('the registry refuses JSON null too (every JSON transport)', async (t) => {
  const { createRegistry } = await import('../../firmware/commands/index.ts')
  const r = await createRegistry(app).execute('beam auto', { beam: 2, enabled: null }, { name: 'test', permission: 'operate', transport: 'api' })
  t.equal(r.ok, false)
  if (!r.ok) {
    t.equal(r.code, 'FW_ERR_BAD_ARG')
    t.match(r.message, /enabled must be true or false, got null/)
  }
})

t.test('authorization is checked before the body: an operator writing an admin command gets 403, not 400', async (t) => {
  const r = await call(api.port, op, 'POST', '/api/model/activate', {})
  t.equal(r.status, 403, r.text)
  t.equal(r.json.code, 'FW_ERR_API_FORBIDDEN')
  t.match(r.json.message, /needs an admin certificate/)
  const bad = await call(api.port, op, 'POST', '/api/reboot', '{"x":')
  t.equal(bad.status, 403, 'even a broken body gets 403 first')
})

t.test('an observer writing an admin command is told it needs an admin certificate', async (t) => {
  const r = await call(api.port, obs, 'POST', '/api/reboot', {})
  t.equal(r.status, 403, r.text)
  t.match(r.json.message, /needs an admin certificate/)
  t.notMatch(r.json.message, /operator certificate/)
  const g = await call(api.port, obs, 'POST', '/api/gain', { output: 1, db: -3 })
  t.match(g.json.message, /needs an operator certificate/, 'an operate command still says operator')
})

t.test('405 answers carry their own code and an Allow header', async (t) => {
  const a = await call(api.port, op, 'GET', '/api/gain')
  t.equal(a.status, 405)
  t.equal(a.json.code, 'FW_ERR_API_METHOD')
  t.equal(a.headers.allow, 'POST')
  const b = await call(api.port, op, 'POST', '/api/whoami', {})
  t.equal(b.status, 405)
  t.equal(b.json.code, 'FW_ERR_API_METHOD')
  t.equal(b.headers.allow, 'GET')
  t.equal((await call(api.port, op, 'GET', '/api/nonsense')).json.code, 'FW_ERR_API_NOT_FOUND', '404 keeps its code')
})

t.test('the 409 of a destructive command shows the JSON body to send, not the console line', async (t) => {
  const r = await call(api.port, admin, 'POST', '/api/reboot', {})
  t.equal(r.status, 409, r.text)
  t.equal(r.json.code, 'FW_ERR_CONFIRM_REQUIRED')
  const token = r.json.confirmToken as string
  t.match(token, /^[A-Z0-9]{4}$/)
  t.ok(r.json.message.includes(`{"confirm":"${token}"}`), `the message shows the body: ${r.json.message}`)
  t.notMatch(r.json.message, /confirm=/, 'no console form')
})

t.test("on the whole firmware stack, an operator's osc/on {} gets 403 (admin), not 400", async (t) => {
  const { startAppliance } = await import('../../firmware/runtime/start.ts')
  const { applianceStack } = await import('../../firmware/runtime/services.ts')
  const { loadProfile } = await import('../../firmware/board/profile.ts')
  const base = loadProfile('sim')
  const dir = t.testdir()
  const { provision } = await import('../../provisioning/provision.ts')
  const p = await provision({ dataDir: `${dir}/data`, bundlesOut: `${dir}/crew` })
  const opB = p.bundles.find((b) => b.role === 'operator')!
  const run = await startAppliance(
    { ...base, dataDir: `${dir}/data`, api: { ...base.api, port: 0 } },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [applianceStack({ inference: false, console: false, log: () => {} })],
    },
  )
  t.teardown(() => run.stop())
  const url = run.app.endpoints.get('api')!
  const port = Number(new URL(url).port)
  const creds = { cert: readFileSync(opB.certFile, 'utf8'), key: readFileSync(opB.keyFile, 'utf8'), ca: readFileSync(p.caFile, 'utf8') }
  // OSC registers its commands after the API starts; the API picks them up within a second.
  for (let i = 0; i < 50; i++) {
    const list = await call(port, creds, 'GET', '/api/commands')
    if (list.json.value.some((c: { command: string }) => c.command === 'osc on')) break
    await new Promise((res) => setTimeout(res, 100))
  }
  const r = await call(port, creds, 'POST', '/api/osc/on', {})
  t.equal(r.status, 403, r.text)
  t.match(r.json.message, /"osc on" needs an admin certificate/)
})

t.test('trims and the automation mode are read with a GET (an observer may), and reading changes nothing', async (t) => {
  const set = await call(api.port, op, 'POST', '/api/trim', '{"input":3,"db":4.5}')
  t.equal(set.status, 200, set.text)
  const all = await call(api.port, obs, 'GET', '/api/input/show')
  t.equal(all.status, 200, all.text)
  t.equal(all.json.value.length, app.profile.audio.inputs, 'one entry per input')
  t.same(all.json.value[2], { input: 3, trim: 4.5 })
  t.same(all.json.value[0], { input: 1, trim: 0 })
  const one = await call(api.port, obs, 'GET', '/api/input/show?input=3')
  t.same(one.json.value, { input: 3, trim: 4.5 })
  const bad = await call(api.port, obs, 'GET', `/api/input/show?input=${app.profile.audio.inputs + 1}`)
  t.equal(bad.status, 400, bad.text)
  const mode = await call(api.port, obs, 'GET', '/api/automation/show')
  t.equal(mode.status, 200, mode.text)
  t.same(mode.json.value, { mode: app.status().automationMode })
  const post = await call(api.port, obs, 'POST', '/api/automation/show', '{}')
  t.equal(post.status, 405, 'reading the mode is a GET only')
})
