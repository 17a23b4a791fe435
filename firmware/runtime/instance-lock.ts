// One firmware per board: two `firmware run` on the same data directory would share the store,
// the presets and the health file recovery reads, and fight over the UARTs. The lock is a file
// created exclusively, naming its owner by something a reboot cannot fake: the pid, the boot id
// (/proc/sys/kernel/random/boot_id) and the process's start time (field 22 of /proc/<pid>/stat,
// clock ticks since boot). On a unit the data directory survives power cuts and pids repeat at
// every boot, so a live pid alone proves nothing: the lock is held only when all three match a
// running process now. Anything else is a lock left by a crash or a power cut, and is taken over.
//
// File format (docs/store.md), text, one `key=value` per line after the pid:
//   <pid>
//   boot_id=<uuid>
//   start_time=<ticks>
//   board=<name>
//   started_at=<ISO time>
// The first line alone is the old format (pid only); such a lock counts as held only when the pid
// runs and started before the lock file was written in this boot.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'

export interface InstanceLock {
  readonly path: string
  /** What the lock file said when we took it over (a crash or power cut left it), else null. */
  readonly stale: LockOwner | null
  release(): void
}

/** The owner a lock file names. */
export interface LockOwner {
  pid: number
  bootId: string | null
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), or null (old format). */
  startTime: number | null
  board: string | null
  startedAt: string | null
}

/** Where the kernel's facts come from; tests pass a stand-in for another boot. */
export interface ProcFacts {
  bootId(): string | null
  /** /proc/<pid>/stat field 22, or null when no such process. */
  startTime(pid: number): number | null
  /** Boot time, ms since the epoch (/proc/stat btime). */
  bootTimeMs(): number | null
}

export const procFacts: ProcFacts = {
  bootId() {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null
    } catch {
      return null
    }
  },
  startTime(pid) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // The command name is in parentheses and may hold spaces: count fields after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const v = Number(rest[22 - 3])
      return Number.isFinite(v) ? v : null
    } catch {
      return null
    }
  },
  bootTimeMs() {
    try {
      const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))
      return m ? Number(m[1]) * 1000 : null
    } catch {
      return null
    }
  },
}

export function lockPath(dataDir: string): string {
  return join(dataDir, 'firmware.lock')
}

export function formatLock(o: LockOwner): string {
  return `${o.pid}\nboot_id=${o.bootId ?? ''}\nstart_time=${o.startTime ?? ''}\nboard=${o.board ?? ''}\nstarted_at=${o.startedAt ?? ''}\n`
}

/** Parses a lock file's text; null when it names no pid. */
export function parseLock(text: string): LockOwner | null {
  const lines = text.split('\n')
  const pid = Number(lines[0]?.trim())
  if (!Number.isInteger(pid) || pid <= 0) return null
  const kv = new Map<string, string>()
  for (const l of lines.slice(1)) {
    const i = l.indexOf('=')
    if (i > 0) kv.set(l.slice(0, i).trim(), l.slice(i + 1).trim())
  }
  const st = kv.get('start_time')
  return {
    pid,
    bootId: kv.get('boot_id') || null,
    startTime: st !== undefined && st !== '' && Number.isFinite(Number(st)) ? Number(st) : null,
    board: kv.get('board') || null,
    startedAt: kv.get('started_at') || null,
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the process a lock names still runs: same boot, same pid, same start time. For an
 * old-format lock (pid only): the pid runs, the file was written in this boot, and the process
 * started before it (a pid reused later started after the file was written).
 */
export function ownerRuns(o: LockOwner, lockMtimeMs: number, facts: ProcFacts = procFacts): boolean {
  if (!alive(o.pid)) return false
  const boot = facts.bootId()
  if (o.bootId !== null && boot !== null) {
    if (o.bootId !== boot) return false
    if (o.startTime !== null) {
      const st = facts.startTime(o.pid)
      return st === null ? true : st === o.startTime
    }
  }
  const bootAt = facts.bootTimeMs()
  if (bootAt !== null && lockMtimeMs < bootAt) return false
  const st = facts.startTime(o.pid)
  if (bootAt !== null && st !== null) {
    const startedAt = bootAt + (st * 1000) / 100 // USER_HZ is 100 on Linux
    if (startedAt > lockMtimeMs + 2000) return false
  }
  return true
}

/** The lock's owner when it is held now, else null (no file, or left by a crash or power cut). */
export function lockHolder(dataDir: string, facts: ProcFacts = procFacts): LockOwner | null {
  const path = lockPath(dataDir)
  try {
    const o = parseLock(readFileSync(path, 'utf8'))
    return o && ownerRuns(o, statSync(path).mtimeMs, facts) ? o : null
  } catch {
    return null
  }
}

export function acquireInstanceLock(dataDir: string, board: string, facts: ProcFacts = procFacts): InstanceLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = lockPath(dataDir)
  const me: LockOwner = {
    pid: process.pid,
    bootId: facts.bootId(),
    startTime: facts.startTime(process.pid),
    board,
    startedAt: new Date().toISOString(),
  }
  let stale: LockOwner | null = null
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      try {
        writeSync(fd, formatLock(me))
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      return {
        path,
        stale,
        release: () => {
          try {
            if (parseLock(readFileSync(path, 'utf8'))?.pid === process.pid) rmSync(path, { force: true })
          } catch {
            /* already gone */
          }
        },
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let owner: LockOwner | null = null
      let mtime = 0
      try {
        owner = parseLock(readFileSync(path, 'utf8'))
        mtime = statSync(path).mtimeMs
      } catch {
        /* vanished meanwhile: retry */
      }
      if (owner && ownerRuns(owner, mtime, facts)) {
        throw new FirmwareError(
          'FW_ERR_BUSY',
          `the firmware is already running on board ${board} (pid ${owner.pid}); stop it first, or use another board profile`,
        )
      }
      stale = owner
      rmSync(path, { force: true }) // left by a process that is gone (a crash, a power cut)
    }
  }
  throw new FirmwareError('FW_ERR_BUSY', `could not take ${path}; another firmware is starting on board ${board}`)
}
