// What the store keeps, schema by schema. Each bump of a `version` adds the step that turns the
// previous shape into the new one in `migrations`, so data written by any older firmware loads.
// Never edit a shipped migration; add the next one.
import type { BandParams, CompressorParams } from '../engine/types.ts'
import type { DocumentSchema } from './document.ts'

export type AutomationMode = 'advisory' | 'supervised' | 'auto'

export interface OutputPreset {
  gainDb: number
  eq: BandParams[]
  compressor: CompressorParams
}

export interface BeamPreset {
  index: number
  azimuth: number
  elevation: number
  auto: boolean
}

/** A preset: everything an engineer recalls between songs or shows. */
export interface Preset {
  name: string
  /** Milliseconds since the epoch. */
  savedAt: number
  outputs: OutputPreset[]
  inputTrimDb: number[]
  beams: BeamPreset[]
}

/** The unit's configuration, restored at boot. */
export interface ApplianceConfig {
  automationMode: AutomationMode
  /** The preset loaded at boot, or null for none. */
  bootPreset: string | null
  inputTrimDb: number[]
  /** Settings owned by other subsystems (API, panel, inference), by subsystem name. */
  subsystems: Record<string, unknown>
}

export const defaultCompressor: CompressorParams = {
  thresholdDb: -20,
  ratio: 1,
  kneeDb: 6,
  attackMs: 10,
  releaseMs: 200,
  makeupDb: 0,
  enabled: false,
}

export function defaultConfig(): ApplianceConfig {
  return { automationMode: 'advisory', bootPreset: null, inputTrimDb: [], subsystems: {} }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function finite(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} must be a number`)
  return v
}

function numbers(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be a list of numbers`)
  return v.map((x, k) => finite(x, `${what}[${k}]`))
}

const bandTypes = new Set(['peak', 'lowshelf', 'highshelf', 'highpass', 'lowpass'])

function band(v: unknown, what: string): BandParams {
  if (!isObj(v)) throw new Error(`${what} must be an object`)
  if (typeof v.type !== 'string' || !bandTypes.has(v.type)) throw new Error(`${what}.type is unknown`)
  return {
    type: v.type as BandParams['type'],
    freqHz: finite(v.freqHz, `${what}.freqHz`),
    gainDb: finite(v.gainDb, `${what}.gainDb`),
    q: finite(v.q, `${what}.q`),
    enabled: v.enabled === true,
  }
}

function compressor(v: unknown, what: string): CompressorParams {
  if (!isObj(v)) throw new Error(`${what} must be an object`)
  return {
    thresholdDb: finite(v.thresholdDb, `${what}.thresholdDb`),
    ratio: finite(v.ratio, `${what}.ratio`),
    kneeDb: finite(v.kneeDb, `${what}.kneeDb`),
    attackMs: finite(v.attackMs, `${what}.attackMs`),
    releaseMs: finite(v.releaseMs, `${what}.releaseMs`),
    makeupDb: finite(v.makeupDb, `${what}.makeupDb`),
    enabled: v.enabled === true,
  }
}

export const PRESET_NAME = /^[A-Za-z0-9_-]{1,32}$/

/**
 * Preset schema history:
 *   1  {name, gains: number[], eq: BandParams[][]}  (first release: no dynamics, no trims, no beams)
 *   2  {name, savedAt, outputs: [{gainDb, eq, compressor}], inputTrimDb, beams}
 */
export const presetSchema: DocumentSchema<Preset> = {
  kind: 'preset',
  version: 2,
  migrations: {
    1: (d) => {
      if (!isObj(d)) throw new Error('not an object')
      const gains = numbers(d.gains, 'gains')
      const eq = Array.isArray(d.eq) ? d.eq : []
      return {
        name: d.name,
        savedAt: 0,
        outputs: gains.map((gainDb, k) => ({ gainDb, eq: Array.isArray(eq[k]) ? eq[k] : [], compressor: { ...defaultCompressor } })),
        inputTrimDb: [],
        beams: [],
      }
    },
  },
  validate(d): Preset {
    if (!isObj(d)) throw new Error('preset must be an object')
    if (typeof d.name !== 'string' || !PRESET_NAME.test(d.name)) throw new Error('name is invalid')
    if (!Array.isArray(d.outputs)) throw new Error('outputs must be a list')
    if (!Array.isArray(d.beams)) throw new Error('beams must be a list')
    return {
      name: d.name,
      savedAt: finite(d.savedAt, 'savedAt'),
      outputs: d.outputs.map((o: unknown, k) => {
        if (!isObj(o)) throw new Error(`outputs[${k}] must be an object`)
        if (!Array.isArray(o.eq)) throw new Error(`outputs[${k}].eq must be a list`)
        return {
          gainDb: finite(o.gainDb, `outputs[${k}].gainDb`),
          eq: o.eq.map((b: unknown, j) => band(b, `outputs[${k}].eq[${j}]`)),
          compressor: compressor(o.compressor, `outputs[${k}].compressor`),
        }
      }),
      inputTrimDb: numbers(d.inputTrimDb, 'inputTrimDb'),
      beams: d.beams.map((b: unknown, k) => {
        if (!isObj(b)) throw new Error(`beams[${k}] must be an object`)
        return {
          index: finite(b.index, `beams[${k}].index`),
          azimuth: finite(b.azimuth, `beams[${k}].azimuth`),
          elevation: finite(b.elevation, `beams[${k}].elevation`),
          auto: b.auto === true,
        }
      }),
    }
  },
}

const modes = new Set(['advisory', 'supervised', 'auto'])

/**
 * Config schema history:
 *   1  {automation: 'suggest'|'approve'|'auto', trims: number[]}  (first release)
 *   2  {automationMode: 'advisory'|'supervised'|'auto', bootPreset, inputTrimDb, subsystems}
 */
export const configSchema: DocumentSchema<ApplianceConfig> = {
  kind: 'config',
  version: 2,
  migrations: {
    1: (d) => {
      if (!isObj(d)) throw new Error('not an object')
      const renamed: Record<string, AutomationMode> = { suggest: 'advisory', approve: 'supervised', auto: 'auto' }
      return {
        automationMode: renamed[String(d.automation)] ?? 'advisory',
        bootPreset: null,
        inputTrimDb: Array.isArray(d.trims) ? d.trims : [],
        subsystems: {},
      }
    },
  },
  validate(d): ApplianceConfig {
    if (!isObj(d)) throw new Error('config must be an object')
    if (typeof d.automationMode !== 'string' || !modes.has(d.automationMode)) throw new Error('automationMode is unknown')
    if (d.bootPreset !== null && (typeof d.bootPreset !== 'string' || !PRESET_NAME.test(d.bootPreset))) throw new Error('bootPreset is invalid')
    if (!isObj(d.subsystems)) throw new Error('subsystems must be an object')
    return {
      automationMode: d.automationMode as AutomationMode,
      bootPreset: d.bootPreset,
      inputTrimDb: numbers(d.inputTrimDb, 'inputTrimDb'),
      subsystems: d.subsystems,
    }
  },
}

/** The running mix and mode, written on every operator change and restored at boot (DurableSettings). */
export interface SettingsData {
  mode: AutomationMode
  outputs: OutputPreset[]
  inputTrimDb: number[]
  beams: BeamPreset[]
}

/**
 * Settings schema history:
 *   1  {mode, outputs: [{gainDb, eq, compressor}], inputTrimDb, beams: [{index, azimuth, elevation, auto}]}
 */
export const settingsSchema: DocumentSchema<SettingsData> = {
  kind: 'settings',
  version: 1,
  migrations: {},
  validate(d): SettingsData {
    if (!isObj(d)) throw new Error('settings must be an object')
    if (typeof d.mode !== 'string' || !modes.has(d.mode)) throw new Error('mode is unknown')
    // Outputs, trims and beams have the preset's shape: validate them as one.
    const p = presetSchema.validate({ name: 'settings', savedAt: 0, outputs: d.outputs, inputTrimDb: d.inputTrimDb, beams: d.beams })
    return { mode: d.mode as AutomationMode, outputs: p.outputs, inputTrimDb: p.inputTrimDb, beams: p.beams }
  },
}
