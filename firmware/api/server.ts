// The encrypted local API, main-thread side. startApi() runs the HTTPS server in a worker thread
// (worker.ts) so TLS and hundreds of clients never delay the control plane's tick (a blocked event
// loop makes the audio thread's heartbeat stale and it falls back to dry). Commands still run here,
// through the one command registry: the worker sends `execute`, this side calls registry.execute()
// and answers. Appliance events reach the worker only while event streams are open.
import { Worker } from 'node:worker_threads'
import { appendFileSync } from 'node:fs'
import type { BoardProfile } from '../board/profile.ts'
import type { ApplianceApi, ApplianceEvent } from '../runtime/types.ts'
import type { CommandResult } from '../commands/types.ts'
import { FirmwareError, ERRORS, type ErrorCode } from '../errors.ts'
import { liteSpecs, type RegistryForApi } from './routes.ts'
import { openApiText } from './openapi.ts'
import type { AuditOptions } from './audit.ts'
import type { RateLimitOptions } from './ratelimit.ts'
import type { FromWorker, ToWorker, WorkerConfig } from './worker.ts'

export type { RegistryForApi }

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
  /** Audit log rotation. Defaults to 1 MiB per file, 5 files kept. */
  audit?: AuditOptions
  /** Most event streams open at once. Defaults to 64. */
  maxEventStreams?: number
  /** How often the CRL file is checked for changes, ms. Defaults to 1000. */
  crlPollMs?: number
  /** Reads (observe commands) within this many ms share one answer; 0 disables. Defaults to 50. */
  readCacheMs?: number
}

export interface ApiHandle {
  port: number
  stop(): Promise<void>
  /** Re-reads the CRL now (it is also reloaded when the file changes); resolves once applied. */
  reloadCrl(): Promise<void>
  /** Paths of the files the API writes (for operators and tests). */
  files: { audit: string; log: string }
}

export async function startApi(app: ApplianceApi, registry: RegistryForApi, profile: BoardProfile, opts: ApiOptions = {}): Promise<ApiHandle> {
  const config: WorkerConfig = {
    dataDir: opts.dataDir ?? profile.dataDir,
    port: opts.port ?? profile.api.port,
    host: opts.host ?? '::',
    hostFallback: opts.host === undefined,
    maxBodyBytes: opts.maxBodyBytes ?? 16384,
    rateLimit: opts.rateLimit ?? {},
    audit: opts.audit ?? {},
    maxEventStreams: opts.maxEventStreams ?? 64,
    crlPollMs: opts.crlPollMs ?? 1000,
    readCacheMs: opts.readCacheMs ?? 50,
    specs: liteSpecs(registry, app),
    openapi: openApiText(registry),
  }
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { apiWorker: true, config } })
  const send = (m: ToWorker): void => worker.postMessage(m)

  let unsubscribe: (() => void) | null = null
  let meterTimer: NodeJS.Timeout | null = null
  const acks = new Map<number, () => void>()
  let nextAck = 1
  let stopped = false
  let onStopped: (() => void) | null = null

  // More commands may be registered later (inference, store): send the new list when it changes.
  let knownCount = registry.list().length
  const specTimer = setInterval(() => {
    const n = registry.list().length
    if (n !== knownCount) {
      knownCount = n
      send({ t: 'specs', specs: liteSpecs(registry, app), openapi: openApiText(registry) })
    }
  }, 1000)
  specTimer.unref()

  const onMessage = (m: FromWorker): void => {
    switch (m.t) {
      case 'execute': {
        Promise.resolve()
          .then(() => registry.execute(m.command, m.args, m.principal))
          .catch((e: unknown): CommandResult => ({ ok: false, command: m.command, code: 'FW_ERR_COMMAND_FAILED', message: (e as Error).message }))
          .then((result) => { if (!stopped) send({ t: 'result', id: m.id, result }) })
        break
      }
      case 'streams': {
        if (m.wantsEvents && !unsubscribe) {
          unsubscribe = app.subscribe((ev: ApplianceEvent) => { if (ev.type !== 'meters') send({ t: 'event', ev }) })
        } else if (!m.wantsEvents && unsubscribe) {
          unsubscribe()
          unsubscribe = null
        }
        if (meterTimer) clearInterval(meterTimer)
        meterTimer = m.metersHz > 0 ? setInterval(() => send({ t: 'meters', meters: app.meters() }), 1000 / m.metersHz) : null
        break
      }
      case 'ack': { const a = acks.get(m.id); acks.delete(m.id); a?.(); break }
      case 'stopped': onStopped?.(); break
      default: break
    }
  }

  const ready = await new Promise<Extract<FromWorker, { t: 'ready' }>>((resolve, reject) => {
    const early = (m: FromWorker): void => {
      if (m.t === 'ready') { worker.off('message', early); resolve(m) }
      else if (m.t === 'failed') {
        worker.off('message', early)
        const code = (m.code in ERRORS ? m.code : 'FW_ERR_IO') as ErrorCode
        reject(new FirmwareError(code, m.message))
      }
    }
    worker.on('message', early)
    worker.once('error', (e) => reject(new FirmwareError('FW_ERR_IO', `the API worker failed to start: ${e.message}`)))
    worker.once('exit', (c) => reject(new FirmwareError('FW_ERR_IO', `the API worker exited during start (code ${c})`)))
  }).catch(async (e: unknown) => {
    clearInterval(specTimer)
    await worker.terminate()
    throw e
  })
  worker.on('message', onMessage)

  const cleanup = (): void => {
    stopped = true
    clearInterval(specTimer)
    if (meterTimer) clearInterval(meterTimer)
    unsubscribe?.()
    unsubscribe = null
  }
  worker.on('exit', cleanup)
  // An API that dies must say so where operators look; the appliance and its sound carry on.
  worker.on('error', (e) => {
    try {
      appendFileSync(ready.files.log, JSON.stringify({ at: new Date().toISOString(), level: 'error', source: 'api', message: `API worker failed: ${e.message}; the API is down until the firmware restarts` }) + '\n', { mode: 0o600 })
    } catch { /* nothing more to do */ }
  })

  return {
    port: ready.port,
    files: ready.files,
    reloadCrl: () => new Promise<void>((resolve) => {
      const id = nextAck++
      acks.set(id, resolve)
      send({ t: 'reloadCrl', id })
    }),
    stop: async () => {
      if (stopped) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000)
        onStopped = () => { clearTimeout(timer); resolve() }
        send({ t: 'stop' })
      })
      cleanup()
      await worker.terminate()
    },
  }
}
