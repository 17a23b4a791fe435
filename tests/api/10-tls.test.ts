import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent } from 'node:https'
import t from 'tap'
import type { ApiHandle } from '../../firmware/api/server.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { issueClient, revokeClient } from '../../provisioning/provision.ts'
import { bootSim, call, type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let api: ApiHandle
let app: ApplianceApi

t.before(async () => {
  fx = await makeFixture(t.testdir())
  const rig = await bootSim(t, fx.dataDir, { crlPollMs: 100 })
  app = rig.app
  api = rig.api
})

// The API runs in this process: child tools must be spawned asynchronously so it can answer them.
function run(cmd: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000)
    p.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, out, err })
    })
    p.stdin.end(input ?? '')
  })
}

function curl(args: string[]) {
  return run('curl', ['-sS', '--max-time', '10', '--cacert', fx.caFile, ...args])
}

async function sClient(args: string[]): Promise<{ code: number; out: string }> {
  const r = await run(
    'openssl',
    ['s_client', '-ign_eof', '-connect', `127.0.0.1:${api.port}`, '-servername', 'localhost', '-CAfile', fx.caFile, ...args],
    'GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
  )
  return { code: r.code, out: r.out + r.err }
}

t.test('the operator certificate reads status and changes the gain (Node https)', async (t) => {
  const c = fx.creds(fx.operator)
  const s = await call(api.port, c, 'GET', '/api/status')
  t.equal(s.status, 200)
  t.equal(s.json.ok, true)
  t.match(s.json.value.state, /^(BOOT|ACTIVE|DEGRADED|BYPASS)$/)
  t.equal(s.json.value.board, 'sim')
  const g = await call(api.port, c, 'POST', '/api/gain', { output: 2, db: -6 })
  t.equal(g.status, 200, g.text)
  t.equal(app.outputSettings()[1]!.gainDb, -6)
  const who = await call(api.port, c, 'GET', '/api/whoami')
  t.same(who.json.value, { cn: 'operator-1', serial: fx.operator.serial, role: 'operator', permission: 'operate' })
})

t.test('the operator certificate works from curl, both PEM and the PKCS#12 bundle', async (t) => {
  const r = await curl(['--cert', fx.operator.certFile, '--key', fx.operator.keyFile, `https://localhost:${api.port}/api/status`])
  t.equal(r.code, 0, r.err)
  t.equal(JSON.parse(r.out).value.board, 'sim')
  const w = await curl([
    '--cert',
    fx.operator.certFile,
    '--key',
    fx.operator.keyFile,
    '-H',
    'content-type: application/json',
    '--data',
    '{"output":1,"db":-3}',
    `https://localhost:${api.port}/api/gain`,
  ])
  t.equal(w.code, 0, w.err)
  t.equal(JSON.parse(w.out).ok, true)
  t.equal(app.outputSettings()[0]!.gainDb, -3)
  const p12 = await curl(['--cert-type', 'P12', '--cert', `${fx.operator.p12File}:${fx.operator.p12Password}`, `https://localhost:${api.port}/api/whoami`])
  t.equal(p12.code, 0, p12.err)
  t.equal(JSON.parse(p12.out).value.cn, 'operator-1')
  const pfx = await call(api.port, { ca: readFileSync(fx.caFile, 'utf8') }, 'GET', '/api/whoami', undefined, {
    pfx: readFileSync(fx.operator.p12File),
    passphrase: fx.operator.p12Password,
  })
  t.equal(pfx.json.value.cn, 'operator-1', 'the PKCS#12 bundle works from Node too')
})

t.test('the observer reads but gets 403 on writes, and nothing changes', async (t) => {
  const c = fx.creds(fx.observer)
  const before = app.outputSettings()[2]!.gainDb
  t.equal((await call(api.port, c, 'GET', '/api/status')).status, 200)
  t.equal((await call(api.port, c, 'GET', '/api/meters')).status !== 403, true)
  const w = await call(api.port, c, 'POST', '/api/gain', { output: 3, db: -20 })
  t.equal(w.status, 403)
  t.equal(w.json.code, 'FW_ERR_API_FORBIDDEN')
  t.match(w.json.message, /read-only/)
  const b = await call(api.port, c, 'POST', '/api/bypass', { state: true })
  t.equal(b.status, 403)
  t.equal(app.outputSettings()[2]!.gainDb, before)
  t.not(app.status().state, 'MANUAL_BYPASS', 'no manual bypass')
  t.equal(app.faults(1000).filter((f) => f.cause.startsWith('manual')).length, 0, 'no manual transition at all')
  const r = await curl([
    '--cert',
    fx.observer.certFile,
    '--key',
    fx.observer.keyFile,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-H',
    'content-type: application/json',
    '--data',
    '{"state":true}',
    `https://localhost:${api.port}/api/bypass`,
  ])
  t.equal(r.out, '403')
})

t.test('no certificate is refused at the handshake', async (t) => {
  await t.rejects(call(api.port, { ca: fx.creds(fx.operator).ca }, 'GET', '/api/status'))
  const r = await curl([`https://localhost:${api.port}/api/status`])
  t.not(r.code, 0, 'curl fails without a client certificate')
  const s = await sClient(['-tls1_3'])
  t.notMatch(s.out, /HTTP\/1\.1 200/, 's_client without a certificate gets no reply')
})

t.test("a certificate from another device's CA is refused", async (t) => {
  const f = fx.creds(fx.foreign)
  await t.rejects(call(api.port, f, 'GET', '/api/status'))
  const r = await curl(['--cert', fx.foreign.certFile, '--key', fx.foreign.keyFile, `https://localhost:${api.port}/api/status`])
  t.not(r.code, 0)
  const s = await sClient(['-cert', fx.foreign.certFile, '-key', fx.foreign.keyFile])
  t.notMatch(s.out, /HTTP\/1\.1 200/)
})

t.test('an expired certificate is refused', async (t) => {
  await t.rejects(call(api.port, fx.creds(fx.expired), 'GET', '/api/status'))
  const r = await curl(['--cert', fx.expired.certFile, '--key', fx.expired.keyFile, `https://localhost:${api.port}/api/status`])
  t.not(r.code, 0)
})

t.test('a revoked certificate is refused', async (t) => {
  await t.rejects(call(api.port, fx.creds(fx.revoked), 'GET', '/api/status'))
  const r = await curl(['--cert', fx.revoked.certFile, '--key', fx.revoked.keyFile, `https://localhost:${api.port}/api/status`])
  t.not(r.code, 0)
  const s = await sClient(['-cert', fx.revoked.certFile, '-key', fx.revoked.keyFile])
  t.notMatch(s.out, /HTTP\/1\.1 200/)
})

t.test('revoking a certificate while the API runs locks it out without a restart', async (t) => {
  const b = issueClient(fx.dataDir, { outParent: fx.crew, name: 'temp-laptop', role: 'operator' })
  const c = { cert: readFileSync(b.certFile, 'utf8'), key: readFileSync(b.keyFile, 'utf8'), ca: readFileSync(fx.caFile, 'utf8') }
  t.equal((await call(api.port, c, 'GET', '/api/status')).status, 200)
  revokeClient(fx.dataDir, { serial: b.serial })
  await api.reloadCrl()
  await t.rejects(call(api.port, c, 'GET', '/api/status'))
})

t.test('a connection kept alive across a revocation gets 401 on its next request', async (t) => {
  const b = issueClient(fx.dataDir, { outParent: fx.crew, name: 'kept-alive', role: 'operator' })
  const c = { cert: readFileSync(b.certFile, 'utf8'), key: readFileSync(b.keyFile, 'utf8'), ca: readFileSync(fx.caFile, 'utf8') }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const first = await call(api.port, c, 'GET', '/api/status', undefined, { agent })
  t.equal(first.status, 200)
  revokeClient(fx.dataDir, { serial: b.serial })
  await api.reloadCrl()
  const second = await call(api.port, c, 'GET', '/api/status', undefined, { agent })
  t.equal(second.status, 401)
  t.equal(second.json.code, 'FW_ERR_API_UNAUTHORIZED')
  t.match(second.json.message, /revoked/)
  const write = await call(api.port, c, 'POST', '/api/gain', { output: 1, db: -50 }, { agent }).catch(() => null)
  t.not(write?.status, 200, 'no write gets through')
  t.not(app.outputSettings()[0]!.gainDb, -50)
})

t.test('TLS 1.2 is refused; TLS 1.3 is used', async (t) => {
  const c = fx.creds(fx.operator)
  await t.rejects(call(api.port, c, 'GET', '/api/status', undefined, { maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' }))
  const s12 = await sClient(['-tls1_2', '-cert', fx.operator.certFile, '-key', fx.operator.keyFile])
  t.notMatch(s12.out, /HTTP\/1\.1 200/)
  const c12 = await curl([
    '--tlsv1.2',
    '--tls-max',
    '1.2',
    '--cert',
    fx.operator.certFile,
    '--key',
    fx.operator.keyFile,
    `https://localhost:${api.port}/api/status`,
  ])
  t.not(c12.code, 0)
  const s13 = await sClient(['-tls1_3', '-cert', fx.operator.certFile, '-key', fx.operator.keyFile])
  t.match(s13.out, /TLSv1\.3/)
  t.match(s13.out, /HTTP\/1\.1 200/)
})
