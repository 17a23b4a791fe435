// A/B slots. One slot is active (the firmware that boots); an update goes to the other one and
// becomes active as "pending". A pending slot has `bootTries` boots to report healthy (the
// firmware's watchdog ACTIVE for `healthyPeriodS`, read from the health file); then it is marked
// good. If it runs out of boots first, recovery marks it bad and boots the previous good slot.
//
// State lives in <stateDir>/slots.json (replaced atomically, with a last-known-good copy in
// slots.json.lkg) and <stateDir>/current, a symlink to the active slot's directory that the
// systemd unit starts the firmware from. If both copies are unreadable the state is rebuilt from
// the slots on disk, so a unit always boots some slot and can always be repaired.
//
// The healthy period is measured on the monotonic clock within one kernel boot (the observation
// lives in <stateDir>/health-watch.json): the firmware's wall-clock timestamps only identify a
// report, so an NTP jump cannot fake (or erase) a healthy period.
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { extractBundle, verifyBundle } from './bundle.ts'
import type { RecoveryConfig, SlotName } from './config.ts'
import { RecoveryError } from './errors.ts'
import { fsyncPath, fsyncTree, removeTree, writeFileAtomicSync } from './fsutil.ts'
import { currentBootId, takeLock } from './lock.ts'
import { isVersion } from './version.ts'

export type SlotStateName = 'empty' | 'pending' | 'good' | 'bad'

export interface SlotRecord {
  state: SlotStateName
  version: string | null
  installedAt: number | null
  /** Boots started since install (pending slots only). */
  boots: number
  /** When the latest boot of this slot started (ms since the epoch; for people, not for timing). */
  bootStartedAt: number | null
  /** Kernel boot id and monotonic ms of the latest boot of this slot (what timing uses). */
  bootId?: string | null
  bootMono?: number | null
  /** The health report on disk when this boot started (pid, at): a leftover, never this boot's. */
  healthAtBoot?: { pid: unknown; at: unknown } | null
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
  /** Injected wall clock (ms since the epoch), for history and notes. Defaults to Date.now. */
  now?: () => number
  /** Injected monotonic clock (ms), shared by all processes in one kernel boot. Defaults to CLOCK_MONOTONIC. */
  mono?: () => number
  /** Kernel boot id (a monotonic reading means nothing across boots). Defaults to /proc's boot_id. */
  bootId?: () => string
  /** Where events are logged. Defaults to stderr. */
  log?: (message: string) => void
}

/** The answer of confirm(): whether the slot is now good, and why not when it is not. */
export interface ConfirmResult {
  confirmed: boolean
  reason: string
}

/** What one kernel boot has seen of the pending slot's health (stateDir/health-watch.json). */
interface HealthWatch {
  bootId: string
  slot: SlotName
  bootMono: number
  /** Identifies one ACTIVE episode of one firmware process. */
  pid: unknown
  activeSince: unknown
  /** Monotonic ms when this episode was first seen, and when its report last changed. */
  firstMono: number
  lastAt: unknown
  lastAtMono: number
}

/** A report that has not changed for this long means the firmware stopped reporting (hung or gone). */
export const HEALTH_STALE_MS = 10_000

const other = (s: SlotName): SlotName => (s === 'a' ? 'b' : 'a')

function emptySlot(): SlotRecord {
  return { state: 'empty', version: null, installedAt: null, boots: 0, bootStartedAt: null, note: '' }
}

function emptyState(): SlotsState {
  return { format: 'stage-slots/1', active: null, previous: null, slots: { a: emptySlot(), b: emptySlot() }, history: [] }
}

function parseState(text: string): SlotsState {
  const s = JSON.parse(text) as SlotsState
  if (typeof s !== 'object' || s === null || s.format !== 'stage-slots/1') throw new Error('not a stage-slots/1 document')
  if (s.active !== null && s.active !== 'a' && s.active !== 'b') throw new Error('bad active slot')
  for (const k of ['a', 'b'] as const) {
    const r = s.slots?.[k]
    if (!r || !['empty', 'pending', 'good', 'bad'].includes(r.state) || !Number.isInteger(r.boots)) throw new Error(`bad record for slot ${k}`)
  }
  if (!Array.isArray(s.history)) s.history = []
  return s
}

const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000

export class SlotManager {
  readonly cfg: RecoveryConfig
  readonly #now: () => number
  readonly #mono: () => number
  readonly #bootId: () => string
  readonly #log: (message: string) => void

  constructor(cfg: RecoveryConfig, options: SlotManagerOptions = {}) {
    this.cfg = cfg
    this.#now = options.now ?? Date.now
    this.#mono = options.mono ?? monotonicMs
    this.#bootId = options.bootId ?? (() => currentBootId() ?? 'unknown')
    this.#log = options.log ?? ((m) => process.stderr.write(`recovery: ${m}\n`))
  }

  get lastGoodFile(): string {
    return `${this.stateFile}.lkg`
  }

  get watchFile(): string {
    return join(this.cfg.stateDir, 'health-watch.json')
  }

  get installLock(): string {
    return join(this.cfg.stateDir, 'install.lock')
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

  /**
   * The slot state: slots.json, else its last-known-good copy, else rebuilt from the slots on disk
   * (each one's manifest.json, and the `current` link for which is active). Never throws for a
   * corrupt file: a unit must always be able to boot and be repaired.
   */
  read(): SlotsState {
    if (!existsSync(this.stateFile) && !existsSync(this.lastGoodFile)) return emptyState()
    let why: string
    try {
      return parseState(readFileSync(this.stateFile, 'utf8'))
    } catch (e) {
      why = (e as Error).message
    }
    try {
      const s = parseState(readFileSync(this.lastGoodFile, 'utf8'))
      this.#log(`${this.stateFile} is unreadable (${why}); using its last-known-good copy`)
      return s
    } catch (e) {
      this.#log(
        `${this.stateFile} is unreadable (${why}) and so is its last-known-good copy (${(e as Error).message}); rebuilding the state from the slots on disk`,
      )
      return this.#rebuild()
    }
  }

  /** The state as the disk shows it: installed slots (good: nothing says otherwise), active = `current`. */
  #rebuild(): SlotsState {
    const s = emptyState()
    for (const k of ['a', 'b'] as const) {
      try {
        const m = JSON.parse(readFileSync(join(this.slotDir(k), 'manifest.json'), 'utf8')) as { version?: unknown }
        if (typeof m.version === 'string' && isVersion(m.version)) {
          s.slots[k] = { ...emptySlot(), state: 'good', version: m.version, note: 'state rebuilt from the slot on disk (slots.json was unreadable)' }
        }
      } catch {
        /* not installed, or incomplete: leave it empty */
      }
    }
    let linked: SlotName | null = null
    try {
      const target = readlinkSync(this.currentLink)
      linked = target === this.slotDir('a') ? 'a' : target === this.slotDir('b') ? 'b' : null
    } catch {
      /* no link */
    }
    if (linked && s.slots[linked].state === 'good') s.active = linked
    else if (s.slots.a.state === 'good' || s.slots.b.state === 'good') s.active = s.slots.a.state === 'good' ? 'a' : 'b'
    if (s.active) s.previous = other(s.active)
    s.history.push({ at: this.#now(), event: 'state rebuilt from the slots on disk' })
    return s
  }

  #write(s: SlotsState, event?: string): void {
    if (event) {
      s.history.push({ at: this.#now(), event })
      if (s.history.length > 50) s.history.splice(0, s.history.length - 50)
      this.#log(event)
    }
    mkdirSync(this.cfg.stateDir, { recursive: true })
    const text = `${JSON.stringify(s, null, 2)}\n`
    writeFileAtomicSync(this.stateFile, text)
    // The copy is written after the file, so at any moment at least one of them is whole.
    writeFileAtomicSync(this.lastGoodFile, text)
    this.#pointCurrentAt(s.active)
  }

  /** Swaps the `current` symlink atomically (a new link renamed over the old one). */
  #pointCurrentAt(slot: SlotName | null): void {
    if (slot === null) return
    const tmp = `${this.currentLink}.tmp-${process.pid}`
    try {
      unlinkSync(tmp)
    } catch {
      /* none left over */
    }
    symlinkSync(this.slotDir(slot), tmp)
    renameSync(tmp, this.currentLink)
    fsyncPath(this.cfg.stateDir)
  }

  /**
   * Verifies a bundle (signature, board, version, hashes) and installs it to the inactive slot,
   * which becomes active and pending. Nothing is written unless the bundle verifies. Refused while
   * the active slot is still pending (the inactive slot then holds the only good firmware), and
   * while another install runs (the install lock).
   */
  install(bundlePath: string, publicKeyPath = this.cfg.publicKeyPath): { slot: SlotName; version: string; pending: boolean } {
    // A refused bundle leaves no trace: not even the state directory the lock needed.
    const fresh = !existsSync(this.cfg.stateDir)
    const release = takeLock(this.installLock, 'another install or rollback')
    try {
      return this.#installLocked(bundlePath, publicKeyPath)
    } finally {
      release()
      if (fresh)
        try {
          rmdirSync(this.cfg.stateDir)
        } catch {
          /* not empty: the install wrote state */
        }
    }
  }

  #refuseWhilePending(s: SlotsState, what: string): void {
    if (s.active && s.slots[s.active].state === 'pending') {
      const r = s.slots[s.active]
      throw new RecoveryError(
        'REC_ERR_SLOT',
        `slot ${s.active} (${r.version}) is still pending (boot ${r.boots} of ${this.cfg.bootTries}) and slot ${other(s.active)} holds the only good firmware; ${what} waits until it is confirmed healthy, or "rollback" first`,
      )
    }
  }

  #installLocked(bundlePath: string, publicKeyPath: string): { slot: SlotName; version: string; pending: boolean } {
    const s0 = this.read()
    this.#refuseWhilePending(s0, 'a new install')
    const installedVersion = s0.active ? s0.slots[s0.active].version : null
    const verified = verifyBundle(bundlePath, { publicKeyPath, board: this.cfg.board, installedVersion })
    const version = verified.header.manifest.version
    const target: SlotName = s0.active ? other(s0.active) : 'a'
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
    // Read again: a boot may have counted meanwhile (boots do not take the install lock).
    const s = this.read()
    if (s.active !== s0.active) {
      removeTree(staging)
      throw new RecoveryError('REC_ERR_BUSY', `the active slot changed while ${version} was being written; install again`)
    }
    // The target slot is about to be replaced: record that before touching it.
    s.slots[target] = { ...emptySlot(), note: `being replaced by ${version}` }
    if (s.previous === target) s.previous = null
    this.#write(s)
    removeTree(dir)
    renameSync(staging, dir)
    fsyncPath(dirname(dir))
    const pending = s.active !== null
    s.slots[target] = {
      state: pending ? 'pending' : 'good',
      version,
      installedAt: this.#now(),
      boots: 0,
      bootStartedAt: null,
      note: pending ? `installed; needs ${this.cfg.healthyPeriodS} s healthy within ${this.cfg.bootTries} boots` : 'first install',
    }
    if (s.active) s.previous = s.active
    s.active = target
    this.#write(s, `installed ${version} to slot ${target}${pending ? ' (pending health)' : ''}`)
    return { slot: target, version, pending }
  }

  #readWatch(): HealthWatch | null {
    try {
      return JSON.parse(readFileSync(this.watchFile, 'utf8')) as HealthWatch
    } catch {
      return null
    }
  }

  /** Replaced atomically but not fsynced: it means nothing after a power cut anyway (new boot id). */
  #writeWatch(w: HealthWatch | null): void {
    try {
      if (w === null) {
        unlinkSync(this.watchFile)
        return
      }
      mkdirSync(this.cfg.stateDir, { recursive: true })
      const tmp = `${this.watchFile}.tmp-${process.pid}`
      writeFileSync(tmp, `${JSON.stringify(w)}\n`)
      renameSync(tmp, this.watchFile)
    } catch {
      /* best effort: the next poll observes again */
    }
  }

  /**
   * Marks the active pending slot good once the firmware of that version, started in this boot of
   * the slot, has reported ACTIVE (one unbroken episode, its report still being refreshed) for the
   * healthy period, measured on the monotonic clock. Call it repeatedly while the firmware runs
   * (recovery start / supervise poll it); each call observes. Says why when it does not confirm.
   */
  confirm(): ConfirmResult {
    const no = (reason: string): ConfirmResult => ({ confirmed: false, reason })
    const s = this.read()
    if (!s.active) return no('no firmware is installed')
    const slot = s.active
    const rec = s.slots[slot]
    if (rec.state !== 'pending') return no(`slot ${slot} (${rec.version}) is ${rec.state}; nothing to confirm`)
    if (rec.bootStartedAt === null) return no(`slot ${slot} (${rec.version}) has not booted since it was installed`)
    const bootId = this.#bootId()
    if (typeof rec.bootMono !== 'number' || rec.bootId !== bootId) {
      return no(`slot ${slot} (${rec.version}) has not booted since the unit last started`)
    }
    let h: { state?: unknown; activeSince?: unknown; at?: unknown; version?: unknown; pid?: unknown }
    try {
      h = JSON.parse(readFileSync(this.cfg.healthFile, 'utf8')) as typeof h
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      return no(
        code === 'ENOENT' ? `no health report from the firmware yet (${this.cfg.healthFile})` : `the health report ${this.cfg.healthFile} is unreadable`,
      )
    }
    if (rec.healthAtBoot && h.pid === rec.healthAtBoot.pid && h.at === rec.healthAtBoot.at) {
      return no(`no health report from the firmware since this boot started (${this.cfg.healthFile} is from before it)`)
    }
    if (h.version !== rec.version) {
      return no(
        `the firmware reports version ${String(h.version)}, but slot ${slot} holds ${rec.version} (a report from other firmware, or an image whose manifest.json names another version than its bundle)`,
      )
    }
    const mono = this.#mono()
    if (h.state !== 'ACTIVE') {
      this.#writeWatch(null)
      return no(`the firmware's watchdog is ${String(h.state)}, not ACTIVE`)
    }
    let w = this.#readWatch()
    if (!w || w.bootId !== bootId || w.slot !== slot || w.bootMono !== rec.bootMono || w.pid !== h.pid || w.activeSince !== h.activeSince) {
      w = { bootId, slot, bootMono: rec.bootMono, pid: h.pid, activeSince: h.activeSince, firstMono: mono, lastAt: h.at, lastAtMono: mono }
      this.#writeWatch(w)
    } else if (h.at !== w.lastAt) {
      w.lastAt = h.at
      w.lastAtMono = mono
      this.#writeWatch(w)
    }
    if (mono - w.lastAtMono > HEALTH_STALE_MS) {
      // The episode is broken: if the reports resume, the healthy period counts from then.
      this.#writeWatch(null)
      return no(`the health report has not changed for ${Math.round((mono - w.lastAtMono) / 1000)} s (firmware hung or stopped)`)
    }
    const healthyMs = w.lastAtMono - w.firstMono
    const needMs = this.cfg.healthyPeriodS * 1000
    if (healthyMs < needMs) return no(`watchdog ACTIVE for ${Math.floor(healthyMs / 1000)} s of the ${this.cfg.healthyPeriodS} s needed`)
    rec.state = 'good'
    rec.boots = 0
    rec.note = `healthy (watchdog ACTIVE for ${Math.round(healthyMs / 1000)} s)`
    this.#write(s, `slot ${slot} (${rec.version}) marked good: watchdog ACTIVE for ${Math.round(healthyMs / 1000)} s`)
    this.#writeWatch(null)
    return { confirmed: true, reason: rec.note }
  }

  /**
   * Called once per firmware start (before it). Counts the boot of a pending slot, and rolls
   * back to the previous good slot when the pending one has used up its tries.
   */
  boot(): BootDecision {
    const s = this.read()
    if (!s.active) throw new RecoveryError('REC_ERR_SLOT', 'no firmware is installed in either slot; install a bundle from the recovery console')
    let rolledBackFrom: BootDecision['rolledBackFrom'] = null
    let rec = s.slots[s.active]
    // A slot directory that is gone (removed by hand, a half-finished install) cannot boot.
    const back0 = other(s.active)
    if (!existsSync(this.slotDir(s.active)) && s.slots[back0].state === 'good' && existsSync(this.slotDir(back0))) {
      rec.state = 'bad'
      rec.note = `its directory ${this.slotDir(s.active)} is missing`
      rolledBackFrom = { slot: s.active, version: rec.version }
      s.previous = s.active
      s.active = back0
      this.#write(s, `slot ${rolledBackFrom.slot} (${rec.version}): ${rec.note}; booting slot ${back0} (${s.slots[back0].version})`)
      rec = s.slots[back0]
    }
    if (rec.state === 'pending' && rec.boots >= this.cfg.bootTries) {
      const back = other(s.active)
      const why = `did not report healthy (watchdog ACTIVE ${this.cfg.healthyPeriodS} s) within ${this.cfg.bootTries} boots`
      if (s.slots[back].state === 'good') {
        rec.state = 'bad'
        rec.note = why
        rolledBackFrom = { slot: s.active, version: rec.version }
        s.previous = s.active
        s.active = back
        this.#write(s, `slot ${rolledBackFrom.slot} (${rec.version}) ${why}; rolled back to slot ${back} (${s.slots[back].version})`)
        rec = s.slots[back]
      } else {
        // Nothing better to boot: keep trying this one rather than boot nothing.
        rec.note = `${why}; no good slot to roll back to`
      }
    }
    const slot = s.active!
    if (rec.state === 'pending') rec.boots++
    rec.bootStartedAt = this.#now()
    rec.bootId = this.#bootId()
    rec.bootMono = this.#mono()
    let leftover: { pid?: unknown; at?: unknown } | null = null
    try {
      leftover = JSON.parse(readFileSync(this.cfg.healthFile, 'utf8')) as { pid?: unknown; at?: unknown }
    } catch {
      /* none */
    }
    rec.healthAtBoot = leftover ? { pid: leftover.pid, at: leftover.at } : null
    this.#writeWatch(null)
    this.#write(s, rec.state === 'pending' ? `booting slot ${slot} (${rec.version}), try ${rec.boots} of ${this.cfg.bootTries}` : undefined)
    return { slot, dir: this.slotDir(slot), version: rec.version, state: rec.state, rolledBackFrom }
  }

  /** Operator rollback: make the other slot active, if it holds good firmware. */
  rollback(reason = 'operator request'): { from: SlotName; to: SlotName; version: string | null } {
    const release = takeLock(this.installLock, 'an install')
    try {
      return this.#rollbackLocked(reason)
    } finally {
      release()
    }
  }

  #rollbackLocked(reason: string): { from: SlotName; to: SlotName; version: string | null } {
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
    this.#write(s, `rolled back from slot ${from} (${s.slots[from].version}) to slot ${to} (${s.slots[to].version}): ${reason}`)
    return { from, to, version: s.slots[to].version }
  }
}
