import { spawnSync } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { revokedSerials } from '../../firmware/api/tls.ts'
import { identityPaths, loadIdentity, PURPOSE_CA_KEY, PURPOSE_DEVICE_KEY } from '../../firmware/secrets/identity.ts'
import { loadDeviceKey, readSealedFile, unseal, verifyConsolePin } from '../../firmware/secrets/secrets.ts'
import { looseFiles } from '../../provisioning/provision.ts'

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['provisioning/cli.ts', ...args], { encoding: 'utf8' })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

function printed(out: string): { pin: string; serial: string; bundles: Array<{ role: string; name: string; p12: string; password: string }> } {
  const pin = /console PIN[^:]*: (\d{6})/.exec(out)![1]!
  const serial = /provisioned device (SA-[0-9A-F]+)/.exec(out)![1]!
  const bundles: Array<{ role: string; name: string; p12: string; password: string }> = []
  const re = / {2}(operator|observer) "([^"]+)"[\s\S]*?\n {6}(\S+\.p12) .*one-time password: (\S+)/g
  for (let m; (m = re.exec(out)); ) bundles.push({ role: m[1]!, name: m[2]!, p12: m[3]!, password: m[4]! })
  return { pin, serial, bundles }
}

t.test('init creates the identity and says what to hand to whom', async (t) => {
  const dir = join(t.testdir(), 'data')
  const r = cli('init', '--data-dir', dir, '--out', join(t.testdir(), 'usb-stick'))
  t.equal(r.code, 0, r.err)
  const p = printed(r.out)
  t.match(p.serial, /^SA-[0-9A-F]{10}$/)
  t.same(
    p.bundles.map((b) => b.role),
    ['operator', 'observer'],
  )
  t.match(r.out, /hand to the stage tech who uses the serial console/)
  t.match(r.out, /hand to the operator \(read and change the sound\)/)
  t.match(r.out, /hand to the observer \(read-only\)/)
  t.notMatch(r.out + r.err, /PRIVATE KEY/, 'no key material is printed')
  const id = loadIdentity(dir)
  t.equal(id.serial, p.serial)
  const dev = new X509Certificate(id.deviceCertPem)
  const ca = new X509Certificate(id.caCertPem)
  t.ok(dev.verify(ca.publicKey), 'the device certificate is signed by the operator CA')
  t.ok(dev.checkIP('127.0.0.1') && dev.checkHost('localhost'), 'the device certificate names loopback')
  t.ok(ca.ca, 'the operator CA is a CA')
  t.match(dev.subject, /CN=SA-/)
  // The PKCS#12 bundle opens with its printed one-time password and not without it.
  const op = p.bundles[0]!
  const ok = spawnSync('openssl', ['pkcs12', '-in', op.p12, '-passin', `pass:${op.password}`, '-nokeys'], { encoding: 'utf8' })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /subject=.*OU = operator, CN = operator-1/)
  const bad = spawnSync('openssl', ['pkcs12', '-in', op.p12, '-passin', 'pass:wrong', '-nokeys'], { encoding: 'utf8' })
  t.not(bad.status, 0)
})

t.test('provisioning twice without --force refuses and changes nothing; --force replaces', async (t) => {
  const dir = join(t.testdir(), 'data')
  t.equal(cli('init', '--data-dir', dir).code, 0)
  const key = readFileSync(join(dir, 'device.key'))
  const cert = readFileSync(identityPaths(dir).deviceCert, 'utf8')
  const again = cli('init', '--data-dir', dir)
  t.equal(again.code, 1)
  t.match(again.err, /already holds a device identity.*--force.*\[FW_ERR_IDENTITY_EXISTS\]/)
  t.same(readFileSync(join(dir, 'device.key')), key, 'the device key is untouched')
  t.equal(readFileSync(identityPaths(dir).deviceCert, 'utf8'), cert)
  const forced = cli('init', '--data-dir', dir, '--force')
  t.equal(forced.code, 0, forced.err)
  t.not(readFileSync(join(dir, 'device.key')).toString(), key.toString(), 'a new device key')
  const oldCa = new X509Certificate(cert)
  t.notOk(oldCa.verify(new X509Certificate(readFileSync(identityPaths(dir).caCert)).publicKey), 'old certificates no longer chain to the new CA')
})

t.test('every secret file is 0600 and every directory 0700', async (t) => {
  const dir = join(t.testdir(), 'data')
  cli('init', '--data-dir', dir)
  cli('issue', '--data-dir', dir, '--name', 'monitor-desk', '--role', 'operator')
  cli('revoke', '--data-dir', dir, '--name', 'monitor-desk')
  t.same(looseFiles(dir), [])
  const walk = (d: string): void => {
    t.equal(statSync(d).mode & 0o777, 0o700, `${d} is 0700`)
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name))
  }
  walk(dir)
  for (const f of ['device.key', 'console-pin', 'identity/device-key.sealed', 'ca/ca-key.sealed', 'ca/crl.pem']) {
    t.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f)
  }
})

t.test('private keys at rest are AES-256-GCM sealed under the device key', async (t) => {
  const dir = join(t.testdir(), 'data')
  cli('init', '--data-dir', dir)
  const p = identityPaths(dir)
  for (const [file, purpose] of [
    [p.deviceKeySealed, PURPOSE_DEVICE_KEY],
    [p.caKeySealed, PURPOSE_CA_KEY],
  ] as const) {
    const text = readFileSync(file, 'utf8')
    t.notMatch(text, /PRIVATE KEY/, `${file} holds no plaintext key`)
    t.equal(JSON.parse(text).alg, 'aes-256-gcm')
    const key = createPrivateKey(readSealedFile(file, loadDeviceKey(dir), purpose))
    t.equal(key.asymmetricKeyType, 'ec', 'it decrypts in memory to the key')
    t.throws(
      () => unseal(loadDeviceKey(dir), purpose === PURPOSE_CA_KEY ? PURPOSE_DEVICE_KEY : PURPOSE_CA_KEY, text),
      { code: 'FW_ERR_SECRET' },
      'bound to its purpose',
    )
    const s = JSON.parse(text)
    const data = Buffer.from(s.data, 'base64')
    data[5] = data[5]! ^ 1
    t.throws(
      () => unseal(loadDeviceKey(dir), purpose, JSON.stringify({ ...s, data: data.toString('base64') })),
      { code: 'FW_ERR_SECRET' },
      'tampering is detected',
    )
  }
  t.throws(
    () => unseal(Buffer.alloc(32, 7), PURPOSE_DEVICE_KEY, readFileSync(p.deviceKeySealed, 'utf8')),
    { code: 'FW_ERR_SECRET' },
    'another device key cannot open it',
  )
  chmodSync(join(dir, 'device.key'), 0o644)
  t.throws(() => loadDeviceKey(dir), { code: 'FW_ERR_SECRET', message: /must be 0600/ }, 'a readable device key is refused')
})

t.test('the console PIN is stored only as a scrypt hash', async (t) => {
  const dir = join(t.testdir(), 'data')
  const { pin } = printed(cli('init', '--data-dir', dir).out)
  const stored = readFileSync(join(dir, 'console-pin'), 'utf8')
  t.match(stored, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/)
  t.notMatch(stored, new RegExp(pin))
  t.equal(await verifyConsolePin(dir, pin), true)
  t.equal(await verifyConsolePin(dir, pin === '000000' ? '111111' : '000000'), false)
  t.equal(await verifyConsolePin(join(dir, 'nowhere'), pin), null, 'no PIN file: no PIN set')
})

t.test('issue, reissue, revoke and list; the CRL lists what was revoked', async (t) => {
  const dir = join(t.testdir(), 'data')
  cli('init', '--data-dir', dir)
  const iss = cli('issue', '--data-dir', dir, '--name', 'lx-tablet', '--role', 'observer', '--days', '30')
  t.equal(iss.code, 0, iss.err)
  const first = /certificate serial ([0-9A-F]+)/.exec(iss.out)![1]!
  const re = cli('reissue', '--data-dir', dir, '--name', 'lx-tablet')
  t.equal(re.code, 0, re.err)
  t.match(re.out, new RegExp(`revoked old certificate ${first}`))
  const second = /certificate serial ([0-9A-F]+)/.exec(re.out)![1]!
  const list = cli('list', '--data-dir', dir).out
  t.match(list, new RegExp(`${first}\\s+observer\\s+revoked`))
  t.match(list, new RegExp(`${second}\\s+observer\\s+valid`))
  t.ok(revokedSerials(readFileSync(identityPaths(dir).crl, 'utf8')).has(first))
  t.notOk(revokedSerials(readFileSync(identityPaths(dir).crl, 'utf8')).has(second))
  const rv = cli('revoke', '--data-dir', dir, '--serial', second)
  t.equal(rv.code, 0, rv.err)
  t.ok(revokedSerials(readFileSync(identityPaths(dir).crl, 'utf8')).has(second))
  const none = cli('revoke', '--data-dir', dir, '--name', 'nobody')
  t.equal(none.code, 1)
  t.match(none.err, /no unrevoked client certificate.*FW_ERR_USAGE/)
  const badRole = cli('issue', '--data-dir', dir, '--name', 'x', '--role', 'root')
  t.match(badRole.err, /--role must be/)
  const badName = cli('issue', '--data-dir', dir, '--name', '../etc', '--role', 'operator')
  t.match(badName.err, /--name must be/)
  const notYet = cli('issue', '--data-dir', join(dir, 'empty'), '--name', 'a', '--role', 'operator')
  t.match(notYet.err, /FW_ERR_NOT_PROVISIONED/)
})

t.test('an unprovisioned unit names a provisioning command that runs with the pinned Node', async (t) => {
  const dir = join(t.testdir(), 'data')
  // The machine's own node is 20 and cannot run .ts files, so the hint must go through npx firmware.
  t.throws(() => loadIdentity(dir), { code: 'FW_ERR_NOT_PROVISIONED', message: /run "npx firmware provision init --data-dir / })
  t.throws(() => loadDeviceKey(dir), { code: 'FW_ERR_NOT_PROVISIONED', message: /run "npx firmware provision init --data-dir / })
  const bad = cli('init', '--no-such-option')
  t.equal(bad.code, 1)
  t.match(bad.err, /try "firmware provision help"/)
  const help = cli('help')
  t.match(help.out + help.err, /usage: firmware provision <command>/)
})
