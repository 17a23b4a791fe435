// Privacy: raw audio never stays on the device or leaves it unless the recording consent setting
// is on. With consent, short snippets (e.g. what a model was unsure about) are kept encrypted at
// rest with AES-256-GCM under a key derived from the device key, and expire: expired snippets are
// refused and deleted, and withdrawing consent deletes them all. The file name carries the expiry
// (so a purge needs no key) and is bound into the authentication, so renaming a file to extend its
// life makes it undecryptable.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'
import { loadDeviceKey } from '../secrets/secrets.ts'

/**
 * The recording consent setting. Off unless a person turns it on; turning it off runs the
 * listeners (the snippet store deletes everything). Persisting it is the settings store's job:
 * construct with the saved value and subscribe to save changes.
 */
export class RecordingConsent {
  #on: boolean
  #by = ''
  readonly #listeners = new Set<(on: boolean, who: string) => void>()

  constructor(initial = false) {
    this.#on = initial
  }

  get on(): boolean {
    return this.#on
  }

  /** Who last changed it. */
  get changedBy(): string {
    return this.#by
  }

  set(on: boolean, who: string): void {
    if (on === this.#on) return
    this.#on = on
    this.#by = who
    for (const l of this.#listeners) l(on, who)
  }

  onChange(l: (on: boolean, who: string) => void): () => void {
    this.#listeners.add(l)
    return () => this.#listeners.delete(l)
  }
}

export interface SnippetStoreOptions {
  /** Directory for snippet files (created 0700). */
  dir: string
  /** The consent setting, read at every save, load and send. */
  consent: () => boolean
  /** 32-byte key. Defaults to one derived from the device key of `dataDir`. */
  key?: Buffer
  /** Needed when `key` is not given. */
  dataDir?: string
  /** How long a snippet lives. Defaults to 24 h. */
  ttlMs?: number
  /** Longest snippet, seconds. Defaults to 10. */
  maxSeconds?: number
  /** Clock (ms). Defaults to Date.now. */
  now?: () => number
}

export interface SnippetInfo {
  id: string
  expiresAt: number
  bytes: number
}

const MAGIC = Buffer.from('SNP1')
const NAME_RE = /^(\d{13,})-([0-9a-f]{16})\.snip$/

/** The snippet key: HKDF of the device key, so the device key itself never encrypts audio. */
export function snippetKey(deviceKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', deviceKey, Buffer.alloc(0), 'stage-firmware audio snippets v1', 32))
}

function privacy(msg: string): never {
  throw new FirmwareError('FW_ERR_PRIVACY', msg)
}

export class SnippetStore {
  readonly #o: Required<Omit<SnippetStoreOptions, 'key' | 'dataDir'>>
  readonly #key: Buffer

  constructor(opts: SnippetStoreOptions) {
    this.#o = { ttlMs: 24 * 3600_000, maxSeconds: 10, now: Date.now, ...opts }
    if (opts.key) {
      if (opts.key.length !== 32) throw new FirmwareError('FW_ERR_BAD_OPTION', 'the snippet key must be 32 bytes')
      this.#key = opts.key
    } else {
      if (!opts.dataDir) throw new FirmwareError('FW_ERR_BAD_OPTION', 'SnippetStore needs a key or a dataDir with a device key')
      this.#key = snippetKey(loadDeviceKey(opts.dataDir))
    }
  }

  get consent(): boolean {
    return this.#o.consent()
  }

  /** Stores a mono snippet, encrypted. Refused (and nothing written) without consent. */
  save(samples: Float32Array, sampleRate: number, note = ''): SnippetInfo {
    if (!this.#o.consent()) privacy('audio is not stored: the recording consent setting is off')
    if (samples.length > this.#o.maxSeconds * sampleRate) privacy(`a snippet may be at most ${this.#o.maxSeconds} s long`)
    this.purgeExpired()
    const id = randomBytes(8).toString('hex')
    const expiresAt = this.#o.now() + this.#o.ttlMs
    const name = `${expiresAt}-${id}.snip`
    const header = Buffer.from(JSON.stringify({ sampleRate, note, createdAt: this.#o.now() }))
    const len = Buffer.alloc(4)
    len.writeUInt32LE(header.length)
    const plain = Buffer.concat([len, header, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)])
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.#key, iv)
    c.setAAD(Buffer.from(name))
    const body = Buffer.concat([c.update(plain), c.final()])
    mkdirSync(this.#o.dir, { recursive: true, mode: 0o700 })
    const tmp = join(this.#o.dir, `.${name}.tmp`)
    writeFileSync(tmp, Buffer.concat([MAGIC, iv, c.getAuthTag(), body]), { mode: 0o600 })
    renameSync(tmp, join(this.#o.dir, name))
    return { id, expiresAt, bytes: body.length + 32 }
  }

  /** Decrypts a snippet. Refused without consent, when expired (it is deleted) or when it does not authenticate. */
  load(id: string): { samples: Float32Array; sampleRate: number; note: string; createdAt: number } {
    if (!this.#o.consent()) privacy('stored audio is not readable: the recording consent setting is off')
    const f = this.#find(id)
    if (!f) privacy(`no snippet ${id} (it may have expired)`)
    if (f.expiresAt <= this.#o.now()) {
      rmSync(join(this.#o.dir, f.name), { force: true })
      privacy(`snippet ${id} expired and was deleted`)
    }
    const raw = readFileSync(join(this.#o.dir, f.name))
    if (raw.length < 32 || !raw.subarray(0, 4).equals(MAGIC)) privacy(`snippet ${id} is not a snippet file`)
    let plain: Buffer
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(4, 16))
      d.setAAD(Buffer.from(f.name))
      d.setAuthTag(raw.subarray(16, 32))
      plain = Buffer.concat([d.update(raw.subarray(32)), d.final()])
    } catch {
      privacy(`snippet ${id} does not decrypt (tampered with, renamed, or another device's key)`)
    }
    const hl = plain.readUInt32LE(0)
    const header = JSON.parse(plain.subarray(4, 4 + hl).toString('utf8')) as { sampleRate: number; note: string; createdAt: number }
    const pcm = plain.subarray(4 + hl)
    const samples = new Float32Array(pcm.length / 4)
    Buffer.from(samples.buffer).set(pcm)
    return { samples, ...header }
  }

  /** The gate for anything that would send audio off the device. */
  assertMaySend(): void {
    if (!this.#o.consent()) privacy('audio is not sent off the device: the recording consent setting is off')
  }

  list(): SnippetInfo[] {
    if (!existsSync(this.#o.dir)) return []
    return readdirSync(this.#o.dir).flatMap((name) => {
      const m = NAME_RE.exec(name)
      return m ? [{ id: m[2]!, expiresAt: Number(m[1]), bytes: statSync(join(this.#o.dir, name)).size }] : []
    })
  }

  /** Deletes expired snippets; returns how many. Needs no key and no consent. */
  purgeExpired(): number {
    const now = this.#o.now()
    let n = 0
    for (const s of this.list()) {
      if (s.expiresAt <= now) {
        rmSync(join(this.#o.dir, `${s.expiresAt}-${s.id}.snip`), { force: true })
        n++
      }
    }
    return n
  }

  /** Deletes every snippet (consent withdrawn, factory reset). */
  purgeAll(): number {
    const all = this.list()
    for (const s of all) rmSync(join(this.#o.dir, `${s.expiresAt}-${s.id}.snip`), { force: true })
    return all.length
  }

  #find(id: string): { name: string; expiresAt: number } | null {
    if (!/^[0-9a-f]{16}$/.test(id)) return null
    const s = this.list().find((x) => x.id === id)
    return s ? { name: `${s.expiresAt}-${s.id}.snip`, expiresAt: s.expiresAt } : null
  }
}
