// Lock files: the firmware's instance lock (read, to refuse a reset under a live firmware) and
// recovery's own install lock (taken, so two installs never write the slots at once). A lock names
// its owner's pid, kernel boot id and process start time, so a lock left by a crash, a power cut
// or a reused pid is recognised as stale. Recovery's own code: it imports nothing from firmware/.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { RecoveryError } from './errors.ts'

export interface LockOwner {
  pid: number
  /** Kernel boot id the owner wrote, when it wrote one. */
  bootId?: string
  /** Process start time the owner wrote (as /proc/<pid>/stat field 22, or ms since the epoch). */
  startTime?: number
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined)

/**
 * Parses a lock file. Tolerates the formats in use or likely: "<pid>\n"; lines with a boot id and
 * a start time (bare, or key=value); a JSON object {pid, bootId, startTime}. Null when the file is
 * missing or names no pid.
 */
export function readLockOwner(path: string): LockOwner | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return null
  }
  const owner: Partial<LockOwner> = {}
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  if (typeof json === 'object' && json !== null) {
    const j = json as Record<string, unknown>
    const pid = num(j.pid)
    if (pid !== undefined) owner.pid = pid
    const boot = j.bootId ?? j.boot_id ?? j.boot
    if (typeof boot === 'string') owner.bootId = boot.trim()
    const start = num(j.startTime ?? j.start_time ?? j.starttime ?? j.start)
    if (start !== undefined) owner.startTime = start
  } else {
    const bare: string[] = []
    for (const tok of text.split(/\s+/).filter(Boolean)) {
      const kv = /^([A-Za-z_]+)[=:](.*)$/.exec(tok)
      if (!kv) {
        bare.push(tok)
        continue
      }
      const key = kv[1]!.toLowerCase()
      const v = kv[2]!
      if (key === 'pid' && num(v) !== undefined) owner.pid = num(v)!
      else if (key.startsWith('boot')) owner.bootId = v
      else if (key.startsWith('start') && num(v) !== undefined) owner.startTime = num(v)!
    }
    for (const tok of bare) {
      if (/^\d+$/.test(tok)) {
        if (owner.pid === undefined) owner.pid = Number(tok)
        else if (owner.startTime === undefined) owner.startTime = Number(tok)
      } else if (/^[0-9a-f-]{32,36}$/i.test(tok) && owner.bootId === undefined) {
        owner.bootId = tok
      }
    }
  }
  return owner.pid !== undefined && Number.isInteger(owner.pid) && owner.pid > 0 ? (owner as LockOwner) : null
}

export function currentBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

/** Start time of `pid` as /proc/<pid>/stat field 22 (clock ticks since boot), or null. */
export function procStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The fields after the command name (which may hold spaces) start after the last ')'.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isFinite(ticks) ? ticks : null
  } catch {
    return null
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
 * Whether the lock's owner is still the live process that took it: its pid is alive, in this kernel
 * boot (when the lock says which), and has the start time the lock records (when it records one;
 * clock ticks as in /proc, or ms since the epoch within a second; USER_HZ is 100 on Linux).
 */
export function lockHeld(owner: LockOwner | null): boolean {
  if (!owner || !alive(owner.pid)) return false
  if (owner.bootId !== undefined) {
    const boot = currentBootId()
    if (boot !== null && owner.bootId !== boot) return false
  }
  if (owner.startTime !== undefined) {
    const ticks = procStartTicks(owner.pid)
    if (ticks !== null && ticks !== owner.startTime) {
      const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
      const startMs = Date.now() - uptimeS * 1000 + ticks * 10
      if (Math.abs(startMs - owner.startTime) > 1000) return false
    }
  }
  return true
}

/**
 * Takes the lock file at `path` (exclusive create; a stale lock is taken over) or throws
 * REC_ERR_BUSY naming `what` holds it. Returns the release function.
 */
export function takeLock(path: string, what: string): () => void {
  mkdirSync(dirname(path), { recursive: true })
  const me = `pid=${process.pid}\nboot=${currentBootId() ?? ''}\nstart=${procStartTicks(process.pid) ?? ''}\n`
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o600)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RecoveryError('REC_ERR_IO', `cannot create ${path} (${(e as NodeJS.ErrnoException).code})`)
      const owner = readLockOwner(path)
      if (owner === null) {
        // Just created by another process that has not written its pid yet, or left empty by a crash.
        if (attempt < 2) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
          continue
        }
      } else if (lockHeld(owner)) {
        throw new RecoveryError('REC_ERR_BUSY', `${what} is in progress (pid ${owner.pid}); wait for it to finish`)
      }
      rmSync(path, { force: true })
      continue
    }
    try {
      writeSync(fd, me)
    } finally {
      closeSync(fd)
    }
    return () => {
      try {
        if (readLockOwner(path)?.pid === process.pid) rmSync(path, { force: true })
      } catch {
        /* already gone */
      }
    }
  }
  throw new RecoveryError('REC_ERR_BUSY', `could not take ${path}; ${what} is starting`)
}
