// The encrypted local API, main-thread side. startApi() runs the HTTPS server in a worker thread
// (worker.ts) so TLS and hundreds of clients never delay the control plane's tick (a blocked event
// loop makes the audio thread's heartbeat stale and it falls back to dry). Commands still run here,
// through the one command registry: the worker sends `execute`, this side calls registry.execute()
// and answers. Appliance events reach the worker only while event streams are open.
//
// The worker is supervised (supervisor.ts): one that exits, throws, runs out of heap or stops
// answering the periodic ping is replaced on the same port, with the same identity and the CRL as it
// is on disk, after a backoff (100 ms doubling to 10 s; back to 100 ms once a worker has run a minute).
// The appliance and its sound never depend on any of this: the API is a transport.
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BoardProfile } from '../board/profile.ts'
import type { RegistryForApi } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import type { AuditOptions } from '../transport/audit.ts'
import { journalFor } from '../transport/event-journal.ts'
import type { RateLimitOptions } from '../transport/ratelimit.ts'
import type { WorkerConfig } from './messages.ts'
import { openApiText } from './openapi.ts'
import { type ApiStats, type ApiTestHooks, type RestartOptions, restartPolicy } from './restart-policy.ts'
import { liteSpecs } from './routes.ts'
import { WorkerSupervisor } from './supervisor.ts'
import { DEFAULT_WEB_DIR } from './web.ts'

export type { ApiStats, ApiTestHooks, RegistryForApi, RestartOptions }

export interface ApiOptions {
  /** TCP port. Defaults to profile.api.port; 0 picks a free port (tests). */
  port?: number
  /** Listen address. Defaults to "::" (all interfaces, IPv4 and IPv6). */
  host?: string
  /** Where the identity, CRL and logs live. Defaults to profile.dataDir. */
  dataDir?: string
  /** Largest request body in bytes. Defaults to 16384. */
  maxBodyBytes?: number
  /** Per-client (per certificate) limits. Defaults to 50 requests/s, bursts of 100. */
  rateLimit?: RateLimitOptions
  /** Audit log rotation and retention. Defaults to 1 MiB per file, 5 files kept, change records kept at least 10000 and 7 days (docs/api.md). */
  audit?: AuditOptions
  /** Most event streams (SSE and WebSocket together) open at once. Defaults to 64. */
  maxEventStreams?: number
  /** Most event streams one client certificate may hold open at once. Defaults to 4. */
  maxEventStreamsPerClient?: number
  /** How often the CRL file is checked for changes, ms. Defaults to 1000. */
  crlPollMs?: number
  /** Reads (observe commands) within this many ms share one answer; 0 disables. Defaults to 50. */
  readCacheMs?: number
  /** How the worker is watched and restarted. */
  restart?: RestartOptions
  /** The worker's heap limit in MiB: an API that runs out is restarted, the process is not. Defaults to 512. */
  maxHeapMb?: number
  /**
   * Where crashes and restarts are reported besides api.log. Defaults to the appliance log
   * (app.logLine, source "api") when the appliance has one.
   */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void
  /** Where the built FOH page is. Defaults to web/dist/foh beside firmware/ (firmware/api/web.ts). */
  webDir?: string
  /** Test-only: the handle gets `testHooks` (crash or hang the worker on purpose). Defaults to false. */
  testHooks?: boolean
}

export interface ApiHandle {
  /** The port; the same across worker restarts. */
  port: number
  stop(): Promise<void>
  /** Re-reads the CRL now (it is also reloaded when the file changes); resolves once applied. */
  reloadCrl(): Promise<void>
  /** Paths of the files the API writes (for operators and tests): accepted changes, refusals, the log. */
  files: { audit: string; refused: string; log: string }
  /** Restarts, crashes and hangs of the worker so far. */
  stats(): ApiStats
  /** Present only with ApiOptions.testHooks. */
  testHooks?: ApiTestHooks
}

export async function startApi(app: ApplianceApi, registry: RegistryForApi, profile: BoardProfile, opts: ApiOptions = {}): Promise<ApiHandle> {
  const base = workerConfig(app, registry, profile, opts)
  const logDir = join(base.dataDir, 'logs')
  const logFile = join(logDir, 'api.log')
  const applianceLog = opts.log ?? (app.logLine ? (level: 'info' | 'warn' | 'error', m: string) => app.logLine?.(level, 'api', m) : null)
  // Crashes and restarts go where operators look: api.log and the appliance log. Causes are error
  // messages and exit codes only, never key material or request contents.
  const report = (level: 'info' | 'warn' | 'error', message: string): void => {
    try {
      appendFileSync(logFile, `${JSON.stringify({ at: new Date().toISOString(), level, source: 'api', message })}\n`, { mode: 0o600 })
    } catch {
      /* logging must never take anything down */
    }
    try {
      applianceLog?.(level, message)
    } catch {
      /* as above */
    }
  }
  const sup = new WorkerSupervisor(
    {
      app,
      registry,
      base,
      report,
      // Every event gets its id and time here, once per unit: a restarted worker continues the same ids.
      journal: journalFor(app),
      policy: restartPolicy(opts.restart),
      maxHeapMb: opts.maxHeapMb ?? 512,
    },
    { audit: join(logDir, 'audit.jsonl'), refused: join(logDir, 'audit-refused.jsonl'), log: logFile },
  )
  await sup.start()
  const handle: ApiHandle = {
    port: sup.port,
    get files() {
      return sup.files
    },
    stats: () => ({ ...sup.stats, last: sup.stats.last ? { ...sup.stats.last } : null }),
    reloadCrl: () => sup.reloadCrl(),
    stop: () => sup.stop(),
  }
  if (opts.testHooks === true) {
    handle.testHooks = {
      worker: () => sup.worker,
      crash: () => sup.tell({ t: 'testCrash' }),
      hang: (ms) => sup.tell({ t: 'testHang', ms }),
      leak: () => sup.tell({ t: 'testLeak' }),
    }
  }
  return handle
}

/** The first worker's configuration: the options with their defaults, the commands and the OpenAPI text. */
function workerConfig(app: ApplianceApi, registry: RegistryForApi, profile: BoardProfile, opts: ApiOptions): WorkerConfig {
  return {
    dataDir: opts.dataDir ?? profile.dataDir,
    port: opts.port ?? profile.api.port,
    host: opts.host ?? '::',
    hostFallback: opts.host === undefined,
    maxBodyBytes: opts.maxBodyBytes ?? 16384,
    rateLimit: opts.rateLimit ?? {},
    audit: opts.audit ?? {},
    maxEventStreams: opts.maxEventStreams ?? 64,
    maxEventStreamsPerClient: opts.maxEventStreamsPerClient ?? 4,
    device: { inputs: profile.audio.inputs, outputs: profile.audio.outputs, beams: app.beams().length },
    crlPollMs: opts.crlPollMs ?? 1000,
    readCacheMs: opts.readCacheMs ?? 50,
    specs: liteSpecs(registry, app),
    openapi: openApiText(registry),
    webDir: opts.webDir ?? DEFAULT_WEB_DIR,
    supervision: { restarts: 0, crashes: 0, hangs: 0, last: null },
    testHooks: opts.testHooks === true,
  }
}
