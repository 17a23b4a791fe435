// Factory reset: wipes presets, config, logs and other data from the data directory. The device
// identity (keys, certificates, console PIN) is kept unless `full` is set, so a reset unit still
// talks to its control systems; a full reset returns it to the state before provisioning.
//
// A reset never runs under a live firmware: it would delete the firmware's instance lock and its
// run/ directory, and a second firmware could then start on the same data. The firmware's own
// `factory-reset` (which stops the appliance first, then resets under its own lock) says so with
// `lockHolder`.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaults, type RecoveryConfig } from './config.ts'
import { RecoveryError } from './errors.ts'
import { fsyncPath, removeTree } from './fsutil.ts'
import { lockHeld, readLockOwner } from './lock.ts'

export interface ResetResult {
  removed: string[]
  kept: string[]
}

export interface ResetOptions {
  /** Also remove the identity (back to before provisioning). */
  full?: boolean
  /** The pid that holds the firmware lock and asks for the reset itself (the firmware's own reset). */
  lockHolder?: number
}

/** What a reset needs from a profile: where the data is and what to keep. */
export type ResetPolicy = Pick<RecoveryConfig, 'dataDir' | 'keepOnReset'>

/**
 * The reset policy of the profile file the firmware was started with, for its data directory as
 * the firmware resolved it. A profile without a (valid) recovery section keeps the default list.
 */
export function resetPolicy(profileFile: string, dataDir: string): ResetPolicy {
  try {
    const p = JSON.parse(readFileSync(profileFile, 'utf8')) as { recovery?: { keepOnReset?: unknown } }
    const keep = p.recovery?.keepOnReset
    if (Array.isArray(keep) && keep.every((k) => typeof k === 'string')) return { dataDir, keepOnReset: keep as string[] }
  } catch {
    /* unreadable now: keep the identity by the default list */
  }
  return { dataDir, keepOnReset: defaults.keepOnReset }
}

export function factoryReset(cfg: ResetPolicy, options: ResetOptions = {}): ResetResult {
  const removed: string[] = []
  const kept: string[] = []
  if (!existsSync(cfg.dataDir)) return { removed, kept }
  const owner = readLockOwner(join(cfg.dataDir, 'firmware.lock'))
  if (owner && owner.pid !== options.lockHolder && lockHeld(owner)) {
    throw new RecoveryError(
      'REC_ERR_BUSY',
      `the firmware is running on this data directory (pid ${owner.pid}); stop it first (systemctl stop stage-firmware), or use the firmware's own "factory-reset" command`,
    )
  }
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
