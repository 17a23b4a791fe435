// How the firmware tells recovery it is healthy. Recovery (recovery/, which must not import this
// code) marks a newly installed slot good only after this file has said "ACTIVE" continuously for
// the board's healthy period; otherwise it counts a failed boot and, after N, rolls back.
//
// The file (default <dataDir>/health.json, or $STAGE_HEALTH_FILE) is one JSON object, replaced
// atomically:
//   {"format":"stage-health/1","state":"ACTIVE","activeSince":<ms>|null,"at":<ms>,
//    "version":"<firmware version>","pid":<pid>}
// `activeSince` is when the watchdog last entered ACTIVE (null when not ACTIVE); `at` is when the
// file was written. The runtime calls report() from its tick; writes are rate-limited.
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { WatchdogStateName } from '../contract/appliance.ts'
import { writeFileAtomic } from './atomic.ts'

/** The watchdog's state, or STOPPED once the firmware has shut down (nothing is passing through it). */
export type HealthState = WatchdogStateName | 'STOPPED'

export interface HealthRecord {
  format: 'stage-health/1'
  state: HealthState
  activeSince: number | null
  at: number
  version: string
  pid: number
}

export interface HealthReporterOptions {
  /** Firmware version, as in the image manifest. */
  version: string
  /** Minimum milliseconds between writes while the state is unchanged. Defaults to 2000. */
  intervalMs?: number
}

export function healthFilePath(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.STAGE_HEALTH_FILE ?? join(dataDir, 'health.json')
}

export class HealthReporter {
  readonly file: string
  readonly #version: string
  readonly #intervalMs: number
  #lastState: HealthState | undefined
  #lastWrite = 0
  #activeSince: number | null = null
  #writing: Promise<void> | undefined
  #dirReady = false

  constructor(file: string, options: HealthReporterOptions) {
    this.file = file
    this.#version = options.version
    this.#intervalMs = options.intervalMs ?? 2000
  }

  /**
   * Reports the watchdog state; writes when the state changed or the interval passed. Never
   * throws (a full disk must not take the firmware down); resolves when any write finishes.
   */
  report(state: HealthState, now = Date.now()): Promise<void> {
    if (state === 'ACTIVE' && this.#lastState !== 'ACTIVE') this.#activeSince = now
    if (state !== 'ACTIVE') this.#activeSince = null
    const changed = state !== this.#lastState
    this.#lastState = state
    if (!changed && now - this.#lastWrite < this.#intervalMs) return Promise.resolve()
    if (this.#writing && !changed) return this.#writing
    this.#lastWrite = now
    const rec: HealthRecord = { format: 'stage-health/1', state, activeSince: this.#activeSince, at: now, version: this.#version, pid: process.pid }
    const prev = this.#writing ?? Promise.resolve()
    const run: Promise<void> = prev
      .then(async () => {
        if (!this.#dirReady) {
          await mkdir(dirname(this.file), { recursive: true })
          this.#dirReady = true
        }
        await writeFileAtomic(this.file, `${JSON.stringify(rec)}\n`)
      })
      .catch(() => {})
      .finally(() => {
        if (this.#writing === run) this.#writing = undefined
      })
    this.#writing = run
    return run
  }
}
