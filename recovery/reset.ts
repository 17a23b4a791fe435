// Factory reset: wipes presets, config, logs and other data from the data directory. The device
// identity (keys, certificates, console PIN) is kept unless `full` is set, so a reset unit still
// talks to its control systems; a full reset returns it to the state before provisioning.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { RecoveryConfig } from './config.ts'
import { fsyncPath, removeTree } from './fsutil.ts'

export interface ResetResult {
  removed: string[]
  kept: string[]
}

export function factoryReset(cfg: RecoveryConfig, options: { full?: boolean } = {}): ResetResult {
  const removed: string[] = []
  const kept: string[] = []
  if (!existsSync(cfg.dataDir)) return { removed, kept }
  for (const name of readdirSync(cfg.dataDir).sort()) {
    if (!options.full && cfg.keepOnReset.includes(name)) {
      kept.push(name)
      continue
    }
    removeTree(join(cfg.dataDir, name))
    removed.push(name)
  }
  fsyncPath(cfg.dataDir)
  return { removed, kept }
}
