// Durable settings: the running mix (gains, trims, EQ, compressors, beams and auto-follow) and the
// automation mode, in <dataDir>/settings.json, restored at boot before the unit goes ACTIVE.
//
// One stream feeds it: the appliance's { type: 'change' } events. Each change bumps a sequence
// number; a commit writes a snapshot of the whole mix through the store's atomic discipline (temp
// file, fsync, rename, fsync dir, last-known-good copy) and covers every change numbered up to the
// moment it took its snapshot. Group commit: changes that arrive together (a preset load, a burst
// from the console and the API) share one write. `flushed()` resolves once every change made so
// far is on disk; the command registry's state-changing commands await it before they reply (the
// composition root declares it with registry.replyAfterCommit), so an acknowledged change survives kill -9 and power loss. Automation's own EQ
// moves (who = 'automation') are not waited for: they are written within `automationWindowMs`, or
// with the next operator change, whichever comes first.
//
// The boot preset (config.json `bootPreset`): when set, the unit boots into that preset (and the
// saved mode) instead of the last mix.
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { CommandSpec } from '../commands/types.ts'
import type { ApplianceApi, SettingChange } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { ConfigStore } from './config.ts'
import { defaultStoreLogger, StoredDocument, type StoreLogger } from './document.ts'
import { applyPreset, PresetStore } from './presets.ts'
import { type AutomationMode, type Preset, type SettingsData, settingsSchema } from './schemas.ts'

export interface DurableSettingsOptions {
  /** Where warnings go. Defaults to console.warn. */
  log?: StoreLogger
  /** Longest an automation-only change waits before it is written. Defaults to 1000 ms. */
  automationWindowMs?: number
}

/** What the unit boots into, and whether the running mix differs from it. */
export interface BootInfo {
  /** 'last mix', or 'preset <name>'. */
  into: string
  bootPreset: string | null
  /** The running mix differs from what a boot now would restore. */
  differs: boolean
}

/** sha256 (first 16 hex digits) of a JSON value: the settings digest in run records and status. */
export function settingsDigest(data: unknown): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16)
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

interface Waiter {
  seq: number
  resolve: () => void
  reject: (e: Error) => void
}

/** One open DurableSettings per data directory (one firmware per data directory holds the lock). */
const opened = new Map<string, DurableSettings>()

export class DurableSettings {
  readonly path: string
  readonly dataDir: string
  readonly config: ConfigStore
  readonly presets: PresetStore
  readonly #doc: StoredDocument<SettingsData>
  readonly #log: StoreLogger
  readonly #windowMs: number
  /** What settings.json held at open (null: nothing stored yet). */
  #stored: SettingsData | null = null
  #bootPreset: Preset | null = null
  #bootPresetName: string | null = null
  #app: ApplianceApi | null = null
  #unsubscribe: (() => void) | null = null
  #trims: number[] = []
  #mode: AutomationMode = 'advisory'
  #seq = 0
  #committed = 0
  #pumping = false
  #immediate: NodeJS.Immediate | null = null
  #timer: NodeJS.Timeout | null = null
  #waiters: Waiter[] = []
  #lastError: string | null = null
  /** Writes made, and changes they covered (for status and the benchmark). */
  readonly stats = { commits: 0, changes: 0, lastCommitMs: 0, maxCommitMs: 0 }

  private constructor(dataDir: string, options: DurableSettingsOptions) {
    this.dataDir = dataDir
    this.path = join(dataDir, 'settings.json')
    this.#log = options.log ?? defaultStoreLogger
    this.#windowMs = options.automationWindowMs ?? 1000
    this.#doc = new StoredDocument(this.path, settingsSchema, this.#log)
    this.config = new ConfigStore(dataDir, { log: this.#log })
    this.presets = new PresetStore(join(dataDir, 'presets'), { log: this.#log })
  }

  /**
   * Opens (once per data directory) and loads settings.json, the config and the boot preset. Never
   * throws for bad data: an unusable file is reported and the unit boots with defaults.
   */
  static async open(dataDir: string, options: DurableSettingsOptions = {}): Promise<DurableSettings> {
    const have = opened.get(dataDir)
    if (have) return have
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const s = new DurableSettings(dataDir, options)
    opened.set(dataDir, s)
    await s.#load()
    return s
  }

  /** The instance open for `dataDir`, if any. */
  static for(dataDir: string): DurableSettings | undefined {
    return opened.get(dataDir)
  }

  async #load(): Promise<void> {
    try {
      this.#stored = (await this.#doc.load())?.data ?? null
    } catch (e) {
      this.#log('warn', `${(e as Error).message}; starting from the default mix`)
    }
    if (this.#stored) this.#mode = this.#stored.mode
    const config = await this.config.load()
    this.#bootPresetName = config.bootPreset
    if (config.bootPreset) {
      try {
        this.#bootPreset = await this.presets.load(config.bootPreset)
      } catch (e) {
        this.#log('warn', `boot preset "${config.bootPreset}" not applied: ${(e as Error).message}; booting into the last mix`)
      }
    }
  }

  /** The mode to start automation in (the saved one). */
  get mode(): AutomationMode {
    return this.#mode
  }

  /** Digest of what settings.json held when the store opened (the previous run's last commit), or null. */
  get storedDigest(): string | null {
    return this.#stored ? settingsDigest(this.#stored) : null
  }

  /**
   * Puts the stored mix (or the boot preset) on `app`. Synchronous, so the runtime can call it
   * between engine start and boot-complete: the unit goes ACTIVE with the restored sound.
   */
  restore(app: ApplianceApi & { automationMode?: AutomationMode }): string {
    const who = 'restore at boot'
    const s = this.#stored
    if (s) {
      this.#trims = [...s.inputTrimDb]
      if ('automationMode' in app) app.automationMode = s.mode
    }
    if (this.#bootPreset) {
      applyPreset(app, this.#bootPreset, `boot preset ${this.#bootPreset.name}`)
      this.#trims = this.#bootPreset.inputTrimDb.slice(0, app.profile.audio.inputs)
      return `booted into preset "${this.#bootPreset.name}" (mode ${this.#mode})`
    }
    if (!s) return 'no saved settings: booted with the defaults'
    applyPreset(app, { name: 'settings', savedAt: 0, outputs: s.outputs, inputTrimDb: s.inputTrimDb, beams: s.beams }, who)
    return `restored the last mix (mode ${s.mode}, settings ${settingsDigest(s)})`
  }

  /** Starts persisting `app`'s changes. Call after restore(). */
  attach(app: ApplianceApi): void {
    if (this.#app) return
    this.#app = app
    const n = app.profile.audio.inputs
    this.#trims = Array.from({ length: n }, (_, k) => this.#trims[k] ?? 0)
    this.#unsubscribe = app.subscribe((ev) => {
      if (ev.type === 'change') this.#onChange(ev.change)
    })
  }

  #onChange(c: SettingChange): void {
    if (c.what === 'bypass' || c.what === 'osc') return // not part of the mix (OSC is in config.json, written by its owner)
    if (c.what === 'preset') {
      if (c.target.action === 'delete' && c.target.name === this.#bootPresetName)
        this.#log('warn', `the boot preset "${c.target.name}" was deleted; the unit will boot into the last mix`)
      return
    }
    if (c.what === 'trim' && typeof c.target.input === 'number' && typeof c.value === 'number') this.#trims[c.target.input] = c.value
    if (c.what === 'mode' && typeof c.value === 'string') this.#mode = c.value as AutomationMode
    this.#seq++
    this.stats.changes++
    if (c.who === 'automation') {
      this.#timer ??= setTimeout(() => {
        this.#timer = null
        void this.#pump()
      }, this.#windowMs)
    } else {
      this.#immediate ??= setImmediate(() => {
        this.#immediate = null
        void this.#pump()
      })
    }
  }

  /** The mix as it runs now, in the stored shape. */
  snapshot(): SettingsData {
    const app = this.#app
    if (!app) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'durable settings are not attached to the appliance')
    return {
      mode: this.#mode,
      outputs: app.outputSettings().map((o) => ({ gainDb: o.gainDb, eq: o.eq.map((b) => ({ ...b })), compressor: { ...o.compressor } })),
      inputTrimDb: [...this.#trims],
      beams: app.beams().map((b) => ({ index: b.index, azimuth: b.azimuth, elevation: b.elevation, auto: b.auto })),
    }
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (this.#committed < this.#seq) {
        const upTo = this.#seq
        const t0 = performance.now()
        try {
          await this.#doc.save(this.snapshot())
        } catch (e) {
          this.#lastError = (e as Error).message
          this.#log('warn', `settings not saved: ${this.#lastError}`)
          this.#settle(
            upTo,
            new FirmwareError('FW_ERR_IO', `the change is applied but could not be saved (${this.#lastError}); it will be lost at the next boot`),
          )
          this.#committed = upTo // do not spin on a broken disk; the next change tries again
          break
        }
        this.#lastError = null
        const ms = performance.now() - t0
        this.stats.commits++
        this.stats.lastCommitMs = ms
        if (ms > this.stats.maxCommitMs) this.stats.maxCommitMs = ms
        this.#committed = upTo
        this.#settle(upTo, null)
      }
    } finally {
      this.#pumping = false
    }
    if (this.#committed < this.#seq && this.#waiters.length > 0) void this.#pump()
  }

  #settle(upTo: number, err: Error | null): void {
    const keep: Waiter[] = []
    for (const w of this.#waiters) {
      if (w.seq > upTo) keep.push(w)
      else if (err) w.reject(err)
      else w.resolve()
    }
    this.#waiters = keep
  }

  /** Resolves once every change made so far is on disk (rejects FW_ERR_IO when the write failed). */
  flushed(): Promise<void> {
    if (this.#committed >= this.#seq) return Promise.resolve()
    const seq = this.#seq
    return new Promise((resolve, reject) => {
      this.#waiters.push({ seq, resolve, reject })
      if (this.#timer) {
        clearTimeout(this.#timer)
        this.#timer = null
      }
      this.#immediate ??= setImmediate(() => {
        this.#immediate = null
        void this.#pump()
      })
    })
  }

  /** What the unit boots into and whether the running mix differs from it. */
  bootInfo(): BootInfo {
    const name = this.#bootPresetName
    const app = this.#app
    if (!name || !app) return { into: 'last mix', bootPreset: null, differs: false }
    const p = this.#bootPreset
    if (!p) return { into: `last mix (boot preset "${name}" does not load)`, bootPreset: name, differs: false }
    const now = this.snapshot()
    let differs = false
    p.outputs.slice(0, now.outputs.length).forEach((o, k) => {
      const r = now.outputs[k]!
      if (r.gainDb !== o.gainDb || !sameJson(r.compressor, o.compressor) || o.eq.some((b, j) => !sameJson(r.eq[j], b))) differs = true
    })
    p.inputTrimDb.slice(0, now.inputTrimDb.length).forEach((db, k) => {
      if (now.inputTrimDb[k] !== db) differs = true
    })
    for (const b of p.beams) {
      const r = now.beams.find((x) => x.index === b.index)
      if (r && (r.auto !== b.auto || (!b.auto && (r.azimuth !== b.azimuth || r.elevation !== b.elevation)))) differs = true
    }
    return { into: `preset "${name}"`, bootPreset: name, differs }
  }

  /** Sets (or clears, null) the boot preset; FW_ERR_PRESET_NOT_FOUND / FW_ERR_STORE_CORRUPT change nothing. */
  async setBootPreset(name: string | null): Promise<void> {
    const preset = name === null ? null : await this.presets.load(name)
    await this.config.update({ bootPreset: name })
    this.#bootPresetName = name
    this.#bootPreset = preset
  }

  /** Status fields: where the unit boots and whether the settings are safe. */
  status(): { boots_into: string; differs_from_boot: boolean; settings: string } {
    const b = this.bootInfo()
    const pending = this.#seq - this.#committed
    return {
      boots_into: b.into,
      differs_from_boot: b.differs,
      settings: this.#lastError ? `NOT SAVED: ${this.#lastError}` : pending > 0 ? `saving (${pending} changes)` : 'saved',
    }
  }

  /** Writes what is pending, stops listening, and forgets this data directory. */
  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = null
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
    if (this.#committed < this.#seq && this.#app) await this.flushed().catch(() => {})
    if (opened.get(this.dataDir) === this) opened.delete(this.dataDir)
  }
}

/** `preset boot [name|none]`: what the unit boots into. */
export function bootPresetCommand(settings: DurableSettings): CommandSpec<{ boots_into: string; differs_from_boot: boolean }> {
  return {
    name: 'preset boot',
    summary: 'what the unit boots into: a preset, or none (the last mix); without a name, show it',
    examples: ['preset boot main-show', 'preset boot none', 'preset boot'],
    permission: 'operate',
    args: [{ name: 'name', type: 'string', maxLength: 32, pattern: /^[A-Za-z0-9_-]{1,32}$/, optional: true, help: 'preset name, or none for the last mix' }],
    handler: async (args, { app, principal }) => {
      if (args.name !== undefined) {
        const name = String(args.name) === 'none' ? null : String(args.name)
        await settings.setBootPreset(name)
        app.publish?.({ type: 'change', change: { what: 'preset', target: { name: name ?? 'none', action: 'boot' }, value: name, who: principal.name } })
      }
      const b = settings.bootInfo()
      return { boots_into: b.into, differs_from_boot: b.differs }
    },
    human: (v) => `boots into ${v.boots_into}${v.differs_from_boot ? ' (the running mix differs from it)' : ''}`,
  }
}
