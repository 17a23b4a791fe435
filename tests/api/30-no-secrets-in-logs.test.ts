// Secrets at rest stay in their sealed files: after a busy session (good and refused requests, bad
// certificates, revocations, OSC), no log, audit log or other file in the data directory holds key
// material, the console PIN, the device key or a bundle password.

import { spawn } from 'node:child_process'
import { createPrivateKey } from 'node:crypto'
import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { startOsc } from '../../firmware/osc/server.ts'
import { identityPaths, PURPOSE_CA_KEY, PURPOSE_DEVICE_KEY } from '../../firmware/secrets/identity.ts'
import { loadDeviceKey, readSealedFile } from '../../firmware/secrets/secrets.ts'
import { issueClient, revokeClient } from '../../provisioning/provision.ts'
import { bootSim, call, makeFixture } from './helpers.ts'

function files(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name)
    if (e.isDirectory()) out.push(...files(f))
    else if (e.isFile()) out.push(f)
  }
  return out
}

/** Every base64 line of a PEM body, plus the whole body on one line and as hex. */
function pemNeedles(pem: string): string[] {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'))
  const body = lines.join('')
  return [...lines.filter((l) => l.length >= 16), body, Buffer.from(body, 'base64').toString('hex')]
}

t.test('no log, audit log or other data file holds key material, the PIN or passwords', async (t) => {
  const fx = await makeFixture(t.testdir())
  const rig = await bootSim(t, fx.dataDir)
  const oscLog = join(fx.dataDir, 'logs', 'osc.log')
  const osc = await startOsc(rig.app, rig.registry, rig.app.profile, {
    enabled: true,
    port: 0,
    host: '127.0.0.1',
    allow: ['127.0.0.1'],
    auditFile: join(fx.dataDir, 'logs', 'osc-audit.jsonl'),
    log: (level, message) => appendFileSync(oscLog, `${JSON.stringify({ level, message })}\n`),
  })
  t.teardown(() => osc.stop())
  const op = fx.creds(fx.operator)
  const port = rig.api.port
  await call(port, op, 'GET', '/api/status')
  await call(port, op, 'POST', '/api/gain', { output: 1, db: -2 })
  await call(port, op, 'POST', '/api/gain', '{"output":')
  await call(port, op, 'POST', '/api/bypass', { state: true })
  await call(port, op, 'POST', '/api/bypass', { state: false })
  await call(port, fx.creds(fx.observer), 'POST', '/api/gain', { output: 1, db: -9 })
  await call(port, op, 'POST', '/api/factory-reset', {})
  for (const b of [fx.expired, fx.revoked, fx.foreign]) await call(port, fx.creds(b), 'GET', '/api/status').catch(() => null)
  await call(port, { ca: op.ca }, 'GET', '/api/status').catch(() => null)
  const late = issueClient(fx.dataDir, { outParent: fx.crew, name: 'late', role: 'operator' })
  revokeClient(fx.dataDir, { serial: late.serial })
  await rig.api.reloadCrl()
  await new Promise<void>((r) => spawn('oscsend', ['127.0.0.1', String(osc.port), '/output/1/gain', 'f', '-3']).on('close', () => r()))
  await new Promise<void>((r) => spawn('oscsend', ['127.0.0.1', String(osc.port), '/nonsense', 's', 'x']).on('close', () => r()))
  await new Promise((r) => setTimeout(r, 300))
  const tail = rig.app
    .logTail(1000)
    .map((l) => `${l.source} ${l.message}`)
    .join('\n')

  // The secrets.
  const p = identityPaths(fx.dataDir)
  const devKey = loadDeviceKey(fx.dataDir)
  const pems = [
    readSealedFile(p.deviceKeySealed, devKey, PURPOSE_DEVICE_KEY).toString('utf8'),
    readSealedFile(p.caKeySealed, devKey, PURPOSE_CA_KEY).toString('utf8'),
    ...[fx.operator, fx.observer, fx.expired, fx.revoked, late].map((b) => readFileSync(b.keyFile, 'utf8')),
  ]
  for (const pem of pems) t.ok(createPrivateKey(pem), 'a real private key is among the needles')
  const needles = [
    ...pems.flatMap(pemNeedles),
    devKey.toString('base64'),
    devKey.toString('hex'),
    ...[fx.operator, fx.observer, fx.expired, fx.revoked, late].map((b) => b.p12Password),
  ]
  const pinRe = new RegExp(`(^|[^0-9A-Za-z])${fx.pin}([^0-9A-Za-z]|$)`)

  // Everything in the data directory except the sealed stores (the crew's bundles were handed out
  // to another directory: no copy of their keys is on the unit).
  const secretStores = new Set([join(fx.dataDir, 'device.key'), join(fx.dataDir, 'console-pin')])
  const scanned = files(fx.dataDir).filter((f) => !secretStores.has(f))
  const logs = scanned.filter((f) => /\.(log|jsonl)(\.\d+)?$/.test(f))
  t.ok(
    logs.some((f) => f.endsWith('audit.jsonl')),
    'the audit log is among the scanned files',
  )
  t.ok(
    logs.some((f) => f.endsWith('api.log')),
    'the API log is among the scanned files',
  )
  t.ok(
    logs.some((f) => f.endsWith('osc.log')),
    'the OSC log is among the scanned files',
  )
  t.ok(
    logs.some((f) => f.endsWith('osc-audit.jsonl')),
    'the OSC audit log is among the scanned files',
  )
  t.ok(
    logs.some((f) => f.endsWith('audit-refused.jsonl')),
    'the refusals audit log is among the scanned files',
  )
  t.ok(
    ['audit.jsonl', 'audit-refused.jsonl'].map((f) => readFileSync(join(fx.dataDir, 'logs', f), 'utf8').split('\n').length - 1).reduce((a, b) => a + b) >= 5,
    'the audit logs have the session in them',
  )
  const texts: Array<[string, string]> = [
    ...scanned.map((f) => [relative(fx.dataDir, f), readFileSync(f).toString('latin1')] as [string, string]),
    ['appliance log tail', tail],
  ]
  for (const [name, text] of texts) {
    const hits = needles.filter((n) => text.includes(n)).length
    t.equal(hits, 0, `${name}: no key material or password`)
    t.notMatch(text, /PRIVATE KEY/, `${name}: no PEM private key`)
    if (!name.startsWith('identity/') && !name.startsWith('ca/')) t.notMatch(text, pinRe, `${name}: no console PIN`)
  }
})
