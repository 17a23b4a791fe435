// The audit log: who did what, when, with what result — on disk, with size-based rotation, holding no
// secrets (the principal is named by certificate subject and serial, bodies are the validated command
// arguments only).
//
// No client can push another principal's records out:
// - **Accepted changes** (status 2xx) go to `audit.jsonl`; **refusals** (4xx/5xx) to their own file,
//   `audit-refused.jsonl`. A certificate that may change nothing (an observer) can only add refusals,
//   so it can never rotate a change record away.
// - **Records are bounded**: a path longer than 256 characters and a string argument longer than 128
//   are cut, their full length kept (`pathLength`, `{"truncated":..., "length": n}`).
// - **Repeated refusals are aggregated per principal**: the first refusal of a principal in a minute
//   is written in full, the rest of that minute become one `"kind":"refusals"` line with counts by
//   status and code and the first and last time. A flood at the rate limit costs a few hundred
//   bytes a minute.
// - **Change records are kept for a minimum**: rotation never drops a change file while the records
//   it holds are among the newest `minRecords` (default 10,000) or younger than `minAgeMs` (default
//   7 days) — unless the change files together pass `hardMaxBytes` (default 64 MiB), the disk's guard.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export interface AuditEntry {
  /** ISO time. */
  at: string
  who: { cn: string; serial: string; role: string } | null
  remote: string
  method: string
  path: string
  command: string | null
  args: Record<string, unknown> | null
  status: number
  result: 'ok' | string
}

export interface AuditOptions {
  /** Rotate a file when it would pass this size. Defaults to 1 MiB. */
  maxBytes?: number
  /** Rotated files kept at least (the change log may keep more, see minRecords/minAgeMs). Defaults to 5. */
  keep?: number
  /** Change records always kept, newest first, whatever else is written. Defaults to 10000. */
  minRecords?: number
  /** Change records younger than this are always kept, ms. Defaults to 7 days. */
  minAgeMs?: number
  /** The change files may grow past `keep` files up to this many bytes in all. Defaults to 64 MiB. */
  hardMaxBytes?: number
  /** Refusals of one principal within this window after its first are aggregated, ms. Defaults to 60000. */
  refusalWindowMs?: number
  /** Clock (ms since the epoch), injectable for tests. Defaults to Date.now. */
  now?: () => number
}

/** Longest path and string argument kept whole. */
export const MAX_PATH = 256
export const MAX_STRING = 128

/** Cuts what a client controls to a bounded size, keeping the length. */
export function boundEntry(e: AuditEntry): AuditEntry & { pathLength?: number } {
  const out: AuditEntry & { pathLength?: number } = { ...e }
  if (e.path.length > MAX_PATH) {
    out.path = e.path.slice(0, MAX_PATH)
    out.pathLength = e.path.length
  }
  if (e.args) {
    const args: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(e.args).slice(0, 32)) {
      args[k.slice(0, 64)] = typeof v === 'string' && v.length > MAX_STRING ? { truncated: v.slice(0, MAX_STRING), length: v.length } : v
    }
    out.args = args
  }
  return out
}

/** One rotating JSONL file: file, file.1 ... file.N. */
class RotatingFile {
  readonly file: string
  size: number
  readonly #maxBytes: number
  constructor(file: string, maxBytes: number) {
    this.file = file
    this.#maxBytes = maxBytes
    this.size = existsSync(file) ? statSync(file).size : 0
  }
  /** Appends a line; `rotate` is called first when the line would pass the size. */
  append(line: string, rotate: () => void): void {
    const n = Buffer.byteLength(line)
    if (this.size > 0 && this.size + n > this.#maxBytes) {
      rotate()
      this.size = 0
    }
    appendFileSync(this.file, line, { mode: 0o600 })
    this.size += n
  }
  rotated(): string[] {
    const out: string[] = []
    for (let i = 1; existsSync(`${this.file}.${i}`); i++) out.push(`${this.file}.${i}`)
    return out
  }
  shift(count: number): void {
    for (let i = count; i >= 1; i--) {
      if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`)
    }
    if (existsSync(this.file)) renameSync(this.file, `${this.file}.1`)
  }
}

interface RefusalTally {
  who: AuditEntry['who']
  remote: string
  from: string
  to: string
  count: number
  statuses: Record<string, number>
  results: Record<string, number>
  windowEnds: number
}

export class AuditLog {
  /** Accepted changes. */
  readonly file: string
  /** Refusals (and their aggregates). */
  readonly refusedFile: string
  readonly #changes: RotatingFile
  readonly #refusals: RotatingFile
  readonly #keep: number
  readonly #minRecords: number
  readonly #minAgeMs: number
  readonly #hardMaxBytes: number
  readonly #windowMs: number
  readonly #now: () => number
  readonly #tallies = new Map<string, RefusalTally>()
  #flushTimer: NodeJS.Timeout | null = null

  constructor(file: string, opts: AuditOptions = {}) {
    this.file = file
    const base = basename(file).replace(/\.jsonl$/, '')
    this.refusedFile = join(dirname(file), `${base}-refused.jsonl`)
    const maxBytes = opts.maxBytes ?? 1024 * 1024
    this.#keep = opts.keep ?? 5
    this.#minRecords = opts.minRecords ?? 10_000
    this.#minAgeMs = opts.minAgeMs ?? 7 * 86400_000
    this.#hardMaxBytes = opts.hardMaxBytes ?? 64 * 1024 * 1024
    this.#windowMs = opts.refusalWindowMs ?? 60_000
    this.#now = opts.now ?? Date.now
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    this.#changes = new RotatingFile(file, maxBytes)
    this.#refusals = new RotatingFile(this.refusedFile, maxBytes)
  }

  write(e: AuditEntry): void {
    this.flush(false)
    const rec = boundEntry(e)
    if (e.status >= 200 && e.status < 300) {
      this.#changes.append(`${JSON.stringify(rec)}\n`, () => this.#rotateChanges())
      this.#noteChange(e.at)
      return
    }
    const key = e.who ? `cert:${e.who.serial}` : `addr:${e.remote}`
    const tally = this.#tallies.get(key)
    if (tally) {
      tally.count++
      tally.to = e.at
      tally.statuses[e.status] = (tally.statuses[e.status] ?? 0) + 1
      tally.results[e.result] = (tally.results[e.result] ?? 0) + 1
      return
    }
    // The first refusal of a window is written whole; the rest of the window is counted.
    this.#refusals.append(`${JSON.stringify(rec)}\n`, () => this.#rotateRefusals())
    if (this.#tallies.size > 10_000) this.flush(true)
    this.#tallies.set(key, {
      who: e.who,
      remote: e.remote,
      from: e.at,
      to: e.at,
      count: 0,
      statuses: {},
      results: {},
      windowEnds: this.#now() + this.#windowMs,
    })
  }

  /** Writes the aggregates of windows that have ended (all of them with `all`). */
  flush(all = true): void {
    const now = this.#now()
    for (const [key, t] of this.#tallies) {
      if (!all && t.windowEnds > now) continue
      this.#tallies.delete(key)
      if (t.count === 0) continue
      const line = {
        at: t.to,
        kind: 'refusals',
        who: t.who,
        remote: t.remote,
        count: t.count,
        from: t.from,
        to: t.to,
        statuses: t.statuses,
        results: t.results,
      }
      this.#refusals.append(`${JSON.stringify(line)}\n`, () => this.#rotateRefusals())
    }
  }

  /**
   * Writes the aggregates of ended windows every `ms` even when nothing else is written (an unref'd
   * timer; close() stops it). Every transport that audits calls this once.
   */
  flushEvery(ms: number): void {
    if (this.#flushTimer) clearInterval(this.#flushTimer)
    this.#flushTimer = setInterval(() => {
      try {
        this.flush(false)
      } catch {
        /* auditing never takes a transport down */
      }
    }, ms)
    this.#flushTimer.unref()
  }

  /** Writes what is pending and stops the periodic flush (call on stop). */
  close(): void {
    if (this.#flushTimer) clearInterval(this.#flushTimer)
    this.#flushTimer = null
    this.flush(true)
  }

  #rotateRefusals(): void {
    for (const f of this.#refusals.rotated().slice(this.#keep - 1)) rmSync(f, { force: true })
    this.#refusals.shift(Math.min(this.#keep - 1, this.#refusals.rotated().length))
  }

  // What each rotated change file holds, index 0 = audit.jsonl.1. Each file is read at most once
  // (the first rotation after start); later rotations shift this list, so a rotation never rereads
  // megabytes on the thread that writes (the OSC audit runs on the control plane's thread).
  #changeMeta: Array<{ records: number; bytes: number; newest: number }> | null = null
  #liveRecords = -1
  #liveNewest = 0

  static #meta(f: string): { records: number; bytes: number; newest: number } {
    const text = readFileSync(f, 'utf8')
    const lines = text.split('\n').filter(Boolean)
    let newest = 0
    try {
      newest = Date.parse(JSON.parse(lines[lines.length - 1] ?? '{}').at) || 0
    } catch {
      /* a torn line */
    }
    return { records: lines.length, bytes: Buffer.byteLength(text), newest }
  }

  /** Notes a change record written to the live file (for the retention decision). */
  #noteChange(at: string): void {
    if (this.#liveRecords < 0) this.#liveRecords = existsSync(this.file) ? AuditLog.#meta(this.file).records : 0
    this.#liveRecords++
    this.#liveNewest = Date.parse(at) || this.#now()
  }

  // Changes: the oldest files go only when what remains still holds minRecords records and every
  // record younger than minAgeMs — or when the change files pass the hard size limit.
  #rotateChanges(): void {
    const rotated = this.#changes.rotated()
    if (!this.#changeMeta || this.#changeMeta.length !== rotated.length) this.#changeMeta = rotated.map((f) => AuditLog.#meta(f))
    const live = this.#liveRecords >= 0 ? { records: this.#liveRecords, bytes: this.#changes.size, newest: this.#liveNewest } : AuditLog.#meta(this.file)
    this.#changes.shift(rotated.length)
    const info = [live, ...this.#changeMeta]
    this.#liveRecords = 0
    let total = info.reduce((a, b) => a + b.bytes, 0)
    const now = this.#now()
    while (info.length > this.#keep) {
      const oldest = info[info.length - 1]!
      const newer = info.slice(0, -1).reduce((a, b) => a + b.records, 0)
      const needed = newer < this.#minRecords || now - oldest.newest < this.#minAgeMs
      if (needed && total <= this.#hardMaxBytes) break
      rmSync(`${this.file}.${info.length}`, { force: true })
      total -= oldest.bytes
      info.pop()
    }
    this.#changeMeta = info
  }
}
