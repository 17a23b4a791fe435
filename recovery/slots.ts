// A/B slots. One slot is active (the firmware that boots); an update goes to the other one and
// becomes active as "pending". A pending slot has `bootTries` boots to report healthy (the
// firmware's watchdog ACTIVE for `healthyPeriodS`, read from the health file); then it is marked
// good. If it runs out of boots first, recovery marks it bad and boots the previous good slot.
//
// State lives in <stateDir>/slots.json (replaced atomically) and <stateDir>/current, a symlink to
// the active slot's directory that the systemd unit starts the firmware from.
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { extractBundle, verifyBundle } from './bundle.ts'
import type { RecoveryConfig, SlotName } from './config.ts'
import { RecoveryError } from './errors.ts'
import { fsyncPath, fsyncTree, removeTree, writeFileAtomicSync } from './fsutil.ts'

export type SlotStateName = 'empty' | 'pending' | 'good' | 'bad'

export interface SlotRecord {
  state: SlotStateName
  version: string | null
  installedAt: number | null
  /** Boots started since install (pending slots only). */
  boots: number
  /** When the latest boot of this slot started (ms since the epoch). */
  bootStartedAt: number | null
  /** Why the slot is in its state, for the operator. */
  note: string
}

export interface SlotsState {
  format: 'stage-slots/1'
  active: SlotName | null
  previous: SlotName | null
  slots: Record<SlotName, SlotRecord>
  /** Recent events, newest last (at most 50). */
  history: Array<{ at: number; event: string }>
}

export interface BootDecision {
  slot: SlotName
  dir: string
  version: string | null
  state: SlotStateName
  /** Set when this boot rolled back from a slot that failed its health period. */
  rolledBackFrom: { slot: SlotName; version: string | null } | null
}

export interface SlotManagerOptions {
  /** Injected clock (ms since the epoch). Defaults to Date.now. */
  now?: () => number
  /** Where events are logged. Defaults to stderr. */
  log?: (message: string) => void
}

const other = (s: SlotName): SlotName => (s === 'a' ? 'b' : 'a')

function emptySlot(): SlotRecord {
  return { state: 'empty', version: null, installedAt: null, boots: 0, bootStartedAt: null, note: '' }
}

export class SlotManager {
  readonly cfg: RecoveryConfig
  private readonly now: () => number
  private readonly log: (message: string) => void

  constructor(cfg: RecoveryConfig, options: SlotManagerOptions = {}) {
    this.cfg = cfg
    this.now = options.now ?? Date.now
    this.log = options.log ?? ((m) => process.stderr.write(`recovery: ${m}\n`))
  }

  get stateFile(): string {
    return join(this.cfg.stateDir, 'slots.json')
  }

  get currentLink(): string {
    return join(this.cfg.stateDir, 'current')
  }

  slotDir(slot: SlotName): string {
    return this.cfg.slots[slot]
  }

  read(): SlotsState {
    if (!existsSync(this.stateFile)) {
      return { format: 'stage-slots/1', active: null, previous: null, slots: { a: emptySlot(), b: emptySlot() }, history: [] }
    }
    try {
      const s = JSON.parse(readFileSync(this.stateFile, 'utf8')) as SlotsState
      if (s.format !== 'stage-slots/1') throw new Error('unknown format')
      return s
    } catch (e) {
      throw new RecoveryError('REC_ERR_IO', `${this.stateFile} is unreadable (${(e as Error).message}); restore it or reinstall a bundle`)
    }
  }

  private write(s: SlotsState, event?: string): void {
    if (event) {
      s.history.push({ at: this.now(), event })
      if (s.history.length > 50) s.history.splice(0, s.history.length - 50)
      this.log(event)
    }
    mkdirSync(this.cfg.stateDir, { recursive: true })
    writeFileAtomicSync(this.stateFile, JSON.stringify(s, null, 2) + '\n')
    this.pointCurrentAt(s.active)
  }

  /** Swaps the `current` symlink atomically (a new link renamed over the old one). */
  private pointCurrentAt(slot: SlotName | null): void {
    if (slot === null) return
    const tmp = `${this.currentLink}.tmp-${process.pid}`
    try { unlinkSync(tmp) } catch { /* none left over */ }
    symlinkSync(this.slotDir(slot), tmp)
    renameSync(tmp, this.currentLink)
    fsyncPath(this.cfg.stateDir)
  }

  /**
   * Verifies a bundle (signature, board, version, hashes) and installs it to the inactive slot,
   * which becomes active and pending. Nothing is written unless the bundle verifies.
   */
  install(bundlePath: string, publicKeyPath = this.cfg.publicKeyPath): { slot: SlotName; version: string; pending: boolean } {
    const s = this.read()
    const installedVersion = s.active ? s.slots[s.active].version : null
    const verified = verifyBundle(bundlePath, { publicKeyPath, board: this.cfg.board, installedVersion })
    const version = verified.header.manifest.version
    const target: SlotName = s.active ? other(s.active) : 'a'
    const dir = this.slotDir(target)
    const staging = `${dir}.staging`
    removeTree(staging)
    mkdirSync(dirname(dir), { recursive: true })
    try {
      extractBundle(verified, staging)
      fsyncTree(staging)
    } catch (e) {
      removeTree(staging)
      throw e
    }
    // The target slot is about to be replaced: record that before touching it.
    s.slots[target] = { ...emptySlot(), note: `being replaced by ${version}` }
    if (s.previous === target) s.previous = null
    this.write(s)
    removeTree(dir)
    renameSync(staging, dir)
    fsyncPath(dirname(dir))
    const pending = s.active !== null
    s.slots[target] = {
      state: pending ? 'pending' : 'good',
      version,
      installedAt: this.now(),
      boots: 0,
      bootStartedAt: null,
      note: pending ? `installed; needs ${this.cfg.healthyPeriodS} s healthy within ${this.cfg.bootTries} boots` : 'first install',
    }
    if (s.active) s.previous = s.active
    s.active = target
    this.write(s, `installed ${version} to slot ${target}${pending ? ' (pending health)' : ''}`)
    return { slot: target, version, pending }
  }

  /**
   * Marks the active pending slot good when the health file shows the firmware of that version
   * ACTIVE for the healthy period, during this slot's latest boot. Returns true when it did.
   */
  confirm(): boolean {
    const s = this.read()
    if (!s.active) return false
    const rec = s.slots[s.active]
    if (rec.state !== 'pending' || rec.bootStartedAt === null) return false
    let h: { state?: unknown; activeSince?: unknown; at?: unknown; version?: unknown }
    try {
      h = JSON.parse(readFileSync(this.cfg.healthFile, 'utf8')) as typeof h
    } catch {
      return false
    }
    if (h.state !== 'ACTIVE' || h.version !== rec.version) return false
    if (typeof h.activeSince !== 'number' || typeof h.at !== 'number') return false
    if (h.activeSince < rec.bootStartedAt) return false
    const healthyMs = h.at - h.activeSince
    if (healthyMs < this.cfg.healthyPeriodS * 1000) return false
    rec.state = 'good'
    rec.boots = 0
    rec.note = `healthy (watchdog ACTIVE for ${Math.round(healthyMs / 1000)} s)`
    this.write(s, `slot ${s.active} (${rec.version}) marked good: watchdog ACTIVE for ${Math.round(healthyMs / 1000)} s`)
    return true
  }

  /**
   * Called once per firmware start (before it). Counts the boot of a pending slot, and rolls
   * back to the previous good slot when the pending one has used up its tries.
   */
  boot(): BootDecision {
    this.confirm()
    const s = this.read()
    if (!s.active) throw new RecoveryError('REC_ERR_SLOT', 'no firmware is installed in either slot; install a bundle from the recovery console')
    let rolledBackFrom: BootDecision['rolledBackFrom'] = null
    let rec = s.slots[s.active]
    if (rec.state === 'pending' && rec.boots >= this.cfg.bootTries) {
      const back = other(s.active)
      const why = `did not report healthy (watchdog ACTIVE ${this.cfg.healthyPeriodS} s) within ${this.cfg.bootTries} boots`
      if (s.slots[back].state === 'good') {
        rec.state = 'bad'
        rec.note = why
        rolledBackFrom = { slot: s.active, version: rec.version }
        s.previous = s.active
        s.active = back
        this.write(s, `slot ${rolledBackFrom.slot} (${rec.version}) ${why}; rolled back to slot ${back} (${s.slots[back].version})`)
        rec = s.slots[back]
      } else {
        // Nothing better to boot: keep trying this one rather than boot nothing.
        rec.note = `${why}; no good slot to roll back to`
      }
    }
    const slot = s.active!
    if (rec.state === 'pending') rec.boots++
    rec.bootStartedAt = this.now()
    this.write(s, rec.state === 'pending' ? `booting slot ${slot} (${rec.version}), try ${rec.boots} of ${this.cfg.bootTries}` : undefined)
    return { slot, dir: this.slotDir(slot), version: rec.version, state: rec.state, rolledBackFrom }
  }

  /** Operator rollback: make the other slot active, if it holds good firmware. */
  rollback(reason = 'operator request'): { from: SlotName; to: SlotName; version: string | null } {
    const s = this.read()
    if (!s.active) throw new RecoveryError('REC_ERR_SLOT', 'no firmware is installed; nothing to roll back')
    const from = s.active
    const to = other(from)
    if (s.slots[to].state !== 'good') {
      throw new RecoveryError('REC_ERR_SLOT', `slot ${to} holds no good firmware (it is ${s.slots[to].state}); cannot roll back`)
    }
    if (s.slots[from].state === 'pending') {
      s.slots[from].state = 'bad'
      s.slots[from].note = `rolled back: ${reason}`
    }
    s.previous = from
    s.active = to
    this.write(s, `rolled back from slot ${from} (${s.slots[from].version}) to slot ${to} (${s.slots[to].version}): ${reason}`)
    return { from, to, version: s.slots[to].version }
  }
}
