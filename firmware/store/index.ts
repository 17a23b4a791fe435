// The store: config, presets and the health report, all under the board's data directory.
//   <dataDir>/config.json (+ .lkg)     ConfigStore
//   <dataDir>/presets/<name>.json (+ .lkg)   PresetStore
//   <dataDir>/health.json              HealthReporter (read by recovery/)
import { join } from 'node:path'
import { ConfigStore } from './config.ts'
import type { StoreLogger } from './document.ts'
import { PresetStore } from './presets.ts'

export { writeFileAtomic } from './atomic.ts'
export { ConfigStore } from './config.ts'
export { type DocumentSchema, StoredDocument, type StoreLogger } from './document.ts'
export { type HealthRecord, HealthReporter, healthFilePath } from './health.ts'
export { applyPreset, checkPresetName, PresetStore, type PresetSummary, presetFromAppliance } from './presets.ts'
export * from './schemas.ts'

export interface Store {
  config: ConfigStore
  presets: PresetStore
}

/** Opens the store in a board's data directory. */
export function openStore(dataDir: string, log?: StoreLogger): Store {
  const opts = log ? { log } : {}
  return { config: new ConfigStore(dataDir, opts), presets: new PresetStore(join(dataDir, 'presets'), opts) }
}
