// The unit's configuration, <dataDir>/config.json. Boot must never fail on it: when the file and
// its last-known-good copy are both unusable the defaults load, with a warning.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { removeStaleTemps } from './atomic.ts'
import { defaultStoreLogger, StoredDocument, type StoreLogger } from './document.ts'
import { type ApplianceConfig, configSchema, defaultConfig } from './schemas.ts'

export interface ConfigStoreOptions {
  /** Where warnings go. Defaults to console.warn. */
  log?: StoreLogger
}

export class ConfigStore {
  readonly path: string
  readonly #dir: string
  readonly #log: StoreLogger
  readonly #doc: StoredDocument<ApplianceConfig>
  #current: ApplianceConfig | undefined
  /** Writes leave in the order they were asked for: the file always ends as the last update. */
  #writes: Promise<unknown> = Promise.resolve()

  constructor(dataDir: string, options: ConfigStoreOptions = {}) {
    this.#dir = dataDir
    this.path = join(dataDir, 'config.json')
    this.#log = options.log ?? defaultStoreLogger
    this.#doc = new StoredDocument(this.path, configSchema, this.#log)
  }

  /** The stored config, its last-known-good copy, or the defaults, in that order. */
  async load(): Promise<ApplianceConfig> {
    await mkdir(this.#dir, { recursive: true })
    await removeStaleTemps(this.#dir)
    try {
      this.#current = (await this.#doc.load())?.data ?? defaultConfig()
    } catch (e) {
      this.#log('warn', `${(e as Error).message}; starting from the default config`)
      this.#current = defaultConfig()
    }
    return this.#current
  }

  async save(config: ApplianceConfig): Promise<void> {
    await this.#write(config)
    this.#current = config
  }

  // Queued before any await: two callers' writes must not overtake each other on the way to the
  // document (an earlier version awaited mkdir first, and the older config could land last).
  #write(config: ApplianceConfig): Promise<void> {
    const run = this.#writes.then(async () => {
      await mkdir(this.#dir, { recursive: true })
      await this.#doc.save(config)
    })
    this.#writes = run.catch(() => {})
    return run
  }

  /**
   * Loads (once), applies `patch`, saves, and returns the new config. Concurrent updates (OSC and
   * `preset boot` share this store) each merge onto the one before: the in-memory config moves on
   * before the write, so no update is lost; writes are serialised by the document.
   */
  async update(patch: Partial<ApplianceConfig>): Promise<ApplianceConfig> {
    const base = this.#current ?? (await this.load())
    const next = { ...(this.#current ?? base), ...patch }
    this.#current = next
    try {
      await this.#write(next)
    } catch (e) {
      if (this.#current === next) this.#current = base
      throw e
    }
    return next
  }
}
