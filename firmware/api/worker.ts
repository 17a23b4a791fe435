// The API worker: HTTPS with TLS 1.3 only and mutual certificates from the operator CA, REST resources
// over the command registry, a server-sent event stream, an audit log of every state change, and
// per-client rate limits. It runs in its own thread (started by supervisor.ts) so that TLS handshakes and
// hundreds of clients never delay the control plane's 10 ms tick, whose heartbeat keeps the audio
// thread processing. Commands still run on the main thread, through the one registry: this side
// parses, checks and asks (`execute` messages); the main side answers.

import { appendFileSync, mkdirSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server } from 'node:https'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { parentPort, workerData } from 'node:worker_threads'
import type { CommandResult } from '../commands/types.ts'
import { loadIdentity } from '../secrets/identity.ts'
import { AuditLog } from '../transport/audit.ts'
import { ApiAuth } from './auth.ts'
import { HttpError, pathOf, refuseUpgrade, sendJson } from './http.ts'
import { createApiServer, IdentityWatch, listenApi } from './listener.ts'
import type { FromWorker, ToWorker, WorkerConfig, WorkerSupervision } from './messages.ts'
import { RequestHandler } from './requests.ts'
import { PendingAnswers } from './rpc.ts'
import { EventStreams, type ReplayAnswer } from './streams.ts'
import { clientOf } from './tls.ts'
import { loadWebPage } from './web.ts'

/** The API worker's parts, wired together, and its side of the message channel. */
class ApiWorker {
  readonly #cfg: WorkerConfig
  readonly #port: NonNullable<typeof parentPort>
  readonly #logFile: string
  readonly #audit: AuditLog
  readonly #results = new PendingAnswers<CommandResult>()
  readonly #replays = new PendingAnswers<ReplayAnswer>()
  readonly #auth: ApiAuth
  readonly #streams: EventStreams
  readonly #requests: RequestHandler
  readonly #server: Server
  readonly #watch: IdentityWatch
  readonly #serial: string

  constructor(cfg: WorkerConfig, port: NonNullable<typeof parentPort>) {
    this.#cfg = cfg
    this.#port = port
    const identity = loadIdentity(cfg.dataDir)
    this.#serial = identity.serial
    const logDir = join(cfg.dataDir, 'logs')
    mkdirSync(logDir, { recursive: true, mode: 0o700 })
    this.#logFile = join(logDir, 'api.log')
    this.#audit = new AuditLog(join(logDir, 'audit.jsonl'), cfg.audit)
    // Aggregated refusals are written when their window ends, even if nothing else is written.
    this.#audit.flushEvery(10_000)
    const log = this.#log
    this.#auth = new ApiAuth({ rateLimit: cfg.rateLimit, log })
    this.#auth.loadRevoked(identity.crlPath)
    this.#streams = new EventStreams({
      maxStreams: cfg.maxEventStreams,
      maxPerClient: cfg.maxEventStreamsPerClient,
      replay: (after) => this.#replays.ask((id) => this.#post({ t: 'replay', id, after })),
      announce: (count, metersHz) => this.#post({ t: 'streams', count, metersHz, wantsEvents: count > 0 }),
    })
    this.#requests = new RequestHandler({
      auth: this.#auth,
      streams: this.#streams,
      audit: this.#audit,
      log,
      execute: (command, args, principal) => this.#results.ask((id) => this.#post({ t: 'execute', id, command, args, principal })),
      maxBodyBytes: cfg.maxBodyBytes,
      readCacheMs: cfg.readCacheMs,
      specs: cfg.specs,
      openapi: cfg.openapi,
      page: loadWebPage(cfg.webDir),
      statusExtra: { device: cfg.device, api: apiStatus(cfg.supervision) },
    })
    this.#server = createApiServer(identity, log)
    this.#watch = new IdentityWatch(this.#server, cfg.dataDir, identity, log, () => this.#auth.loadRevoked(identity.crlPath))
    this.#watch.start(cfg.crlPollMs)
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#requests.handle(req, res).catch((e: unknown) => {
        log('error', `request handler failed: ${(e as Error).message}`)
        if (!res.headersSent) sendJson(res, 500, { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: 'internal error' })
      })
    })
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head))
  }

  readonly #post = (m: FromWorker): void => this.#port.postMessage(m)

  readonly #log = (level: 'info' | 'warn' | 'error', msg: string): void => {
    try {
      appendFileSync(this.#logFile, `${JSON.stringify({ at: new Date().toISOString(), level, source: 'api', message: msg })}\n`, { mode: 0o600 })
    } catch {
      /* logging must never take the API down */
    }
  }

  /** WebSocket at /api/ws: the same certificate checks as a request, refusals as JSON. */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://device')
    const path = pathOf(url)
    try {
      if (path !== '/api/ws') throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', `no WebSocket at ${path}; use /api/ws`)
      const client = this.#auth.authorize(clientOf(req.socket as TLSSocket))
      this.#streams.upgrade(req, socket, head, url, client)
    } catch (e) {
      if (e instanceof HttpError) refuseUpgrade(socket, e)
      else {
        this.#log('error', `WebSocket upgrade failed: ${(e as Error).message}`)
        socket.destroy()
      }
    }
  }

  /** Listens, then answers the main thread; resolves once `ready` is sent. */
  async start(): Promise<void> {
    const bound = await listenApi(this.#server, this.#cfg.port, this.#cfg.host, this.#cfg.hostFallback)
    this.#log('info', `API listening on port ${bound.port} (TLS 1.3, mutual certificates, device ${this.#serial})`)
    this.#port.on('message', (m: ToWorker) => this.#onMessage(m))
    this.#post({ t: 'ready', port: bound.port, host: bound.host, files: { audit: this.#audit.file, refused: this.#audit.refusedFile, log: this.#logFile } })
  }

  #onMessage(m: ToWorker): void {
    switch (m.t) {
      case 'result':
        this.#results.answer(m.id, m.result)
        break
      case 'event':
        this.#streams.entry(m.entry)
        break
      case 'replayed':
        this.#replays.answer(m.id, { replay: m.replay, last: m.last })
        break
      case 'meters':
        this.#streams.setMeters(m.meters)
        break
      case 'specs':
        this.#requests.setSpecs(m.specs, m.openapi)
        break
      case 'reloadCrl':
        this.#watch.reloadCrl()
        this.#post({ t: 'ack', id: m.id })
        break
      case 'stop':
        void this.#stop().then(() => {
          this.#post({ t: 'stopped' })
          this.#port.close()
        })
        break
      case 'ping':
        this.#post({ t: 'pong' })
        break
      default:
        if (this.#cfg.testHooks) testHook(m)
    }
  }

  async #stop(): Promise<void> {
    this.#watch.stop()
    try {
      this.#audit.close()
    } catch {
      /* never take the API down */
    }
    this.#streams.stopAll()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
    this.#results.answerAll({ ok: false, command: '', code: 'FW_ERR_COMMAND_FAILED', message: 'the API is stopping' })
    this.#log('info', 'API stopped')
  }
}

/** What the status reply says about the API: this worker's start and the supervisor's counts then. */
function apiStatus(sup: WorkerSupervision): Record<string, unknown> {
  return {
    up_since: new Date().toISOString(),
    restarts: sup.restarts,
    crashes: sup.crashes,
    hangs: sup.hangs,
    last_restart: sup.last ? { at: new Date(sup.last.at).toISOString(), cause: sup.last.cause } : null,
  }
}

/** Test-only faults (config.testHooks): an uncaught exception, a block, memory until the heap limit. */
function testHook(m: ToWorker): void {
  switch (m.t) {
    case 'testCrash':
      setImmediate(() => {
        throw new Error('test-only crash of the API worker')
      })
      break
    case 'testHang':
      // Blocked, not spinning: a stuck worker without eating a core the tests share.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms)
      break
    case 'testLeak': {
      const hoard: unknown[] = []
      for (;;) hoard.push(new Array(1 << 16).fill({ leak: hoard.length }))
    }
    default:
      break
  }
}

if (parentPort && workerData && (workerData as { apiWorker?: boolean }).apiWorker) {
  const p = parentPort
  Promise.resolve()
    .then(() => new ApiWorker((workerData as { config: WorkerConfig }).config, p).start())
    .catch((e: unknown) => {
      const err = e as { code?: string; message?: string }
      p.postMessage({ t: 'failed', code: err.code ?? 'FW_ERR_IO', message: err.message ?? String(e) } satisfies FromWorker)
    })
}
