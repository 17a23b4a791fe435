// The audit log: one JSON line per state-changing request (who by certificate CN and serial, what,
// when, result), on disk with size-based rotation (audit.jsonl -> audit.jsonl.1 -> ... .N). It never
// holds secrets: the principal is named by certificate subject and serial, bodies are the validated
// command arguments only.
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'

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
  /** Rotate when the file would pass this size. Defaults to 1 MiB. */
  maxBytes?: number
  /** Rotated files kept. Defaults to 5. */
  keep?: number
}

export class AuditLog {
  readonly file: string
  private readonly maxBytes: number
  private readonly keep: number
  private size: number

  constructor(file: string, opts: AuditOptions = {}) {
    this.file = file
    this.maxBytes = opts.maxBytes ?? 1024 * 1024
    this.keep = opts.keep ?? 5
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    this.size = existsSync(file) ? statSync(file).size : 0
  }

  write(e: AuditEntry): void {
    const line = JSON.stringify(e) + '\n'
    const n = Buffer.byteLength(line)
    if (this.size > 0 && this.size + n > this.maxBytes) this.rotate()
    appendFileSync(this.file, line, { mode: 0o600 })
    this.size += n
  }

  private rotate(): void {
    rmSync(`${this.file}.${this.keep}`, { force: true })
    for (let i = this.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`)
    }
    if (existsSync(this.file)) renameSync(this.file, `${this.file}.1`)
    this.size = 0
  }
}
