// Secrets at rest. Key material (the device's private key, the operator CA's private key) is stored
// encrypted with AES-256-GCM under the device key, and decrypted only in memory. The device key comes
// from the board: on the sim board (and until a board names a hardware key store) it is a 32-byte key
// file `<dataDir>/device.key`, mode 0600, written once at provisioning.
import { createCipheriv, createDecipheriv, randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { FirmwareError } from '../errors.ts'
import { selfCommand } from '../self.ts'

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>

/** Where the device key lives for a data directory (sim board: a key file). */
export function deviceKeyPath(dataDir: string): string {
  return join(dataDir, 'device.key')
}

/** Writes a file with mode 0600 (also when it already existed with looser bits), atomically. */
export function writePrivateFile(file: string, data: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, data, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
}

/** Creates a new random device key file. Refuses to replace one unless `force`. */
export function createDeviceKey(dataDir: string, force = false): Buffer {
  const file = deviceKeyPath(dataDir)
  if (existsSync(file) && !force)
    throw new FirmwareError('FW_ERR_IDENTITY_EXISTS', `a device key already exists at ${file}; re-provision with --force to replace it`)
  const key = randomBytes(32)
  writePrivateFile(file, `${key.toString('base64')}\n`)
  return key
}

/** Loads the device key (32 bytes). Refuses a key file that others can read. */
export function loadDeviceKey(dataDir: string): Buffer {
  const file = deviceKeyPath(dataDir)
  if (!existsSync(file))
    throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `no device key at ${file}; run "${selfCommand()} provision init --data-dir ${dataDir}"`)
  const mode = statSync(file).mode & 0o777
  if (mode & 0o077) throw new FirmwareError('FW_ERR_SECRET', `the device key ${file} has mode ${mode.toString(8)}; it must be 0600 (chmod 600 ${file})`)
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
  if (key.length !== 32) throw new FirmwareError('FW_ERR_SECRET', `the device key ${file} is not 32 bytes of base64; re-provision the device`)
  return key
}

/** Sealed form of a secret: JSON with AES-256-GCM nonce, tag and ciphertext. `purpose` is bound as AAD. */
interface Sealed {
  v: 1
  alg: 'aes-256-gcm'
  purpose: string
  iv: string
  tag: string
  data: string
}

export function seal(key: Buffer, purpose: string, plain: Buffer | string): string {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(purpose, 'utf8'))
  const data = Buffer.concat([c.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), c.final()])
  const s: Sealed = { v: 1, alg: 'aes-256-gcm', purpose, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') }
  return `${JSON.stringify(s)}\n`
}

export function unseal(key: Buffer, purpose: string, text: string): Buffer {
  let s: Sealed
  try {
    s = JSON.parse(text) as Sealed
  } catch {
    throw new FirmwareError('FW_ERR_SECRET', `the sealed secret "${purpose}" is not valid JSON; re-provision the device`)
  }
  if (s.v !== 1 || s.alg !== 'aes-256-gcm' || s.purpose !== purpose) {
    throw new FirmwareError('FW_ERR_SECRET', `the sealed secret "${purpose}" has an unexpected format or purpose; re-provision the device`)
  }
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'))
    d.setAAD(Buffer.from(purpose, 'utf8'))
    d.setAuthTag(Buffer.from(s.tag, 'base64'))
    return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()])
  } catch {
    throw new FirmwareError('FW_ERR_SECRET', `the sealed secret "${purpose}" does not decrypt under this device key (wrong key or tampered file)`)
  }
}

/** Encrypts `plain` under the device key into `file` (0600). */
export function writeSealedFile(file: string, key: Buffer, purpose: string, plain: Buffer | string): void {
  writePrivateFile(file, seal(key, purpose, plain))
}

/** Decrypts a sealed file into memory. */
export function readSealedFile(file: string, key: Buffer, purpose: string): Buffer {
  if (!existsSync(file)) throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `missing ${file}; provision the device first`)
  return unseal(key, purpose, readFileSync(file, 'utf8'))
}

// Console PIN: only a scrypt hash is stored, as "scrypt$N$r$p$salt$hash" (base64 salt and hash).
const PIN_N = 16384
const PIN_R = 8
const PIN_P = 1

export function consolePinPath(dataDir: string): string {
  return join(dataDir, 'console-pin')
}

/** A fresh random numeric PIN. */
export function newPin(digits = 6): string {
  let s = ''
  for (let i = 0; i < digits; i++) s += String(randomInt(10))
  return s
}

export async function hashPin(pin: string): Promise<string> {
  const salt = randomBytes(16)
  const h = await scrypt(pin, salt, 32, { N: PIN_N, r: PIN_R, p: PIN_P, maxmem: 64 * 1024 * 1024 })
  return `scrypt$${PIN_N}$${PIN_R}$${PIN_P}$${salt.toString('base64')}$${h.toString('base64')}`
}

/** True when `pin` matches the stored hash line. */
export async function verifyPinHash(stored: string, pin: string): Promise<boolean> {
  const parts = stored.trim().split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  const salt = Buffer.from(parts[4]!, 'base64')
  const want = Buffer.from(parts[5]!, 'base64')
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p) || want.length !== 32) return false
  const got = await scrypt(pin, salt, 32, { N, r, p, maxmem: 256 * 1024 * 1024 })
  return timingSafeEqual(got, want)
}

/** Checks a PIN against `<dataDir>/console-pin`; returns null when no PIN is set. */
export async function verifyConsolePin(dataDir: string, pin: string): Promise<boolean | null> {
  const file = consolePinPath(dataDir)
  if (!existsSync(file)) return null
  return verifyPinHash(readFileSync(file, 'utf8'), pin)
}
