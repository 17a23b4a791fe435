// The encrypted local API, main-thread side. startApi() runs the HTTPS server in a worker thread
// (worker.ts) so TLS and hundreds of clients never delay the control plane's tick (a blocked event
// loop makes the audio thread's heartbeat stale and it falls back to dry). Commands still run here,
// through the one command registry: the worker sends `execute`, this side calls registry.execute()
// and answers. Appliance events reach the worker only while event streams are open.
//
// This side also supervises the worker: one that exits, throws, runs out of heap or stops answering
// the periodic ping is replaced on the same port, with the same identity and the CRL as it is on
// disk, after a backoff (100 ms doubling to 10 s; back to 100 ms once a worker has run a minute).
// Requests in flight in a dead worker lose their connection; a command they had already asked for
// finishes here once and its answer is dropped (a new worker never sees an old worker's answers).
// The appliance and its sound never depend on any of this: the API is a transport.
import { Worker } from 'node:worker_threads'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BoardProfile } from '../board/profile.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { journalFor, type JournalEntry } from '../transport/event-journal.ts'
import type { CommandResult } from '../commands/types.ts'
import { FirmwareError, ERRORS, type ErrorCode } from '../errors.ts'
import { liteSpecs } from './routes.ts'
import { type RegistryForApi } from '../commands/types.ts'
import { openApiText } from './openapi.ts'
import type { AuditOptions } from '../transport/audit.ts'
import type { RateLimitOptions } from '../transport/ratelimit.ts'
import type { FromWorker, ToWorker, WorkerConfig, WorkerSupervision } from './worker.ts'

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
  /** Test-only: the handle gets `testHooks` (crash or hang the worker on purpose). Defaults to false. */
  testHooks?: boolean
}

export interface RestartOptions {
  /** Delay before the first restart after a failure, ms. Defaults to 100. */
  initialDelayMs?: number
  /** The delay doubles with each failure in a row up to this, ms. Defaults to 10000. */
  maxDelayMs?: number
  /** A worker that ran this long before it failed restarts after initialDelayMs again, ms. Defaults to 60000. */
  healthyMs?: number
  /** How often the main thread pings the worker, ms. Defaults to 1000. */
  pingMs?: number
  /** A worker that has not answered a ping for this long is hung: it is terminated and restarted, ms. Defaults to 5000. */
  hangMs?: number
  /** A (re)started worker that is not listening within this long is given up on, ms. Defaults to 30000. */
  startTimeoutMs?: number
}

/** How the API has fared since startApi(). */
export interface ApiStats {
  /** up: a worker is serving; restarting: waiting for or starting a new worker; stopped: stop() was called. */
  state: 'up' | 'restarting' | 'stopped'
  /** Workers started after the first one (successful restarts). */
  restarts: number
  /** Workers that exited or threw on their own. */
  crashes: number
  /** Workers terminated because they stopped answering the ping. */
  hangs: number
  /** Restart attempts that failed (e.g. the port was taken); each is retried after the backoff. */
  failedStarts: number
  /** When the serving worker became ready (ms since the epoch), or null while none is. */
  upSince: number | null
  /** The last time a worker went down and why. */
  last: { at: number; cause: string } | null
  /** The delay before the next restart, ms (the backoff as it stands). */
  nextDelayMs: number
}

/** Test-only handles on the worker (ApiOptions.testHooks). */
export interface ApiTestHooks {
  /** The worker serving now, or null between workers (tests may terminate() it). */
  worker(): Worker | null
  /** Makes the worker throw an uncaught exception. */
  crash(): void
  /** Blocks the worker for `ms` without answering anything (a hang). */
  hang(ms: number): void
  /** Makes the worker allocate until it hits its heap limit (ApiOptions.maxHeapMb). */
  leak(): void
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

/** One worker and what the main side keeps for it; a restart makes a new one. */
interface WorkerLife {
  worker: Worker
  alive: boolean
  /** performance.now() of the last pong (or of readiness). */
  lastPong: number
  /** The message of an uncaught error, if it threw. */
  error: string | null
  /** Terminated by the supervisor because it stopped answering. */
  hung: boolean
  unsubscribe: (() => void) | null
  meterTimer: NodeJS.Timeout | null
  acks: Map<number, () => void>
  readyAt: number
}

type Ready = Extract<FromWorker, { t: 'ready' }>

export async function startApi(app: ApplianceApi, registry: RegistryForApi, profile: BoardProfile, opts: ApiOptions = {}): Promise<ApiHandle> {
  const ro = opts.restart ?? {}
  const initialDelayMs = Math.max(1, ro.initialDelayMs ?? 100)
  const maxDelayMs = Math.max(initialDelayMs, ro.maxDelayMs ?? 10_000)
  const healthyMs = ro.healthyMs ?? 60_000
  const pingMs = Math.max(10, ro.pingMs ?? 1000)
  // A hang is judged over at least two pings, so one slow answer is not a hang.
  const hangMs = Math.max(2 * pingMs, ro.hangMs ?? 5000)
  const startTimeoutMs = ro.startTimeoutMs ?? 30_000
  const maxHeapMb = opts.maxHeapMb ?? 512
  const testHooks = opts.testHooks === true

  const base: WorkerConfig = {
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
    supervision: { restarts: 0, crashes: 0, hangs: 0, last: null },
    testHooks,
  }
  const logFile = join(base.dataDir, 'logs', 'api.log')
  const applianceLog = opts.log ?? (app.logLine ? (level: 'info' | 'warn' | 'error', m: string) => app.logLine?.(level, 'api', m) : null)
  // Crashes and restarts go where operators look: api.log and the appliance log. Causes are error
  // messages and exit codes only, never key material or request contents.
  const report = (level: 'info' | 'warn' | 'error', message: string): void => {
    try {
      appendFileSync(logFile, JSON.stringify({ at: new Date().toISOString(), level, source: 'api', message }) + '\n', { mode: 0o600 })
    } catch { /* logging must never take anything down */ }
    try { applianceLog?.(level, message) } catch { /* as above */ }
  }

  // Every event gets its id and time here, once per unit: a restarted worker continues the same ids.
  const journal = journalFor(app)

  const stats: ApiStats = { state: 'restarting', restarts: 0, crashes: 0, hangs: 0, failedStarts: 0, upSince: null, last: null, nextDelayMs: initialDelayMs }
  let current: WorkerLife | null = null
  let stopping = false
  let restartTimer: NodeJS.Timeout | null = null
  let starting: Promise<void> | null = null
  let nextAck = 1
  // Set from the first worker's ready message; a restart keeps both.
  let port = base.port
  let files = { audit: join(base.dataDir, 'logs', 'audit.jsonl'), refused: join(base.dataDir, 'logs', 'audit-refused.jsonl'), log: logFile }

  const sendTo = (life: WorkerLife, m: ToWorker): void => {
    if (!life.alive) return
    try { life.worker.postMessage(m) } catch { /* the worker is going away; its exit is handled */ }
  }

  // A worker's own messages. Answers always go back to the worker that asked: ids restart at 1 in a
  // new worker, so an old worker's answer must never reach a new one.
  const onMessage = (life: WorkerLife, m: FromWorker): void => {
    switch (m.t) {
      case 'execute': {
        Promise.resolve()
          .then(() => registry.execute(m.command, m.args, m.principal))
          .catch((e: unknown): CommandResult => ({ ok: false, command: m.command, code: 'FW_ERR_COMMAND_FAILED', message: (e as Error).message }))
          .then((result) => { if (!stopping) sendTo(life, { t: 'result', id: m.id, result }) })
        break
      }
      case 'streams': {
        if (m.wantsEvents && !life.unsubscribe) {
          life.unsubscribe = journal.subscribe((entry: JournalEntry) => sendTo(life, { t: 'event', entry }))
        } else if (!m.wantsEvents && life.unsubscribe) {
          life.unsubscribe()
          life.unsubscribe = null
        }
        if (life.meterTimer) clearInterval(life.meterTimer)
        life.meterTimer = m.metersHz > 0 ? setInterval(() => sendTo(life, { t: 'meters', meters: app.meters() }), 1000 / m.metersHz) : null
        break
      }
      case 'replay': sendTo(life, { t: 'replayed', id: m.id, replay: journal.since(m.after), last: journal.lastId() }); break
      case 'ack': { const a = life.acks.get(m.id); life.acks.delete(m.id); a?.(); break }
      case 'pong': life.lastPong = performance.now(); break
      default: break
    }
  }

  // What the main side holds for a worker is released when it exits, whatever the reason.
  const release = (life: WorkerLife): void => {
    life.alive = false
    if (life.meterTimer) clearInterval(life.meterTimer)
    life.meterTimer = null
    life.unsubscribe?.()
    life.unsubscribe = null
    // A new worker reads the CRL as it is on disk when it starts, so a pending reload is done.
    for (const a of life.acks.values()) a()
    life.acks.clear()
  }

  /** Starts one worker; resolves once it listens. A worker that fails later goes to onDown(). */
  const spawn = (cfg: WorkerConfig): Promise<{ life: WorkerLife; ready: Ready }> => new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: { apiWorker: true, config: cfg },
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb },
    })
    const life: WorkerLife = { worker, alive: true, lastPong: performance.now(), error: null, hung: false, unsubscribe: null, meterTimer: null, acks: new Map(), readyAt: 0 }
    let settled = false
    const fail = (e: FirmwareError): void => {
      if (settled) return
      settled = true
      clearTimeout(startTimer)
      worker.terminate().then(() => reject(e), () => reject(e))
    }
    const startTimer = setTimeout(() => fail(new FirmwareError('FW_ERR_IO', `the API worker did not start listening within ${startTimeoutMs} ms`)), startTimeoutMs)
    startTimer.unref()
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'ready') {
        if (settled) return
        settled = true
        clearTimeout(startTimer)
        life.readyAt = Date.now()
        life.lastPong = performance.now()
        resolve({ life, ready: m })
      } else if (m.t === 'failed') {
        const code = (m.code in ERRORS ? m.code : 'FW_ERR_IO') as ErrorCode
        fail(new FirmwareError(code, m.message))
      } else {
        onMessage(life, m)
      }
    })
    // Always listened to: an 'error' nobody listens to would take the whole process down.
    worker.on('error', (e: Error) => {
      life.error = e.message
      fail(new FirmwareError('FW_ERR_IO', `the API worker failed to start: ${e.message}`))
    })
    worker.on('exit', (code: number) => {
      release(life)
      if (!settled) { fail(new FirmwareError('FW_ERR_IO', `the API worker exited during start (code ${code})`)); return }
      onDown(life, code)
    })
  })

  const supervision = (): WorkerSupervision => ({ restarts: stats.restarts + 1, crashes: stats.crashes, hangs: stats.hangs, last: stats.last })

  const scheduleRestart = (): void => {
    if (stopping || restartTimer) return
    const delay = stats.nextDelayMs
    stats.nextDelayMs = Math.min(maxDelayMs, delay * 2)
    restartTimer = setTimeout(() => {
      restartTimer = null
      // stop() waits for an attempt under way, including stopping the worker it may have started.
      const attempt = restart()
      starting = attempt
      attempt.finally(() => { if (starting === attempt) starting = null }).catch(() => {})
    }, delay)
  }

  const onDown = (life: WorkerLife, code: number): void => {
    if (stopping || life !== current) return
    current = null
    stats.state = 'restarting'
    stats.upSince = null
    const cause = life.hung
      ? `stopped answering for ${hangMs} ms (terminated)`
      : life.error !== null ? `crashed: ${life.error}` : `exited (code ${code})`
    if (life.hung) stats.hangs++
    else stats.crashes++
    stats.last = { at: Date.now(), cause }
    // A worker that served a healthy while fails like a first time: restart fast again.
    if (Date.now() - life.readyAt >= healthyMs) stats.nextDelayMs = initialDelayMs
    report('error', `API worker ${cause}; restarting it in ${stats.nextDelayMs} ms on port ${port}; the sound is not affected`)
    scheduleRestart()
  }

  const adopt = (life: WorkerLife, ready: Ready): void => {
    current = life
    stats.state = 'up'
    stats.upSince = life.readyAt
    files = ready.files
    port = ready.port
    // A later restart binds exactly what the first worker bound (same port, same address).
    base.port = ready.port
    base.host = ready.host
    base.hostFallback = false
  }

  const restart = async (): Promise<void> => {
    if (stopping) return
    const cfg: WorkerConfig = { ...base, specs: liteSpecs(registry, app), openapi: openApiText(registry), supervision: supervision() }
    try {
      const { life, ready } = await spawn(cfg)
      if (stopping) { await stopWorker(life); return }
      if (!life.alive) throw new Error('the new worker exited as soon as it was listening')
      stats.restarts++
      adopt(life, ready)
      report('info', `API worker restarted (restart ${stats.restarts}); listening again on port ${ready.port}`)
    } catch (e) {
      stats.failedStarts++
      report('error', `API worker restart failed: ${(e as Error).message}; trying again in ${stats.nextDelayMs} ms`)
      scheduleRestart()
    }
  }

  const stopWorker = async (life: WorkerLife): Promise<void> => {
    if (life.alive) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { life.worker.off('message', onStopped); resolve() }, 5000)
        const onStopped = (m: FromWorker): void => {
          if (m.t === 'stopped') { clearTimeout(timer); life.worker.off('message', onStopped); resolve() }
        }
        life.worker.on('message', onStopped)
        life.worker.once('exit', () => { clearTimeout(timer); resolve() })
        sendTo(life, { t: 'stop' })
      })
    }
    release(life)
    await life.worker.terminate()
  }

  // The first worker: a failure here (port taken, no identity) is the caller's error, as before.
  const first = await spawn(base)
  if (!first.life.alive) throw new FirmwareError('FW_ERR_IO', 'the API worker exited as soon as it was listening; see api.log')
  adopt(first.life, first.ready)

  // More commands may be registered later (inference, store): send the new list when it changes.
  let knownCount = registry.list().length
  const specTimer = setInterval(() => {
    const n = registry.list().length
    if (n !== knownCount && current) {
      knownCount = n
      sendTo(current, { t: 'specs', specs: liteSpecs(registry, app), openapi: openApiText(registry) })
    }
  }, 1000)
  specTimer.unref()

  // Liveness: ping the worker; one that has not answered for hangMs is terminated (its exit then
  // restarts it). After a stall of this thread itself, the worker gets a fresh hangMs: the late
  // pongs are queued behind this very timer.
  let lastTick = performance.now()
  const pingTimer = setInterval(() => {
    const now = performance.now()
    const stalled = now - lastTick > 2 * pingMs
    lastTick = now
    const life = current
    if (!life || !life.alive || life.hung) return
    if (stalled) life.lastPong = Math.max(life.lastPong, now)
    if (now - life.lastPong > hangMs) {
      life.hung = true
      report('error', `API worker has not answered for ${Math.round(now - life.lastPong)} ms; terminating it`)
      void life.worker.terminate()
      return
    }
    sendTo(life, { t: 'ping' })
  }, pingMs)
  pingTimer.unref()

  const handle: ApiHandle = {
    port,
    get files() { return files },
    stats: () => ({ ...stats, last: stats.last ? { ...stats.last } : null }),
    reloadCrl: () => new Promise<void>((resolve) => {
      const life = current
      // Between workers there is nothing to reload: the next one reads the CRL as it starts.
      if (!life || !life.alive) { resolve(); return }
      const id = nextAck++
      life.acks.set(id, resolve)
      sendTo(life, { t: 'reloadCrl', id })
    }),
    stop: async () => {
      if (stopping) return
      stopping = true
      stats.state = 'stopped'
      clearInterval(specTimer)
      clearInterval(pingTimer)
      if (restartTimer) clearTimeout(restartTimer)
      restartTimer = null
      await starting
      const life = current
      current = null
      if (life) await stopWorker(life)
    },
  }
  if (testHooks) {
    handle.testHooks = {
      worker: () => current?.worker ?? null,
      crash: () => { if (current) sendTo(current, { t: 'testCrash' }) },
      hang: (ms) => { if (current) sendTo(current, { t: 'testHang', ms }) },
      leak: () => { if (current) sendTo(current, { t: 'testLeak' }) },
    }
  }
  return handle
}
