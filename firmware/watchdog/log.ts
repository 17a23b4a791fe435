// The watchdog's transition log: a bounded ring in memory (for `faults` on the console and API)
// and JSON lines on disk in <dataDir>/watchdog/, rotated by size so a flapping fault cannot fill
// the disk. Each record is written synchronously (in the page cache before the tick goes on, so it
// survives the process being killed) and then fdatasync'ed off the event loop (libuv's pool: a
// slow disk must not stall the tick, whose heartbeat keeps the audio processed); a power cut can
// lose only a record whose sync is still in flight, a few milliseconds.
// A power cut mid-append leaves a torn last line; the next append starts on a fresh line, so the
// torn one cannot swallow it, and readers skip (and count) lines that do not parse.
import { closeSync, existsSync, fdatasync, fdatasyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { TransitionRecord } from './types.ts'

export interface TransitionLogOptions {
  /** Directory for transitions.jsonl; null keeps the log in memory only. */
  dir: string | null
  /** Records kept in memory. Defaults to 256. */
  capacity?: number
  /** Rotate the file when it grows past this. Defaults to 256 KiB. */
  maxBytes?: number
  /** Rotated files kept (transitions.jsonl.1 ... .N). Defaults to 3. */
  keep?: number
}

export class TransitionLog {
  readonly file: string | null
  readonly #capacity: number
  readonly #maxBytes: number
  readonly #keep: number
  #ring: TransitionRecord[] = []
  #bytes = 0
  #fd: number | null = null
  /** The file does not end in a newline (a torn append): the next record starts a fresh line. */
  #torn = false
  /** Disk errors are counted, never thrown: a full disk must not stop the watchdog. */
  diskErrors = 0

  constructor(opts: TransitionLogOptions) {
    this.#capacity = opts.capacity ?? 256
    this.#maxBytes = opts.maxBytes ?? 256 * 1024
    this.#keep = opts.keep ?? 3
    this.file = opts.dir === null ? null : join(opts.dir, 'transitions.jsonl')
    if (opts.dir !== null && this.file !== null) {
      try {
        mkdirSync(opts.dir, { recursive: true })
        this.#bytes = existsSync(this.file) ? statSync(this.file).size : 0
        this.#torn = this.#bytes > 0 && lastByte(this.file) !== 0x0a
      } catch {
        this.diskErrors++
      }
    }
  }

  append(record: TransitionRecord): void {
    this.#ring.push(record)
    if (this.#ring.length > this.#capacity) this.#ring.splice(0, this.#ring.length - this.#capacity)
    if (this.file === null) return
    try {
      const json = JSON.stringify(record)
      if (this.#bytes + json.length + 2 > this.#maxBytes && this.#bytes > 0) this.#rotate()
      const line = `${(this.#torn ? '\n' : '') + json}\n`
      this.#fd ??= openSync(this.file, 'a', 0o600)
      const buf = Buffer.from(line)
      writeSync(this.#fd, buf)
      this.#torn = false
      this.#bytes += buf.length
      this.#sync()
    } catch {
      this.diskErrors++
    }
  }

  #syncing = false
  #syncAgain = false
  #closeAfterSync: number | null = null
  /** Syncs completed (for tests). */
  syncs = 0

  /** fdatasync off the event loop; appends during a sync get one more sync after it. */
  #sync(): void {
    if (this.#syncing) {
      this.#syncAgain = true
      return
    }
    const fd = this.#fd
    if (fd === null) return
    this.#syncing = true
    fdatasync(fd, (err) => {
      this.#syncing = false
      if (err) this.diskErrors++
      else this.syncs++
      if (this.#closeAfterSync === fd) {
        this.#closeAfterSync = null
        try {
          if (this.#syncAgain) fdatasyncSync(fd) // records written during that sync (at stop, not on the tick)
          closeSync(fd)
        } catch {
          /* already closed */
        }
        this.#syncAgain = false
      } else if (this.#syncAgain) {
        this.#syncAgain = false
        this.#sync()
      }
    })
  }

  /** Closes the file (the appliance's stop; after the sync in flight). Appending again reopens it. */
  close(): void {
    const fd = this.#fd
    if (fd === null) return
    this.#fd = null
    if (this.#syncing) {
      this.#closeAfterSync = fd
      return
    }
    try {
      closeSync(fd)
    } catch {
      /* already closed */
    }
  }

  /** The newest `limit` records, oldest first. */
  recent(limit = this.#capacity): TransitionRecord[] {
    return this.#ring.slice(Math.max(0, this.#ring.length - limit))
  }

  #rotate(): void {
    const f = this.file!
    this.close()
    rmSync(`${f}.${this.#keep}`, { force: true })
    for (let i = this.#keep - 1; i >= 1; i--) {
      if (existsSync(`${f}.${i}`)) renameSync(`${f}.${i}`, `${f}.${i + 1}`)
    }
    renameSync(f, `${f}.1`)
    this.#bytes = 0
    this.#torn = false
  }
}

function lastByte(file: string): number {
  const fd = openSync(file, 'r')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, statSync(file).size - 1)
    return b[0]!
  } finally {
    closeSync(fd)
  }
}

/** Reads a transitions.jsonl file, skipping lines that do not parse (torn by a power cut). */
export function readTransitionFile(file: string): TransitionRecord[] {
  return readTransitionFileCounted(file).records
}

/** The records of a transitions.jsonl file, and how many lines were skipped as unreadable. */
export function readTransitionFileCounted(file: string): { records: TransitionRecord[]; skipped: number } {
  if (!existsSync(file)) return { records: [], skipped: 0 }
  const records: TransitionRecord[] = []
  let skipped = 0
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue
    try {
      const r = JSON.parse(line) as TransitionRecord
      if (typeof r === 'object' && r !== null && typeof r.to === 'string') records.push(r)
      else skipped++
    } catch {
      skipped++
    }
  }
  return { records, skipped }
}
