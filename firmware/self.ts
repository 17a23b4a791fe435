// How a person runs this firmware from where it is (`firmware` on a unit, the single binary;
// `npx firmware` in a source checkout), and which firmware this is: the image it runs from.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { isSea } from 'node:sea'

export function selfCommand(): string {
  return isSea() ? 'firmware' : 'npx firmware'
}

/** The firmware image this process runs from. */
export interface RunningImage {
  /** The image's version (its manifest.json), or package.json's when running from source. */
  version: string
  /** The A/B slot recovery started it from ($STAGE_SLOT), or null (not started by recovery). */
  slot: 'a' | 'b' | null
  /** The image directory (where manifest.json is), or null when running from source. */
  dir: string | null
  /**
   * What the firmware reports as its version on every interface: the version, with the slot as
   * semver build metadata ("2.0.0+slot.b"), which orders as the version itself.
   */
  label: string
}

/**
 * Reads the version manifest beside the binary (an image: <image>/firmware + <image>/manifest.json,
 * the same file recovery installed the slot from). From a source checkout: package.json's version.
 */
export function runningImage(execPath = process.execPath, env: NodeJS.ProcessEnv = process.env): RunningImage {
  const slot = env.STAGE_SLOT === 'a' || env.STAGE_SLOT === 'b' ? env.STAGE_SLOT : null
  const make = (version: string, dir: string | null): RunningImage => ({ version, slot, dir, label: slot ? `${version}+slot.${slot}` : version })
  const dir = dirname(execPath)
  const manifest = join(dir, 'manifest.json')
  if (existsSync(manifest)) {
    try {
      const m = JSON.parse(readFileSync(manifest, 'utf8')) as { format?: unknown; version?: unknown }
      if (m.format === 'stage-image/1' && typeof m.version === 'string') return make(m.version, dir)
    } catch {
      /* not an image manifest: fall through */
    }
  }
  try {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version?: unknown }
    if (typeof pkg.version === 'string') return make(pkg.version, null)
  } catch {
    /* no package.json beside the sources (bundled without one) */
  }
  return make('unknown', null)
}

/** The update status the fleet sees (docs/telemetry.md, `…/update`). */
export interface UpdateStatus {
  version: string
  slot: 'a' | 'b' | null
  /** Recovery's record of the running slot: pending (awaiting confirmation), good, bad; null when not known. */
  slotState: string | null
  /** True while the running image awaits confirmation (a rollback follows if it never comes); null when not known. */
  pending: boolean | null
  /** Boots this pending image has had so far. */
  boots: number | null
}

/**
 * The running image and what recovery's slot state (<$STAGE_RECOVERY_STATE>/slots.json, else its
 * last-known-good copy; set by recovery when it starts the firmware) says of its slot. The file is
 * read, never written, and recovery's code is not imported: its format is stage-slots/1.
 */
export function updateStatus(env: NodeJS.ProcessEnv = process.env, image: RunningImage = runningImage(process.execPath, env)): UpdateStatus {
  const unknown: UpdateStatus = { version: image.version, slot: image.slot, slotState: null, pending: null, boots: null }
  const dir = env.STAGE_RECOVERY_STATE
  if (!dir || !image.slot) return unknown
  for (const name of ['slots.json', 'slots.json.lkg']) {
    try {
      const s = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { format?: unknown; slots?: Record<string, { state?: unknown; boots?: unknown }> }
      const rec = s.format === 'stage-slots/1' ? s.slots?.[image.slot] : undefined
      if (!rec || typeof rec.state !== 'string') continue
      return { ...unknown, slotState: rec.state, pending: rec.state === 'pending', boots: typeof rec.boots === 'number' ? rec.boots : null }
    } catch {
      /* missing or torn: try the last-known-good copy */
    }
  }
  return unknown
}

/** What the unit shows of its update (the FOH page, `update status`): the running slot and the other one. */
export interface SlotReport extends UpdateStatus {
  /** The other A/B slot as recovery's slot state records it, or null when not known. */
  other: { slot: 'a' | 'b'; version: string | null; state: string } | null
}

/** updateStatus() and, from the same slots.json (else its last-known-good copy), the other slot's version and state. */
export function slotReport(env: NodeJS.ProcessEnv = process.env, image: RunningImage = runningImage(process.execPath, env)): SlotReport {
  const status = updateStatus(env, image)
  const dir = env.STAGE_RECOVERY_STATE
  if (!dir || !image.slot) return { ...status, other: null }
  const slot = image.slot === 'a' ? 'b' : 'a'
  for (const name of ['slots.json', 'slots.json.lkg']) {
    try {
      const s = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { format?: unknown; slots?: Record<string, { state?: unknown; version?: unknown }> }
      const rec = s.format === 'stage-slots/1' ? s.slots?.[slot] : undefined
      if (!rec || typeof rec.state !== 'string') continue
      return { ...status, other: { slot, version: typeof rec.version === 'string' ? rec.version : null, state: rec.state } }
    } catch {
      /* missing or torn: try the last-known-good copy */
    }
  }
  return { ...status, other: null }
}
