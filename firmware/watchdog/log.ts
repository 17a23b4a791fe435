// The watchdog's transition log: a bounded ring in memory (for `faults` on the console and API)
// and JSON lines on disk in <dataDir>/watchdog/, rotated by size so a flapping fault cannot fill
// the disk. Disk writes are synchronous appends: transitions are rare, and a record that reaches
// the disk before a crash is worth a few microseconds on the tick.
import { appendFileSync, mkdirSync, renameSync, statSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { TransitionRecord } from '../runtime/types.ts'

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
      } catch {
        this.diskErrors++
      }
    }
  }

  append(record: TransitionRecord): void {
    this.#ring.push(record)
    if (this.#ring.length > this.#capacity) this.#ring.splice(0, this.#ring.length - this.#capacity)
    if (this.file === null) return
    const line = JSON.stringify(record) + '\n'
    try {
      if (this.#bytes + line.length > this.#maxBytes && this.#bytes > 0) this.#rotate()
      appendFileSync(this.file, line)
      this.#bytes += Buffer.byteLength(line)
    } catch {
      this.diskErrors++
    }
  }

  /** The newest `limit` records, oldest first. */
  recent(limit = this.#capacity): TransitionRecord[] {
    return this.#ring.slice(Math.max(0, this.#ring.length - limit))
  }

  #rotate(): void {
    const f = this.file!
    rmSync(`${f}.${this.#keep}`, { force: true })
    for (let i = this.#keep - 1; i >= 1; i--) {
      if (existsSync(`${f}.${i}`)) renameSync(`${f}.${i}`, `${f}.${i + 1}`)
    }
    renameSync(f, `${f}.1`)
    this.#bytes = 0
  }
}

/** Reads a transitions.jsonl file (skipping torn lines, e.g. after power loss). */
export function readTransitionFile(file: string): TransitionRecord[] {
  if (!existsSync(file)) return []
  const out: TransitionRecord[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue
    try {
      out.push(JSON.parse(line) as TransitionRecord)
    } catch {
      // a torn last line
    }
  }
  return out
}
