// One stored document (the config, or one preset): a versioned, checksummed JSON envelope with a
// last-known-good copy beside it. On save the current good file becomes the last-known-good one
// and the new bytes replace it atomically; on load a missing, truncated or corrupt file falls back
// to the last-known-good copy with a logged warning, and older schema versions migrate forward.
import { createHash } from 'node:crypto'
import { readFile, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { FirmwareError } from '../errors.ts'
import { fsyncDir, writeFileAtomic, writeTempSynced } from './atomic.ts'

export type StoreLogger = (level: 'info' | 'warn', message: string) => void

export const defaultStoreLogger: StoreLogger = (level, message) => {
  if (level === 'warn') console.warn(`store: ${message}`)
}

/**
 * What a kind of document looks like. `migrations[n]` turns schema n into schema n+1; a reader
 * applies them in order up to `version`. `validate` checks the current schema and returns it
 * typed (throw to reject).
 */
export interface DocumentSchema<T> {
  kind: string
  version: number
  migrations: Record<number, (data: unknown) => unknown>
  validate(data: unknown): T
}

/** The bytes on disk. `sha256` covers kind, schema and data, so none can change unnoticed. */
interface Envelope {
  format: 'stage-store/1'
  kind: string
  schema: number
  writtenAt: number
  sha256: string
  data: unknown
}

export function checksum(kind: string, schema: number, dataJson: string): string {
  return createHash('sha256').update(`${kind}\n${schema}\n${dataJson}`).digest('hex')
}

export function encodeDocument(kind: string, schema: number, data: unknown, writtenAt = Date.now()): string {
  const dataJson = JSON.stringify(data)
  const sha256 = checksum(kind, schema, dataJson)
  // Data last: a truncated file always loses its closing braces and fails to parse.
  return `{"format":"stage-store/1","kind":${JSON.stringify(kind)},"schema":${schema},"writtenAt":${writtenAt},"sha256":"${sha256}","data":${dataJson}}\n`
}

export type Decoded<T> =
  | { ok: true; data: T; schema: number; writtenAt: number; migrated: boolean }
  /** `reason` reads after the file's name: "<file> fails its checksum". */
  | { ok: false; reason: string; missing?: boolean; newer?: boolean }

/** Parses, verifies and migrates one file's text. Never throws. */
export function decodeDocument<T>(text: string, schema: DocumentSchema<T>): Decoded<T> {
  let env: Envelope
  try {
    env = JSON.parse(text) as Envelope
  } catch {
    return { ok: false, reason: text.length === 0 ? 'is empty' : 'is truncated or not JSON' }
  }
  if (typeof env !== 'object' || env === null || env.format !== 'stage-store/1') return { ok: false, reason: 'is not a store file' }
  if (env.kind !== schema.kind) return { ok: false, reason: `holds a ${String(env.kind)}, not a ${schema.kind}` }
  if (!Number.isInteger(env.schema) || env.schema < 1) return { ok: false, reason: 'has a bad schema number' }
  if (env.sha256 !== checksum(env.kind, env.schema, JSON.stringify(env.data))) return { ok: false, reason: 'fails its checksum' }
  if (env.schema > schema.version) {
    return { ok: false, newer: true, reason: `is from newer firmware (schema ${env.schema}; this firmware reads up to ${schema.version})` }
  }
  let data: unknown = env.data
  for (let v = env.schema; v < schema.version; v++) {
    const step = schema.migrations[v]
    if (!step) return { ok: false, reason: `has no migration from schema ${v}` }
    try {
      data = step(data)
    } catch (e) {
      return { ok: false, reason: `failed to migrate from schema ${v}: ${(e as Error).message}` }
    }
  }
  try {
    return { ok: true, data: schema.validate(data), schema: env.schema, writtenAt: env.writtenAt, migrated: env.schema !== schema.version }
  } catch (e) {
    return { ok: false, reason: `has invalid content: ${(e as Error).message}` }
  }
}

export async function readDecoded<T>(path: string, schema: DocumentSchema<T>): Promise<Decoded<T>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, missing: true, reason: 'is missing' }
    return { ok: false, reason: `is unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})` }
  }
  return decodeDocument(text, schema)
}

export interface LoadResult<T> {
  data: T
  /** Where the data came from: the file itself or its last-known-good copy. */
  source: 'primary' | 'last-known-good'
  /** The schema version found on disk (before migration). */
  schema: number
}

/**
 * A document at `path`, its last-known-good copy at `path + '.lkg'`. Writes through one instance
 * are serialised; one process owns a store directory at a time.
 */
export class StoredDocument<T> {
  readonly path: string
  readonly lkgPath: string
  readonly schema: DocumentSchema<T>
  readonly #log: StoreLogger
  #primaryGood: boolean | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(path: string, schema: DocumentSchema<T>, log: StoreLogger = defaultStoreLogger) {
    this.path = path
    this.lkgPath = `${path}.lkg`
    this.schema = schema
    this.#log = log
  }

  #serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }

  /**
   * Loads the document. Returns null when neither the file nor its copy exists. Throws
   * FW_ERR_STORE_CORRUPT (or FW_ERR_STORE_SCHEMA) when something is there but nothing usable.
   */
  load(): Promise<LoadResult<T> | null> {
    return this.#serial(() => this.#loadNow())
  }

  async #loadNow(): Promise<LoadResult<T> | null> {
    const primary = await readDecoded(this.path, this.schema)
    if (primary.ok) {
      this.#primaryGood = true
      return { data: primary.data, source: 'primary', schema: primary.schema }
    }
    this.#primaryGood = false
    const lkg = await readDecoded(this.lkgPath, this.schema)
    if (primary.missing && lkg.ok === false && lkg.missing) return null
    if (!lkg.ok) {
      const newer = (primary.ok === false && primary.newer) || lkg.newer
      throw new FirmwareError(
        newer ? 'FW_ERR_STORE_SCHEMA' : 'FW_ERR_STORE_CORRUPT',
        `${this.path} ${primary.reason}, and its last-known-good copy ${lkg.reason}; ` +
          (newer ? 'this data was written by newer firmware: update the firmware' : 'delete it or restore it from a backup'),
      )
    }
    this.#log('warn', `${this.path} ${primary.reason}; using its last-known-good copy from ${new Date(lkg.writtenAt).toISOString()}`)
    // Put the good copy back in place, unless the file is from newer firmware (keep that for it).
    if (!primary.newer) {
      try {
        await writeFileAtomic(this.path, encodeDocument(this.schema.kind, this.schema.version, lkg.data, lkg.writtenAt))
        this.#primaryGood = true
      } catch (e) {
        this.#log('warn', `could not restore ${this.path}: ${(e as Error).message}`)
      }
    }
    return { data: lkg.data, source: 'last-known-good', schema: lkg.schema }
  }

  /** Saves `data` (validated first); the previous good version becomes the last-known-good copy. */
  save(data: T, writtenAt = Date.now()): Promise<void> {
    return this.#serial(async () => {
      const valid = this.schema.validate(data)
      const tmp = await writeTempSynced(this.path, encodeDocument(this.schema.kind, this.schema.version, valid, writtenAt))
      try {
        if (this.#primaryGood === undefined) this.#primaryGood = (await readDecoded(this.path, this.schema)).ok
        // Only a verified file may become the last-known-good one; a corrupt one is just replaced.
        if (this.#primaryGood) await rename(this.path, this.lkgPath)
        await rename(tmp, this.path)
      } catch (e) {
        await unlink(tmp).catch(() => {})
        throw new FirmwareError('FW_ERR_IO', `could not save ${this.path}: ${(e as Error).message}`, { cause: e })
      }
      this.#primaryGood = true
      await fsyncDir(dirname(this.path))
    })
  }

  /** Removes the document and its copy. */
  remove(): Promise<void> {
    return this.#serial(async () => {
      await unlink(this.lkgPath).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e
      })
      await unlink(this.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e
      })
      this.#primaryGood = undefined
      await fsyncDir(dirname(this.path))
    })
  }
}
