// The factory step: device identity, operator CA, the crew's client certificates, the console PIN and
// the device key that seals secrets at rest. Everything is written under the data directory with mode
// 0600 (directories 0700). Nothing here logs secret material: one-time passwords and the PIN are
// returned to the caller (the CLI prints them once, to the person at the factory terminal).

import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { hostname, networkInterfaces } from 'node:os'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { FirmwareError } from '../firmware/errors.ts'
import { identityPaths, PURPOSE_CA_KEY, PURPOSE_DEVICE_KEY } from '../firmware/secrets/identity.ts'
import {
  consolePinPath,
  createDeviceKey,
  deviceKeyPath,
  hashPin,
  loadDeviceKey,
  newPin,
  readSealedFile,
  writePrivateFile,
  writeSealedFile,
} from '../firmware/secrets/secrets.ts'
import { caConfig, newKeyPair, openssl, opensslDate, Scratch, type ServerNames, stageKey } from './openssl.ts'

export type { ServerNames }

/** observer: read-only; operator: changes the sound; admin: also reboot, factory reset, models. */
export type Role = 'operator' | 'observer' | 'admin'

export interface IssueOptions {
  /** Common name: who holds the certificate, e.g. "foh-engineer". Letters, digits, . _ - only. */
  name: string
  role: Role
  /** Validity in days from now. Defaults to 825. */
  days?: number
  /** Explicit validity window (overrides days); used to make test certificates. */
  notBefore?: Date
  notAfter?: Date
  /**
   * Directory for the bundle, outside the data directory (removable media, the operator's machine):
   * the plaintext bundle goes there and nothing of its key stays on the unit. Without it (and without
   * outParent) the key is kept sealed on the unit until `exportBundle` hands it out once.
   */
  outDir?: string
  /** Like outDir, but the bundle goes to `<outParent>/<name>-<serial>/`. */
  outParent?: string
}

/** Where a crew member's key is kept on the unit until handed out (sealed under the device key). */
export const PURPOSE_BUNDLE_KEY = 'bundles/client-key'

export interface Bundle {
  name: string
  role: Role
  serial: string
  /**
   * false: a plaintext bundle in `dir` (outside the unit's data directory), to hand out.
   * true: held on the unit, key sealed (`keyFile` is `<name>.key.sealed`, no PKCS#12 yet) until
   * `exportBundle` writes it out once and removes it from the unit.
   */
  sealed: boolean
  dir: string
  certFile: string
  keyFile: string
  caFile: string
  p12File: string
  /** One-time password of the PKCS#12 file; printed once, never stored ('' while sealed). */
  p12Password: string
  notAfter: string
}

export interface ProvisionResult {
  serial: string
  dataDir: string
  /** The console PIN, printed once; only its scrypt hash is stored. */
  pin: string
  bundles: Bundle[]
  caFile: string
  /** What the server certificate answers to. */
  serverNames: ServerNames
}

export interface ProvisionOptions {
  dataDir: string
  force?: boolean
  /** First client certificates. Defaults to one operator and one observer. */
  clients?: Array<{ name: string; role: Role }>
  /** Write the first bundles to `<bundlesOut>/<name>-<serial>/` (outside the data directory); else they are kept sealed until exported. */
  bundlesOut?: string
  /** Extra names and addresses for the server certificate, besides the defaults (serverNames()). */
  hosts?: string[]
  ips?: string[]
}

const HOST_RE = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * What the server certificate answers to: localhost, the machine's host name and `<host>.local`,
 * `<serial>.local`, loopback and every address of the machine's interfaces (IPv6 link-local ones
 * excepted: they need a zone, which a certificate cannot carry), plus `hosts` and `ips`.
 */
export function serverNames(serial: string, extra: { hosts?: string[]; ips?: string[] } = {}, ifaces = networkInterfaces(), host = hostname()): ServerNames {
  for (const h of extra.hosts ?? [])
    if (!HOST_RE.test(h)) throw new FirmwareError('FW_ERR_USAGE', `--host must be a DNS name such as stage-left or stage-left.local, got ${JSON.stringify(h)}`)
  for (const a of extra.ips ?? [])
    if (isIP(a) === 0) throw new FirmwareError('FW_ERR_USAGE', `--ip must be an IPv4 or IPv6 address such as 192.168.1.50, got ${JSON.stringify(a)}`)
  const dns = new Set<string>(['localhost'])
  const h = host.toLowerCase()
  if (HOST_RE.test(h)) {
    dns.add(h)
    if (!h.endsWith('.local')) dns.add(`${h.split('.')[0]}.local`)
  }
  dns.add(`${serial.toLowerCase()}.local`)
  for (const x of extra.hosts ?? []) dns.add(x.toLowerCase())
  const ip = new Set<string>(['127.0.0.1', '::1'])
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) if (!(a.family === 'IPv6' && /^fe80:/i.test(a.address))) ip.add(a.address)
  }
  for (const x of extra.ips ?? []) ip.add(x)
  return { dns: [...dns], ip: [...ip] }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

function caDirs(dataDir: string): void {
  const p = identityPaths(dataDir)
  for (const d of [dataDir, join(dataDir, 'identity'), p.caDir, join(p.caDir, 'certs'), p.bundles]) {
    mkdirSync(d, { recursive: true, mode: 0o700 })
    chmodSync(d, 0o700)
  }
}

function writeConfig(dataDir: string, serial: string, names?: ServerNames): string {
  const p = identityPaths(dataDir)
  const file = join(p.caDir, 'openssl.cnf')
  writePrivateFile(file, caConfig(p.caDir, serial, names))
  return file
}

/** Makes every file under the data directory 0600 (openssl ca writes some files with the umask). */
export function tightenModes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name)
    if (e.isDirectory()) {
      chmodSync(f, 0o700)
      tightenModes(f)
    } else if (e.isFile()) {
      chmodSync(f, 0o600)
    }
  }
}

/** Issues a certificate with the operator CA. `ext` is client_ext or server_ext. */
function signWithCa(
  dataDir: string,
  scratch: Scratch,
  subject: string,
  ext: 'client_ext' | 'server_ext',
  win: { notBefore?: Date; notAfter?: Date; days?: number },
  names?: ServerNames,
): { certPem: string; key: ReturnType<typeof newKeyPair>; serial: string } {
  const p = identityPaths(dataDir)
  const devKey = loadDeviceKey(dataDir)
  const serialNo = readFileSync(p.serial, 'utf8').trim()
  const cnf = writeConfig(dataDir, serialNo, names)
  const caKey = createPrivateKey(readSealedFile(p.caKeySealed, devKey, PURPOSE_CA_KEY))
  const ca = stageKey(scratch, caKey, 'ca.key', 'CA_PASS')
  const key = newKeyPair()
  const leaf = stageKey(scratch, key, 'leaf.key', 'LEAF_PASS')
  const csr = scratch.path('leaf.csr')
  const out = scratch.path('leaf.pem')
  openssl(['req', '-new', '-config', cnf, '-key', leaf.file, '-passin', 'env:LEAF_PASS', '-subj', subject, '-out', csr], leaf.env)
  const dates: string[] = []
  if (win.notBefore || win.notAfter) {
    const nb = win.notBefore ?? new Date()
    const na = win.notAfter ?? new Date(nb.getTime() + (win.days ?? 825) * 86400_000)
    dates.push('-startdate', opensslDate(nb), '-enddate', opensslDate(na))
  } else {
    dates.push('-days', String(win.days ?? 825))
  }
  openssl(
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      cnf,
      '-cert',
      p.caCert,
      '-keyfile',
      ca.file,
      '-passin',
      'env:CA_PASS',
      '-extensions',
      ext,
      ...dates,
      '-in',
      csr,
      '-out',
      out,
    ],
    ca.env,
  )
  const certPem = readFileSync(out, 'utf8')
  const serial = new X509Certificate(certPem).serialNumber.toUpperCase()
  return { certPem, key, serial }
}

/** Regenerates the CRL from the CA database. */
function generateCrl(dataDir: string, scratch: Scratch): void {
  const p = identityPaths(dataDir)
  const serialNo = readFileSync(p.serial, 'utf8').trim()
  const cnf = writeConfig(dataDir, serialNo)
  const caKey = createPrivateKey(readSealedFile(p.caKeySealed, loadDeviceKey(dataDir), PURPOSE_CA_KEY))
  const ca = stageKey(scratch, caKey, 'ca-crl.key', 'CA_PASS')
  const tmp = scratch.path('crl.pem')
  openssl(['ca', '-gencrl', '-config', cnf, '-cert', p.caCert, '-keyfile', ca.file, '-passin', 'env:CA_PASS', '-crlexts', 'crl_ext', '-out', tmp], ca.env)
  writePrivateFile(p.crl, readFileSync(tmp))
}

/** Issues a client certificate and writes the crew's bundle (PEM certificate + key + CA, and PKCS#12). */
export function issueClient(dataDir: string, opts: IssueOptions): Bundle {
  if (!NAME_RE.test(opts.name))
    throw new FirmwareError('FW_ERR_USAGE', `--name must be 1-64 letters, digits, ".", "_" or "-", got ${JSON.stringify(opts.name)}`)
  if (opts.role !== 'operator' && opts.role !== 'observer' && opts.role !== 'admin')
    throw new FirmwareError('FW_ERR_USAGE', `--role must be "operator", "observer" or "admin", got ${JSON.stringify(opts.role)}`)
  const p = identityPaths(dataDir)
  if (!existsSync(p.caKeySealed)) throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `no operator CA in ${dataDir}; run "init" first`)
  if (opts.outDir) checkOutside(dataDir, opts.outDir)
  if (opts.outParent) checkOutside(dataDir, opts.outParent)
  const serialNo = readFileSync(p.serial, 'utf8').trim()
  const scratch = new Scratch()
  try {
    const win: { notBefore?: Date; notAfter?: Date; days?: number } = {}
    if (opts.notBefore) win.notBefore = opts.notBefore
    if (opts.notAfter) win.notAfter = opts.notAfter
    if (opts.days !== undefined) win.days = opts.days
    const { certPem, key, serial } = signWithCa(dataDir, scratch, `/O=Stage Appliance ${serialNo}/OU=${opts.role}/CN=${opts.name}`, 'client_ext', win)
    const out = opts.outDir ?? (opts.outParent ? join(opts.outParent, `${opts.name}-${serial}`) : null)
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string
    let b: Bundle
    if (out) {
      b = writeBundle(dataDir, scratch, out, { name: opts.name, role: opts.role, serial, certPem, keyPem })
    } else {
      // Held on the unit: the certificate and CA in the clear (public), the key sealed.
      const dir = join(p.bundles, `${opts.name}-${serial}`)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      b = {
        name: opts.name,
        role: opts.role,
        serial,
        sealed: true,
        dir,
        certFile: join(dir, `${opts.name}.crt`),
        keyFile: join(dir, `${opts.name}.key.sealed`),
        caFile: join(dir, 'ca.crt'),
        p12File: '',
        p12Password: '',
        notAfter: new X509Certificate(certPem).validTo,
      }
      writePrivateFile(b.certFile, certPem)
      writePrivateFile(b.caFile, readFileSync(p.caCert))
      writeSealedFile(b.keyFile, loadDeviceKey(dataDir), PURPOSE_BUNDLE_KEY, keyPem)
    }
    tightenModes(p.caDir)
    return b
  } finally {
    scratch.done()
  }
}

/** Refuses a bundle directory inside the unit's data directory: keys must not stay there in plaintext. */
function checkOutside(dataDir: string, out: string): void {
  const rel = relative(resolve(dataDir), resolve(out))
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new FirmwareError(
      'FW_ERR_USAGE',
      `--out ${out} is inside the data directory ${dataDir}; name a directory on removable media or the operator's machine: private keys never stay on the unit in plaintext`,
    )
  }
}

/** Writes a plaintext bundle (PEM certificate + key + CA, and PKCS#12 with a fresh one-time password) to `dir`. */
function writeBundle(dataDir: string, scratch: Scratch, dir: string, c: { name: string; role: Role; serial: string; certPem: string; keyPem: string }): Bundle {
  checkOutside(dataDir, dir)
  const p = identityPaths(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const b: Bundle = {
    name: c.name,
    role: c.role,
    serial: c.serial,
    sealed: false,
    dir,
    certFile: join(dir, `${c.name}.crt`),
    keyFile: join(dir, `${c.name}.key`),
    caFile: join(dir, 'ca.crt'),
    p12File: join(dir, `${c.name}.p12`),
    p12Password: randomBytes(12).toString('base64url'),
    notAfter: new X509Certificate(c.certPem).validTo,
  }
  writePrivateFile(b.certFile, c.certPem)
  writePrivateFile(b.keyFile, c.keyPem)
  writePrivateFile(b.caFile, readFileSync(p.caCert))
  const staged = stageKey(scratch, createPrivateKey(c.keyPem), 'p12.key', 'LEAF_PASS')
  const tmpP12 = scratch.path('bundle.p12')
  openssl(
    [
      'pkcs12',
      '-export',
      '-in',
      b.certFile,
      '-inkey',
      staged.file,
      '-passin',
      'env:LEAF_PASS',
      '-certfile',
      p.caCert,
      '-name',
      c.name,
      '-passout',
      'env:P12_PASS',
      '-out',
      tmpP12,
    ],
    { ...staged.env, P12_PASS: b.p12Password },
  )
  writePrivateFile(b.p12File, readFileSync(tmpP12))
  return b
}

/** Bundles still held (sealed) on the unit. */
export function heldBundles(dataDir: string): Array<{ name: string; serial: string; dir: string }> {
  const p = identityPaths(dataDir)
  if (!existsSync(p.bundles)) return []
  const out: Array<{ name: string; serial: string; dir: string }> = []
  for (const d of readdirSync(p.bundles)) {
    const m = /^(.+)-([0-9A-F]+)$/.exec(d)
    if (m && existsSync(join(p.bundles, d, `${m[1]}.key.sealed`))) out.push({ name: m[1]!, serial: m[2]!, dir: join(p.bundles, d) })
  }
  return out
}

/**
 * Hands a bundle held on the unit out, once: writes the plaintext bundle to `<outParent>/<name>-<serial>/`
 * (with a new one-time PKCS#12 password) and removes it from the unit. A second export finds nothing.
 */
export function exportBundle(dataDir: string, by: { name?: string; serial?: string }, outParent: string): Bundle[] {
  checkOutside(dataDir, outParent)
  const held = heldBundles(dataDir).filter((h) => (by.serial ? h.serial === by.serial.toUpperCase() : h.name === by.name))
  if (held.length === 0) {
    throw new FirmwareError(
      'FW_ERR_USAGE',
      `no bundle ${by.serial ? `with serial ${by.serial}` : `named ${JSON.stringify(by.name)}`} is held on this unit (already handed out? bundles are handed out once; use "reissue" for a new one)`,
    )
  }
  const issued = listIssued(dataDir)
  const scratch = new Scratch()
  try {
    return held.map((h) => {
      const cert = issued.find((c) => c.serial === h.serial)
      const certPem = readFileSync(join(h.dir, `${h.name}.crt`), 'utf8')
      const keyPem = readSealedFile(join(h.dir, `${h.name}.key.sealed`), loadDeviceKey(dataDir), PURPOSE_BUNDLE_KEY).toString('utf8')
      const b = writeBundle(dataDir, scratch, join(outParent, `${h.name}-${h.serial}`), {
        name: h.name,
        role: (cert?.role ?? 'observer') as Role,
        serial: h.serial,
        certPem,
        keyPem,
      })
      rmSync(h.dir, { recursive: true, force: true })
      return b
    })
  } finally {
    scratch.done()
  }
}

export interface IssuedCert {
  serial: string
  name: string
  role: string
  status: 'valid' | 'revoked' | 'expired'
  notAfter: string
  revokedAt: string | null
  device: boolean
}

function parseAsn1Time(s: string): string {
  // index.txt uses YYMMDDHHMMSSZ (UTCTime) or YYYYMMDDHHMMSSZ.
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z/.exec(s)
  if (!m) return s
  const y = m[1]!.length === 2 ? (Number(m[1]) < 50 ? 2000 + Number(m[1]) : 1900 + Number(m[1])) : Number(m[1])
  return `${y}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`
}

/** Lists every certificate the operator CA issued, from openssl's database. */
export function listIssued(dataDir: string): IssuedCert[] {
  const p = identityPaths(dataDir)
  if (!existsSync(p.caIndex)) throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `no operator CA in ${dataDir}; run "init" first`)
  const out: IssuedCert[] = []
  for (const line of readFileSync(p.caIndex, 'utf8').split('\n')) {
    if (!line.trim()) continue
    const [flag, exp, rev, serial, , subject] = line.split('\t')
    const field = (k: string): string => new RegExp(`/${k}=([^/]*)`).exec(subject ?? '')?.[1] ?? ''
    const notAfter = parseAsn1Time(exp ?? '')
    let status: IssuedCert['status'] = flag === 'R' ? 'revoked' : 'valid'
    if (status === 'valid' && Date.parse(notAfter) < Date.now()) status = 'expired'
    out.push({
      serial: (serial ?? '').toUpperCase(),
      name: field('CN'),
      role: field('OU'),
      status,
      notAfter,
      revokedAt: rev ? parseAsn1Time(rev.split(',')[0]!) : null,
      device: field('OU') === 'device',
    })
  }
  return out
}

/** Revokes client certificates by serial or by name (all valid ones of that name); rewrites the CRL. */
export function revokeClient(dataDir: string, by: { serial?: string; name?: string }): IssuedCert[] {
  const p = identityPaths(dataDir)
  const all = listIssued(dataDir)
  const targets = all.filter(
    (c) => !c.device && c.status !== 'revoked' && (by.serial ? c.serial === by.serial.toUpperCase().replace(/^0X/, '') : c.name === by.name),
  )
  if (targets.length === 0) {
    throw new FirmwareError(
      'FW_ERR_USAGE',
      `no unrevoked client certificate with ${by.serial ? `serial ${by.serial}` : `name ${JSON.stringify(by.name)}`}; see "list"`,
    )
  }
  const serialNo = readFileSync(p.serial, 'utf8').trim()
  const scratch = new Scratch()
  try {
    const cnf = writeConfig(dataDir, serialNo)
    const caKey = createPrivateKey(readSealedFile(p.caKeySealed, loadDeviceKey(dataDir), PURPOSE_CA_KEY))
    const ca = stageKey(scratch, caKey, 'ca.key', 'CA_PASS')
    for (const c of targets) {
      const certFile = join(p.caDir, 'certs', `${c.serial}.pem`)
      openssl(
        ['ca', '-config', cnf, '-cert', p.caCert, '-keyfile', ca.file, '-passin', 'env:CA_PASS', '-revoke', certFile, '-crl_reason', 'cessationOfOperation'],
        ca.env,
      )
    }
    generateCrl(dataDir, scratch)
    tightenModes(p.caDir)
  } finally {
    scratch.done()
  }
  // A revoked certificate's key is of no use to anyone: a bundle still held for it goes.
  for (const h of heldBundles(dataDir)) if (targets.some((c) => c.serial === h.serial)) rmSync(h.dir, { recursive: true, force: true })
  return targets
}

/** Re-issues: a new certificate for `name` (same role), then revokes the old ones of that name. */
export function reissueClient(dataDir: string, name: string, opts: Partial<IssueOptions> = {}): { bundle: Bundle; revoked: IssuedCert[] } {
  const old = listIssued(dataDir).filter((c) => !c.device && c.name === name && c.status === 'valid')
  if (old.length === 0) throw new FirmwareError('FW_ERR_USAGE', `no valid certificate named ${JSON.stringify(name)} to re-issue; use "issue"`)
  const role = (opts.role ?? old[old.length - 1]!.role) as Role
  const bundle = issueClient(dataDir, { ...opts, name, role })
  const revoked = old.flatMap((c) => revokeClient(dataDir, { serial: c.serial }))
  return { bundle, revoked }
}

/** The whole factory step. Refuses to replace an identity unless `force`. */
export async function provision(opts: ProvisionOptions): Promise<ProvisionResult> {
  const { dataDir } = opts
  const p = identityPaths(dataDir)
  const existing = [deviceKeyPath(dataDir), p.deviceCert, p.deviceKeySealed, p.caCert, p.caKeySealed, consolePinPath(dataDir)].filter((f) => existsSync(f))
  if (existing.length && !opts.force) {
    throw new FirmwareError(
      'FW_ERR_IDENTITY_EXISTS',
      `${dataDir} already holds a device identity (${existing.length} files, e.g. ${existing[0]}); re-run with --force to replace it (this invalidates every client certificate issued so far)`,
    )
  }
  serverNames('SA-CHECK', opts) // bad --host/--ip: refused before anything is written
  if (opts.bundlesOut) checkOutside(dataDir, opts.bundlesOut)
  if (opts.force) {
    for (const d of ['identity', 'ca', 'bundles']) rmSync(join(dataDir, d), { recursive: true, force: true })
    rmSync(consolePinPath(dataDir), { force: true })
  }
  caDirs(dataDir)
  const devKey = createDeviceKey(dataDir, true)
  const serialNo = `SA-${randomBytes(5).toString('hex').toUpperCase()}`
  writePrivateFile(p.serial, `${serialNo}\n`)
  writePrivateFile(p.caIndex, '')
  writePrivateFile(join(p.caDir, 'index.txt.attr'), 'unique_subject = no\n')
  // Serials: random 64-bit start (positive), then openssl counts up.
  const first = randomBytes(8)
  first[0] = (first[0]! & 0x3f) | 0x10
  writePrivateFile(join(p.caDir, 'serial'), `${first.toString('hex').toUpperCase()}\n`)
  writePrivateFile(join(p.caDir, 'crlnumber'), '01\n')
  const cnf = writeConfig(dataDir, serialNo)
  const names = serverNames(serialNo, opts)

  const scratch = new Scratch()
  try {
    // Operator CA: self-signed, 10 years, key sealed under the device key.
    const caKey = newKeyPair()
    writeSealedFile(p.caKeySealed, devKey, PURPOSE_CA_KEY, caKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    const ca = stageKey(scratch, caKey, 'ca.key', 'CA_PASS')
    const caTmp = scratch.path('ca.pem')
    openssl(
      [
        'req',
        '-new',
        '-x509',
        '-config',
        cnf,
        '-extensions',
        'ca_ext',
        '-key',
        ca.file,
        '-passin',
        'env:CA_PASS',
        '-subj',
        `/O=Stage Appliance ${serialNo}/OU=operator-ca/CN=${serialNo} operator CA`,
        '-days',
        '3650',
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-out',
        caTmp,
      ],
      ca.env,
    )
    writePrivateFile(p.caCert, readFileSync(caTmp))

    // Device certificate: the API's server identity, signed by the operator CA so the crew's one CA
    // file verifies the device too.
    const dev = signWithCa(dataDir, scratch, `/O=Stage Appliance ${serialNo}/OU=device/CN=${serialNo}`, 'server_ext', { days: 3650 }, names)
    writeSealedFile(p.deviceKeySealed, devKey, PURPOSE_DEVICE_KEY, dev.key.export({ type: 'pkcs8', format: 'pem' }) as string)
    writePrivateFile(p.deviceCert, dev.certPem)
    generateCrl(dataDir, scratch)
  } finally {
    scratch.done()
  }

  const pin = newPin(6)
  writePrivateFile(consolePinPath(dataDir), `${await hashPin(pin)}\n`)
  const clients = opts.clients ?? [
    { name: 'operator-1', role: 'operator' },
    { name: 'observer-1', role: 'observer' },
  ]
  const bundles = clients.map((c) => issueClient(dataDir, opts.bundlesOut ? { ...c, outParent: opts.bundlesOut } : c))
  for (const d of ['identity', 'ca', 'bundles']) tightenModes(join(dataDir, d))
  return { serial: serialNo, dataDir, pin, bundles, caFile: p.caCert, serverNames: names }
}

/** Every regular file under `dir` whose mode is not 0600 (for checks and tests). */
export function looseFiles(dir: string): string[] {
  const bad: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const f = join(d, e.name)
      if (e.isDirectory()) walk(f)
      else if (e.isFile() && (statSync(f).mode & 0o777) !== 0o600) bad.push(f)
    }
  }
  walk(dir)
  return bad
}

export interface ServerCertResult {
  serial: string
  names: ServerNames
  notAfter: string
}

/**
 * Issues a new server certificate (new key) for the unit's current names and addresses — after the
 * unit moved to another network, say. The operator CA, the crew's certificates and the CRL are not
 * touched; a running API picks the new certificate up within its CRL poll interval.
 */
export function reissueServerCert(dataDir: string, extra: { hosts?: string[]; ips?: string[] } = {}): ServerCertResult {
  const p = identityPaths(dataDir)
  if (!existsSync(p.caKeySealed) || !existsSync(p.deviceCert))
    throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `no device identity in ${dataDir}; run "init" first`)
  const serialNo = readFileSync(p.serial, 'utf8').trim()
  const names = serverNames(serialNo, extra)
  const scratch = new Scratch()
  try {
    const dev = signWithCa(dataDir, scratch, `/O=Stage Appliance ${serialNo}/OU=device/CN=${serialNo}`, 'server_ext', { days: 3650 }, names)
    // Key first, then the certificate: the API reloads when the certificate changes and checks the pair.
    writeSealedFile(p.deviceKeySealed, loadDeviceKey(dataDir), PURPOSE_DEVICE_KEY, dev.key.export({ type: 'pkcs8', format: 'pem' }) as string)
    writePrivateFile(p.deviceCert, dev.certPem)
    tightenModes(p.caDir)
    return { serial: dev.serial, names, notAfter: new X509Certificate(dev.certPem).validTo }
  } finally {
    scratch.done()
  }
}
