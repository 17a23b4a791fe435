// The API's authentication decisions (firmware/api/auth.ts) for each kind of client certificate, on
// real certificates and a real CRL from the provisioning step: role, revocation, expiry, rate limit.

import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ApiAuth, principalOf } from '../../firmware/api/auth.ts'
import { HttpError } from '../../firmware/api/http.ts'
import { startApi } from '../../firmware/api/server.ts'
import { type ClientIdentity, normaliseSerial, permissionFor } from '../../firmware/api/tls.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import { loadIdentity } from '../../firmware/secrets/identity.ts'
import type { Bundle } from '../../provisioning/provision.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let crlPath: string

t.before(async () => {
  fx = await makeFixture(t.testdir())
  crlPath = loadIdentity(fx.dataDir).crlPath
})

/** The identity clientOf() reads from a verified connection with this bundle's certificate. */
function identityOf(b: Bundle): ClientIdentity {
  const cert = new X509Certificate(readFileSync(b.certFile))
  return { cn: b.name, serial: normaliseSerial(cert.serialNumber), role: b.role, permission: permissionFor(b.role)!, validTo: Date.parse(cert.validTo) }
}

/** The refusal authorize() throws, or null when it lets the client in. */
function refusal(auth: ApiAuth, c: ClientIdentity | null): HttpError | null {
  try {
    auth.authorize(c)
    return null
  } catch (e) {
    if (e instanceof HttpError) return e
    throw e
  }
}

t.test('operator and observer certificates are let in, as themselves', async (t) => {
  const auth = new ApiAuth()
  auth.loadRevoked(crlPath)
  for (const b of [fx.operator, fx.observer]) {
    const c = identityOf(b)
    t.equal(auth.authorize(c), c, `${b.role} is authorized`)
    t.same(principalOf(c), { name: `api:CN=${c.cn},serial=${c.serial}`, permission: b.role === 'observer' ? 'observe' : 'operate', transport: 'api' })
  }
})

t.test('a certificate without a known role (no identity from clientOf) gets 401', async (t) => {
  const e = refusal(new ApiAuth(), null)
  t.match(e, { status: 401, code: 'FW_ERR_API_UNAUTHORIZED', message: /no known role/ })
})

t.test('a revoked certificate gets 401 once the CRL is loaded; others still get in', async (t) => {
  const auth = new ApiAuth()
  t.equal(refusal(auth, identityOf(fx.revoked)), null, 'before the CRL is read, nothing is revoked')
  auth.loadRevoked(crlPath)
  t.ok(auth.isRevoked(identityOf(fx.revoked).serial))
  t.match(refusal(auth, identityOf(fx.revoked)), { status: 401, code: 'FW_ERR_API_UNAUTHORIZED', message: /has been revoked/ })
  t.equal(refusal(auth, identityOf(fx.operator)), null)
})

t.test('an expired certificate gets 401, decided on the injected clock', async (t) => {
  const expired = identityOf(fx.expired)
  t.match(refusal(new ApiAuth(), expired), { status: 401, message: /has expired/ })
  const then = new ApiAuth({ now: () => Date.parse('2020-01-15T00:00:00Z') })
  t.equal(refusal(then, expired), null, 'within its validity it was fine')
})

t.test('a client over its rate limit gets 429 with Retry-After; other clients and refused ones are not charged', async (t) => {
  let ms = 0
  const auth = new ApiAuth({ rateLimit: { perSecond: 2, burst: 3 }, monotonic: () => ms })
  auth.loadRevoked(crlPath)
  const op = identityOf(fx.operator)
  for (let i = 0; i < 3; i++) t.equal(refusal(auth, op), null)
  const e = refusal(auth, op)
  t.match(e, { status: 429, code: 'FW_ERR_API_RATE_LIMITED', message: /too many requests from operator/ })
  t.equal(e?.headers['retry-after'], '1', 'Retry-After in whole seconds, at least 1')
  t.equal(refusal(auth, identityOf(fx.observer)), null, 'another certificate has its own bucket')
  for (let i = 0; i < 20; i++) t.equal(refusal(auth, identityOf(fx.revoked))?.status, 401, 'a revoked client is refused as revoked, never as rate-limited')
  ms += 500
  t.equal(refusal(auth, op), null, 'a token later the operator gets in again')
})

t.test('no CRL on disk revokes nothing; an unreadable one keeps the list before it and says why', async (t) => {
  const lines: string[] = []
  const auth = new ApiAuth({ log: (_l, m) => lines.push(m) })
  auth.loadRevoked(crlPath)
  const bad = join(t.testdir(), 'crl.pem')
  writeFileSync(bad, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n')
  auth.loadRevoked(bad)
  t.ok(auth.isRevoked(identityOf(fx.revoked).serial), 'still revoked')
  t.match(lines[0], /cannot read the CRL .*keeping the previous list/)
  auth.loadRevoked(join(t.testdir(), 'missing.pem'))
  t.notOk(auth.isRevoked(identityOf(fx.revoked).serial), 'no CRL: nothing revoked')
})

t.test('an API started with a rate limit that could never allow a request is refused with FW_ERR_BAD_OPTION', async (t) => {
  const app = new FakeAppliance()
  let err: unknown = null
  try {
    const api = await startApi(app, createRegistry(app), loadProfile('sim'), { dataDir: fx.dataDir, port: 0, host: '127.0.0.1', rateLimit: { perSecond: 0 } })
    await api.stop()
  } catch (e) {
    err = e
  }
  t.match(err, { code: 'FW_ERR_BAD_OPTION', message: /perSecond must be a number above 0/ })
})
