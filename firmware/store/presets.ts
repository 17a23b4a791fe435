// Presets: one stored document per preset in <dataDir>/presets/, each with its last-known-good
// copy. The console, API and panel reach these through the command registry
// (`preset list|save|load|delete`); applying one to the running appliance goes through
// ApplianceApi only.
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { removeStaleTemps } from './atomic.ts'
import { defaultStoreLogger, StoredDocument, type StoreLogger } from './document.ts'
import { PRESET_NAME, type Preset, presetSchema } from './schemas.ts'

export interface PresetSummary {
  name: string
  /** Milliseconds since the epoch; null when the preset is corrupt (or was saved before times were kept). */
  savedAt: number | null
  /** Why neither copy loads (both corrupt, or from newer firmware), else null. */
  problem: string | null
}

export interface PresetStoreOptions {
  /** Where warnings go (fallbacks to last-known-good). Defaults to console.warn. */
  log?: StoreLogger
}

export function checkPresetName(name: string): string {
  if (!PRESET_NAME.test(name)) {
    throw new FirmwareError('FW_ERR_PRESET_NAME', `"${name}" is not a valid preset name; use 1-32 letters, digits, "-" or "_"`)
  }
  return name
}

export class PresetStore {
  readonly dir: string
  readonly #log: StoreLogger
  readonly #docs = new Map<string, StoredDocument<Preset>>()
  #opened: Promise<void> | undefined

  constructor(dir: string, options: PresetStoreOptions = {}) {
    this.dir = dir
    this.#log = options.log ?? defaultStoreLogger
  }

  #open(): Promise<void> {
    this.#opened ??= (async () => {
      await mkdir(this.dir, { recursive: true })
      await removeStaleTemps(this.dir)
    })()
    return this.#opened
  }

  #doc(name: string): StoredDocument<Preset> {
    checkPresetName(name)
    let d = this.#docs.get(name)
    if (!d) {
      d = new StoredDocument(join(this.dir, `${name}.json`), presetSchema, this.#log)
      this.#docs.set(name, d)
    }
    return d
  }

  /** Preset names, sorted, with when each was saved. A preset whose file is unreadable is still listed. */
  async list(): Promise<PresetSummary[]> {
    await this.#open()
    const names = new Set<string>()
    for (const f of await readdir(this.dir)) {
      const m = /^([A-Za-z0-9_-]{1,32})\.json(?:\.lkg)?$/.exec(f)
      if (m) names.add(m[1]!)
    }
    const out: PresetSummary[] = []
    for (const name of [...names].sort()) {
      try {
        const r = await this.#doc(name).load()
        if (r) out.push({ name, savedAt: r.data.savedAt > 0 ? r.data.savedAt : null, problem: null })
      } catch (e) {
        out.push({ name, savedAt: null, problem: (e as Error).message })
      }
    }
    return out
  }

  /** Saves a preset under its name, replacing any preset of that name. */
  async save(preset: Omit<Preset, 'savedAt'> & { savedAt?: number }): Promise<Preset> {
    await this.#open()
    const full: Preset = { ...preset, savedAt: preset.savedAt ?? Date.now() }
    await this.#doc(preset.name).save(full)
    return full
  }

  /** Loads a preset; FW_ERR_PRESET_NOT_FOUND when there is none by that name. */
  async load(name: string): Promise<Preset> {
    await this.#open()
    const r = await this.#doc(name).load()
    if (!r) throw new FirmwareError('FW_ERR_PRESET_NOT_FOUND', `no preset "${name}"; "preset list" shows the saved ones`)
    return r.data
  }

  async delete(name: string): Promise<void> {
    await this.#open()
    const d = this.#doc(name)
    if (!(await d.load().catch(() => true))) {
      throw new FirmwareError('FW_ERR_PRESET_NOT_FOUND', `no preset "${name}"; "preset list" shows the saved ones`)
    }
    await d.remove()
    this.#docs.delete(name)
  }
}

/** A preset capturing the appliance's current outputs and beams (input trims as given). */
export function presetFromAppliance(name: string, app: ApplianceApi, inputTrimDb: number[] = []): Omit<Preset, 'savedAt'> {
  checkPresetName(name)
  return {
    name,
    outputs: app.outputSettings().map((o) => ({ gainDb: o.gainDb, eq: o.eq.map((b) => ({ ...b })), compressor: { ...o.compressor } })),
    inputTrimDb: [...inputTrimDb],
    beams: app.beams().map((b) => ({ index: b.index, azimuth: b.azimuth, elevation: b.elevation, auto: b.auto })),
  }
}

/** Applies a preset to the running appliance; outputs/inputs/beams it has beyond the unit's are skipped. */
export function applyPreset(app: ApplianceApi, preset: Preset, who = `preset ${preset.name}`): void {
  const outputs = app.profile.audio.outputs
  preset.outputs.slice(0, outputs).forEach((o, k) => {
    app.setOutputGain(k, o.gainDb, who)
    o.eq.forEach((b, j) => {
      app.setEqBand(k, j, b, who)
    })
    app.setCompressor(k, o.compressor, who)
  })
  preset.inputTrimDb.slice(0, app.profile.audio.inputs).forEach((db, k) => {
    app.setInputTrim(k, db, who)
  })
  const beams = new Set(app.beams().map((b) => b.index))
  for (const b of preset.beams) {
    if (!beams.has(b.index)) continue
    app.setBeamAuto(b.index, b.auto, who)
    if (!b.auto) app.steerBeam(b.index, b.azimuth, b.elevation, who)
  }
}
