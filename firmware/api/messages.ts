// The messages between the API's main-thread supervisor (supervisor.ts) and its worker (worker.ts),
// and the plain configuration a worker starts with. Plain data only: it crosses a thread.

import type { CommandResult, Principal } from '../commands/types.ts'
import type { Meters } from '../engine/types.ts'
import type { AuditOptions } from '../transport/audit.ts'
import type { JournalEntry, Replay } from '../transport/event-journal.ts'
import type { RateLimitOptions } from '../transport/ratelimit.ts'
import type { SpecLite } from './routes.ts'

/** What the supervisor hands a worker (plain data). */
export interface WorkerConfig {
  dataDir: string
  port: number
  host: string
  /** The host was defaulted ("::"): fall back to 0.0.0.0 where IPv6 is unavailable. */
  hostFallback: boolean
  maxBodyBytes: number
  rateLimit: RateLimitOptions
  audit: AuditOptions
  maxEventStreams: number
  maxEventStreamsPerClient: number
  /** The unit's counts, reported by status. */
  device: { inputs: number; outputs: number; beams: number }
  crlPollMs: number
  readCacheMs: number
  specs: SpecLite[]
  openapi: string
  /** Where the built FOH page is (web.ts); a directory without a build serves a 503 at /. */
  webDir: string
  /** The supervisor's record when this worker started (restarts so far, the last cause), for status. */
  supervision: WorkerSupervision
  /** Accept the test-only crash and hang messages. Off outside tests. */
  testHooks: boolean
}

/** What the API's status reply says about the API itself (fixed for a worker's life: a restart replaces it). */
export interface WorkerSupervision {
  restarts: number
  crashes: number
  hangs: number
  /** The last time the worker went down and why, or null. */
  last: { at: number; cause: string } | null
}

/** Main thread -> worker. */
export type ToWorker =
  | { t: 'result'; id: number; result: CommandResult }
  | { t: 'specs'; specs: SpecLite[]; openapi: string }
  | { t: 'event'; entry: JournalEntry }
  | { t: 'replayed'; id: number; replay: Replay; last: number }
  | { t: 'meters'; meters: Meters | null }
  | { t: 'reloadCrl'; id: number }
  | { t: 'stop' }
  /** Liveness: the worker answers `pong` at once; a worker that stops answering is restarted. */
  | { t: 'ping' }
  /** Test-only (config.testHooks): an uncaught exception, a block of `ms` milliseconds, or memory until the heap limit. */
  | { t: 'testCrash' }
  | { t: 'testHang'; ms: number }
  | { t: 'testLeak' }

/** Worker -> main thread. */
export type FromWorker =
  | { t: 'ready'; port: number; host: string; files: { audit: string; refused: string; log: string } }
  | { t: 'failed'; code: string; message: string }
  | { t: 'execute'; id: number; command: string; args: Record<string, unknown>; principal: Principal }
  | { t: 'streams'; count: number; metersHz: number; wantsEvents: boolean }
  | { t: 'ack'; id: number }
  /** Entries of the unit's event journal after `after` (a reconnecting stream's Last-Event-ID). */
  | { t: 'replay'; id: number; after: number }
  | { t: 'stopped' }
  | { t: 'pong' }
