// Recovery's settings, read from the board profile's "recovery" section (and its "name" and
// "dataDir"). Read as plain JSON: recovery must not import the firmware's profile loader.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RecoveryError } from './errors.ts'

export interface RecoveryConfig {
  /** Board profile name; bundles must be built for it. */
  board: string
  /** The firmware's data directory (presets, config, identity). */
  dataDir: string
  /** The two slot directories. */
  slots: { a: string; b: string }
  /** Where recovery keeps its own state (slots.json, the current-slot link). */
  stateDir: string
  /** The file the firmware writes to report health. Defaults to <dataDir>/health.json. */
  healthFile: string
  /** Boots a new slot gets to report healthy before it is rolled back. Defaults to 3. */
  bootTries: number
  /** Seconds the watchdog must stay ACTIVE before a new slot is marked good. Defaults to 60. */
  healthyPeriodS: number
  /**
   * Seconds a pending slot may run without being confirmed before it is stopped and counted as a
   * failed boot (firmware that hangs short of healthy). Defaults to healthyPeriodS + 120.
   */
  pendingTimeoutS?: number
  /** Ed25519 public key (PEM) that update bundles must be signed with. */
  publicKeyPath: string
  /** The recovery console's serial port. */
  console: { path: string; baudRate: number }
  /** Entries of dataDir a factory reset keeps (the identity), unless --full. */
  keepOnReset: string[]
  /** How to start the firmware in a slot; "{slot}" and "{board}" are substituted. */
  launch: string[]
}

export type SlotName = 'a' | 'b'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export const defaults = {
  bootTries: 3,
  healthyPeriodS: 60,
  keepOnReset: ['identity', 'ca', 'device.key', 'console-pin'],
  launch: ['{slot}/firmware', 'run', '--board', '{board}'],
}

function fail(file: string, msg: string): never {
  throw new RecoveryError('REC_ERR_CONFIG', `${file}: recovery.${msg}`)
}

/** Reads a board profile (by name under board/, or a path to a profile.json) for recovery. */
export function loadRecoveryConfig(nameOrPath: string, overrides: Partial<RecoveryConfig> = {}): RecoveryConfig {
  const file = nameOrPath.endsWith('.json') ? resolve(nameOrPath) : join(repoRoot, 'board', nameOrPath, 'profile.json')
  if (!existsSync(file)) throw new RecoveryError('REC_ERR_CONFIG', `no board profile at ${file}`)
  let p: Record<string, unknown>
  try {
    p = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new RecoveryError('REC_ERR_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`)
  }
  // Relative paths resolve against the tree the profile lives in (<root>/board/<name>/profile.json).
  const root = resolve(dirname(file), '..', '..')
  const abs = (v: string): string => (isAbsolute(v) ? v : resolve(root, v))
  const r = (p.recovery ?? {}) as Record<string, unknown>
  const str = (v: unknown, what: string): string => (typeof v === 'string' && v.length > 0 ? v : fail(file, `${what} must be a non-empty string`))
  const slots = (r.slots ?? {}) as Record<string, unknown>
  const dataDir = abs(str(p.dataDir, 'dataDir (top level)'))
  const consoleCfg = (r.console ?? {}) as Record<string, unknown>
  const cfg: RecoveryConfig = {
    board: str(p.name, 'name (top level)'),
    dataDir,
    slots: { a: abs(str(slots.a, 'slots.a')), b: abs(str(slots.b, 'slots.b')) },
    stateDir: abs(str(r.stateDir, 'stateDir')),
    healthFile: typeof r.healthFile === 'string' ? abs(r.healthFile) : join(dataDir, 'health.json'),
    bootTries: typeof r.bootTries === 'number' ? r.bootTries : defaults.bootTries,
    healthyPeriodS: typeof r.healthyPeriodS === 'number' ? r.healthyPeriodS : defaults.healthyPeriodS,
    pendingTimeoutS:
      typeof r.pendingTimeoutS === 'number' ? r.pendingTimeoutS : (typeof r.healthyPeriodS === 'number' ? r.healthyPeriodS : defaults.healthyPeriodS) + 120,
    publicKeyPath: abs(str(r.publicKey, 'publicKey')),
    console: { path: str(consoleCfg.path ?? 'none', 'console.path'), baudRate: typeof consoleCfg.baudRate === 'number' ? consoleCfg.baudRate : 115200 },
    keepOnReset: Array.isArray(r.keepOnReset) ? (r.keepOnReset as string[]) : defaults.keepOnReset,
    launch: Array.isArray(r.launch) ? (r.launch as string[]) : defaults.launch,
    ...overrides,
  }
  if (!Number.isInteger(cfg.bootTries) || cfg.bootTries < 1 || cfg.bootTries > 20) fail(file, 'bootTries must be a whole number from 1 to 20')
  if (!(cfg.healthyPeriodS >= 0 && cfg.healthyPeriodS <= 3600)) fail(file, 'healthyPeriodS must be between 0 and 3600')
  if (cfg.pendingTimeoutS !== undefined && !(cfg.pendingTimeoutS > cfg.healthyPeriodS && cfg.pendingTimeoutS <= 7200))
    fail(file, 'pendingTimeoutS must be more than healthyPeriodS and at most 7200')
  if (cfg.slots.a === cfg.slots.b) fail(file, 'slots.a and slots.b must differ')
  return cfg
}
