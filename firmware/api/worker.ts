// The API worker: HTTPS with TLS 1.3 only and mutual certificates from the operator CA, REST resources
// over the command registry, a server-sent event stream, an audit log of every state change, and
// per-client rate limits. It runs in its own thread (started by server.ts) so that TLS handshakes and
// hundreds of clients never delay the control plane's 10 ms tick, whose heartbeat keeps the audio
// thread processing. Commands still run on the main thread, through the one registry: this side
// parses, checks and asks (`execute` messages); the main side answers.
import { parentPort, workerData } from 'node:worker_threads'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { readFileSync, existsSync, watchFile, unwatchFile, mkdirSync, appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { changeForClients, type JournalEntry, type Replay } from '../transport/event-journal.ts'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Duplex } from 'node:stream'
import type { Meters } from '../engine/types.ts'
import type { CommandResult, Principal } from '../commands/types.ts'
import type { ErrorCode } from '../errors.ts'
import { loadIdentity } from '../secrets/identity.ts'
import { FirmwareError } from '../errors.ts'
import { tlsOptions, clientOf, revokedSerials, refusalReason, refuseInSecureConnection, type ClientIdentity } from './tls.ts'
import { buildRoutes, validateArgs, parseJsonBody, type Route, type SpecLite } from './routes.ts'
import { PERMISSION_RANK } from '../commands/types.ts'
import { AuditLog, type AuditOptions } from '../transport/audit.ts'
import { ClientRateLimiter, type RateLimitOptions } from '../transport/ratelimit.ts'

/** What server.ts hands the worker (plain data). */
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

const EVENT_TYPES = ['transition', 'meters', 'doa', 'recommendation', 'panel', 'change'] as const
const DEFAULT_TYPES = 'transition,meters,doa,recommendation,change'
type EventType = (typeof EVENT_TYPES)[number]

const STATUS_FOR: Partial<Record<ErrorCode, number>> = {
  FW_ERR_BAD_ARG: 400,
  FW_ERR_API_BAD_REQUEST: 400,
  FW_ERR_UNKNOWN_COMMAND: 404,
  FW_ERR_PERMISSION: 403,
  FW_ERR_CONFIRM_REQUIRED: 409,
  FW_ERR_NOT_AVAILABLE: 503,
  FW_ERR_PRESET_NOT_FOUND: 404,
  FW_ERR_PRESET_NAME: 400,
  FW_ERR_RATE_LIMITED: 429,
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }

class HttpError extends Error {
  readonly status: number
  readonly code: ErrorCode
  readonly field: string | undefined
  constructor(status: number, code: ErrorCode, message: string, field?: string) {
    super(message)
    this.status = status
    this.code = code
    this.field = field
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN)
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, 'FW_ERR_API_TOO_LARGE', `the body is ${declared} bytes; the limit is ${limit} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (c: Buffer) => {
      if (done) return
      size += c.length
      if (size > limit) {
        done = true
        reject(new HttpError(413, 'FW_ERR_API_TOO_LARGE', `the body is over the limit of ${limit} bytes`))
        return
      }
      chunks.push(c)
    })
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks)) } })
    req.on('error', (e) => { if (!done) { done = true; reject(e) } })
  })
}

async function serve(cfg: WorkerConfig, port_: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: FromWorker): void => port_.postMessage(m)
  const dataDir = cfg.dataDir
  const maxBody = cfg.maxBodyBytes
  const maxStreams = cfg.maxEventStreams
  const identity = loadIdentity(dataDir)
  const logDir = join(dataDir, 'logs')
  mkdirSync(logDir, { recursive: true, mode: 0o700 })
  const logFile = join(logDir, 'api.log')
  const log = (level: 'info' | 'warn' | 'error', msg: string): void => {
    try {
      appendFileSync(logFile, JSON.stringify({ at: new Date().toISOString(), level, source: 'api', message: msg }) + '\n', { mode: 0o600 })
    } catch { /* logging must never take the API down */ }
  }
  const audit = new AuditLog(join(logDir, 'audit.jsonl'), cfg.audit)
  // Aggregated refusals are written when their window ends, even if nothing else is written.
  const auditFlush = setInterval(() => { try { audit.flush(false) } catch { /* never take the API down */ } }, 10_000)
  auditFlush.unref()
  // What the status reply says about the API: this worker's start and the supervisor's counts then.
  const sup = cfg.supervision
  const apiStatus = {
    up_since: new Date().toISOString(),
    restarts: sup.restarts,
    crashes: sup.crashes,
    hangs: sup.hangs,
    last_restart: sup.last ? { at: new Date(sup.last.at).toISOString(), cause: sup.last.cause } : null,
  }
  const limiter = new ClientRateLimiter(cfg.rateLimit)
  // Commands may be registered after start (inference, store): the main side sends a new list.
  let routes = buildRoutes(cfg.specs)
  let openapi = cfg.openapi

  // Commands run on the main thread; each request waits for its answer.
  let nextId = 1
  const pending = new Map<number, (r: CommandResult) => void>()
  const execute = (command: string, args: Record<string, unknown>, principal: Principal): Promise<CommandResult> =>
    new Promise((resolve) => {
      const id = nextId++
      pending.set(id, resolve)
      post({ t: 'execute', id, command, args, principal })
    })

  const readCache = new Map<string, { at: number; result: Promise<CommandResult> }>()

  // Events come from the main thread only while streams are open; meters at the fastest rate asked.
  const eventListeners = new Set<(e: JournalEntry) => void>()
  let latestMeters: Meters | null = null
  const streamRates = new Map<object, number>()
  const announceStreams = (): void => {
    const hz = Math.max(0, ...streamRates.values())
    post({ t: 'streams', count: streamRates.size, metersHz: hz, wantsEvents: streamRates.size > 0 })
  }
  const subscribe = (l: (e: JournalEntry) => void): (() => void) => {
    eventListeners.add(l)
    return () => { eventListeners.delete(l) }
  }
  const replays = new Map<number, (r: { replay: Replay; last: number }) => void>()
  let nextReplay = 1
  const replay = (after: number): Promise<{ replay: Replay; last: number }> => new Promise((resolve) => {
    const id = nextReplay++
    replays.set(id, resolve)
    post({ t: 'replay', id, after })
  })
  let revoked = new Set<string>()

  const loadRevoked = (): void => {
    if (!existsSync(identity.crlPath)) { revoked = new Set(); return }
    try {
      revoked = revokedSerials(readFileSync(identity.crlPath, 'utf8'))
    } catch (e) {
      log('error', `cannot read the CRL ${identity.crlPath}: ${(e as Error).message}; keeping the previous list`)
    }
  }
  loadRevoked()

  const server: Server = createServer({ ...tlsOptions(identity) })
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 20_000
  server.requestTimeout = 30_000
  // Bounded: a flood of connections cannot exhaust file descriptors the audio side may need.
  server.maxConnections = 512

  const reloadCrl = (): void => {
    loadRevoked()
    try {
      server.setSecureContext(tlsOptions(identityNow))
    } catch (e) {
      log('error', `cannot apply the CRL: ${(e as Error).message}`)
    }
  }
  // A reissued server certificate (`provision server-cert`, after a network change) is picked up
  // without a restart; a certificate that does not match the key beside it is not.
  let identityNow = identity
  const deviceCertPath = join(dataDir, 'identity', 'device-cert.pem')
  watchFile(deviceCertPath, { interval: cfg.crlPollMs, persistent: false }, () => {
    try {
      const next = loadIdentity(dataDir)
      if (!new X509Certificate(next.deviceCertPem).checkPrivateKey(createPrivateKey(next.deviceKeyPem))) throw new Error('the certificate does not match the device key')
      server.setSecureContext(tlsOptions(next))
      identityNow = next
      log('info', `server certificate reloaded (${new X509Certificate(next.deviceCertPem).subjectAltName ?? 'no names'})`)
    } catch (e) {
      log('error', `cannot reload the server certificate: ${(e as Error).message}; keeping the previous one`)
    }
  })
  const crlPoll = cfg.crlPollMs
  watchFile(identity.crlPath, { interval: crlPoll, persistent: false }, () => {
    reloadCrl()
    log('info', 'revocation list reloaded')
  })

  // Refusals name the client's address and the reason (never certificate contents but its serial).
  // Node refuses silently; refuseInSecureConnection() hands bad certificates to us instead.
  refuseInSecureConnection(server)
  let refusedHandshakes = 0
  const kPeer = Symbol('peer')
  const peerOf = (s: { remoteAddress?: string; remotePort?: number } | undefined): string | null =>
    s?.remoteAddress ? `${s.remoteAddress.includes(':') ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort ?? '?'}` : null
  // The address is noted when the TCP connection arrives: a socket that fails later may have lost it.
  server.prependListener('connection', (raw: import('node:net').Socket & { [kPeer]?: string }) => { raw[kPeer] = peerOf(raw) ?? '?' })
  const addressOf = (sock: TLSSocket): string => {
    const parent = (sock as TLSSocket & { _parent?: { [kPeer]?: string } })._parent
    return peerOf(sock) ?? parent?.[kPeer] ?? '?'
  }
  const refused = (sock: TLSSocket, reason: string, code: string | undefined): void => {
    refusedHandshakes++
    if (refusedHandshakes > 1000) return
    let who = ''
    try {
      const c = sock.getPeerCertificate()
      if (c?.serialNumber) who = ` (certificate serial ${c.serialNumber.toUpperCase()}${c.subject?.CN ? `, CN ${Array.isArray(c.subject.CN) ? c.subject.CN[0] : c.subject.CN}` : ''})`
    } catch { /* no certificate */ }
    log('warn', `refused TLS client ${addressOf(sock)}: ${reason}${who} [${code ?? 'no code'}]`)
  }
  server.prependListener('secureConnection', (sock: TLSSocket) => {
    if (sock.authorized) return
    const code = sock.authorizationError ? String(sock.authorizationError) : undefined
    refused(sock, refusalReason(code), code)
    sock.destroy()
  })
  server.on('tlsClientError', (err, sock) => {
    const code = (err as NodeJS.ErrnoException).code
    refused(sock, refusalReason(code ?? err.message), code)
  })

  // Open event streams (SSE and WebSocket), by client certificate serial for the per-client cap.
  const streams = new Set<{ serial: string; end(): void }>()
  const streamsOf = (serial: string): number => { let n = 0; for (const x of streams) if (x.serial === serial) n++; return n }

  const principalOf = (c: ClientIdentity): Principal => ({ name: `api:CN=${c.cn},serial=${c.serial}`, permission: c.permission, transport: 'api' })

  /** What a stream asked for: types, meter rate and where to resume; throws 400 on bad query. */
  const streamQuery = (url: URL, lastEventIdHeader: string | undefined): { types: Set<EventType>; hz: number; after: number | null } => {
    const allowed = new Set<string>(EVENT_TYPES)
    const types = new Set<EventType>()
    for (const t of (url.searchParams.get('types') ?? DEFAULT_TYPES).split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!allowed.has(t)) throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `query "types" has unknown type "${t}"; use a comma-separated subset of ${EVENT_TYPES.join(', ')}`, 'types')
      types.add(t as EventType)
    }
    for (const k of url.searchParams.keys()) {
      if (k !== 'types' && k !== 'metersHz' && k !== 'lastEventId') throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `query "${k}" is unknown; event streams take types, metersHz and lastEventId`, k)
    }
    const hzRaw = url.searchParams.get('metersHz')
    const hz = hzRaw === null ? 10 : Number(hzRaw)
    if (!Number.isFinite(hz) || hz < 0.2 || hz > 50) throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `query "metersHz" must be a number from 0.2 to 50, got ${JSON.stringify(hzRaw)}`, 'metersHz')
    const lastRaw = lastEventIdHeader ?? url.searchParams.get('lastEventId')
    let after: number | null = null
    if (lastRaw !== null && lastRaw !== undefined && lastRaw !== '') {
      after = Number(lastRaw)
      if (!Number.isSafeInteger(after) || after < 0) throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `Last-Event-ID must be an event id (a whole number), got ${JSON.stringify(lastRaw)}`, 'lastEventId')
    }
    return { types, hz, after }
  }

  const checkStreamRoom = (client: ClientIdentity): void => {
    const mine = streamsOf(client.serial)
    if (mine >= cfg.maxEventStreamsPerClient) {
      throw new HttpError(429, 'FW_ERR_API_RATE_LIMITED', `this certificate (${client.cn}) already holds ${mine} event streams, the most one certificate may open; close one and retry`)
    }
    if (streams.size >= maxStreams) throw new HttpError(503, 'FW_ERR_API_RATE_LIMITED', `${maxStreams} event streams are already open; close one and retry`)
  }

  /**
   * An entry as clients see it, the same for SSE and WebSocket: the payload as before, plus `eventId`
   * (the journal's id, also in the SSE `id:` line and the WebSocket message's `id`) and `at`, the
   * time as ISO 8601 UTC. Payload fields are never overwritten (a recommendation keeps its own `id`).
   */
  const frameOf = (e: JournalEntry): { type: EventType; data: Record<string, unknown> } => {
    const ev = e.event
    const stamp = { eventId: e.id, at: e.at }
    switch (ev.type) {
      case 'transition': return { type: 'transition', data: { ...ev.record, eventId: e.id, at: new Date(ev.record.at).toISOString() } }
      case 'recommendation': return { type: 'recommendation', data: { ...(typeof ev.data === 'object' && ev.data !== null ? ev.data as object : { value: ev.data }), ...stamp } }
      case 'panel': return { type: 'panel', data: { event: ev.event, ...stamp } }
      case 'doa': return { type: 'doa', data: { ...ev.doa, ...stamp } }
      case 'change': return { type: 'change', data: { ...changeForClients(ev.change), ...stamp } }
    }
  }

  /**
   * One event stream over any sink: replays the journal after `after` (a reconnect), then live
   * entries of the asked types, and meters at the asked rate. A slow reader loses meters and DOA,
   * never transitions or changes.
   */
  const runStream = async (client: ClientIdentity, q: { types: Set<EventType>; hz: number; after: number | null },
    sink: { send(type: string, id: number | null, data: unknown, droppable: boolean): void; comment(text: string): void; onClose(fn: () => void): void; end(): void }): Promise<void> => {
    const entry = { serial: client.serial, end: () => sink.end() }
    streams.add(entry)
    const streamKey = {}
    streamRates.set(streamKey, q.types.has('meters') ? q.hz : 0)
    announceStreams()
    let lastDoa = 0
    let sentUpTo = 0
    let replaying = q.after !== null
    const held: JournalEntry[] = []
    const deliver = (e: JournalEntry): void => {
      if (e.id <= sentUpTo) return
      sentUpTo = e.id
      const f = frameOf(e)
      if (!q.types.has(f.type)) return
      if (f.type === 'doa') {
        const now = performance.now()
        if (!replaying && now - lastDoa < 50) return
        lastDoa = now
      }
      sink.send(f.type, e.id, f.data, f.type === 'doa')
    }
    const unsubscribe = subscribe((e) => { if (replaying) held.push(e); else deliver(e) })
    const meterTimer = q.types.has('meters') ? setInterval(() => { if (latestMeters) sink.send('meters', null, latestMeters, true) }, 1000 / q.hz) : null
    const keepAlive = setInterval(() => sink.comment('keep-alive'), 15_000)
    let closed = false
    sink.onClose(() => {
      if (closed) return
      closed = true
      unsubscribe()
      if (meterTimer) clearInterval(meterTimer)
      clearInterval(keepAlive)
      streams.delete(entry)
      if (streamRates.delete(streamKey)) announceStreams()
    })
    if (q.after !== null) {
      const r = await replay(q.after)
      if (r.replay.gap) {
        // Older than the buffer: say so (the client should read the state again), then send what is held.
        const what = q.after > r.last ? `event ${q.after} is from before the firmware restarted (ids start again at 1)` : `events after ${q.after} up to ${r.replay.oldest - 1} are no longer held`
        sink.send('reset', null, { lastEventId: q.after, oldest: r.replay.oldest, message: `${what}; read the state again (GET /api/status, /api/output/show, /api/beam/list)` }, false)
      }
      for (const e of r.replay.entries) deliver(e)
      replaying = false
      for (const e of held.splice(0)) deliver(e)
    }
  }

  const handleEvents = (req: IncomingMessage, res: ServerResponse, url: URL, client: ClientIdentity): void => {
    const lei = req.headers['last-event-id']
    const q = streamQuery(url, Array.isArray(lei) ? lei[0] : lei)
    checkStreamRoom(client)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write(`retry: 2000\n: stage appliance events ${[...q.types].join(',')} meters ${q.hz} Hz\n\n`)
    let congested = false
    void runStream(client, q, {
      send: (type, id, data, droppable) => {
        if (congested && droppable) return
        const ok = res.write(`${id !== null ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
        if (!ok) {
          congested = true
          res.once('drain', () => { congested = false })
        }
      },
      comment: (text) => { if (!congested) res.write(`: ${text}\n\n`) },
      onClose: (fn) => { req.on('close', fn); res.on('close', fn) },
      end: () => res.end(),
    })
  }

  // WebSocket at /api/ws on the same listener: the same certificate checks, the same events as JSON
  // messages {"event","id","data"} (ids as in SSE; resume with ?lastEventId=N).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })
  const refuseUpgrade = (socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void => {
    const body = JSON.stringify({ ok: false, code, message })
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`)
  }
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const sock = req.socket as TLSSocket
    const url = new URL(req.url ?? '/', 'https://device')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    try {
      if (path !== '/api/ws') throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', `no WebSocket at ${path}; use /api/ws`)
      const client = authorize(sock)
      const q = streamQuery(url, undefined)
      checkStreamRoom(client)
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        ws.on('message', () => { /* the stream is one-way; client messages are ignored */ })
        void runStream(client, q, {
          send: (type, id, data, droppable) => {
            if (droppable && ws.bufferedAmount > 256 * 1024) return
            ws.send(JSON.stringify(id !== null ? { event: type, id, data } : { event: type, data }))
          },
          comment: () => { if (ws.readyState === ws.OPEN) ws.ping() },
          onClose: (fn) => { ws.on('close', fn); ws.on('error', fn) },
          end: () => ws.close(1001, 'the API is stopping'),
        })
      })
    } catch (e) {
      if (e instanceof HttpError) {
        const extra = e as HttpError & { retryAfter?: number }
        refuseUpgrade(socket, e.status, e.code, e.message, extra.retryAfter ? { 'retry-after': String(extra.retryAfter) } : {})
      } else {
        log('error', `WebSocket upgrade failed: ${(e as Error).message}`)
        socket.destroy()
      }
    }
  }
  server.on('upgrade', onUpgrade)

  /** The verified client of a connection, or the 401/429 that refuses it. */
  const authorize = (sock: TLSSocket): ClientIdentity => {
    const client = clientOf(sock)
    if (!client) throw new HttpError(401, 'FW_ERR_API_UNAUTHORIZED', 'the client certificate has no known role (OU must be operator, observer or admin); ask for a new bundle')
    if (revoked.has(client.serial)) throw new HttpError(401, 'FW_ERR_API_UNAUTHORIZED', `certificate ${client.serial} has been revoked; ask the system tech for a new bundle`)
    if (Number.isFinite(client.validTo) && client.validTo < Date.now()) throw new HttpError(401, 'FW_ERR_API_UNAUTHORIZED', 'the client certificate has expired; ask the system tech for a new bundle')
    const wait = limiter.take(client.serial)
    if (wait > 0) {
      const s = Math.max(1, Math.ceil(wait))
      throw Object.assign(new HttpError(429, 'FW_ERR_API_RATE_LIMITED', `too many requests from ${client.cn}; retry in ${s} s`), { retryAfter: s })
    }
    return client
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sock = req.socket as TLSSocket
    const client = clientOf(sock)
    const url = new URL(req.url ?? '/', 'https://device')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'
    let route: Route | undefined
    let auditArgs: Record<string, unknown> | null = null
    const writes = method !== 'GET' && method !== 'HEAD'
    const finish = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      if (writes) {
        const b = body as { ok?: boolean; code?: string }
        audit.write({
          at: new Date().toISOString(),
          who: client ? { cn: client.cn, serial: client.serial, role: client.role } : null,
          remote: sock.remoteAddress ?? '',
          method, path, command: route?.command ?? null, args: auditArgs, status,
          result: b.ok ? 'ok' : (b.code ?? 'error'),
        })
      }
      sendJson(res, status, body, headers)
    }
    try {
      let client: ClientIdentity
      try {
        client = authorize(sock)
      } catch (e) {
        if (e instanceof HttpError && e.status === 401) res.setHeader('connection', 'close')
        throw e
      }
      if (path === '/api/openapi.json' || path === '/api/whoami' || path === '/api/commands' || path === '/api/events') {
        if (method !== 'GET') throw Object.assign(new HttpError(405, 'FW_ERR_API_METHOD', `${path} only answers GET, not ${method}`), { allow: 'GET' })
        if (path === '/api/openapi.json') {
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(openapi), 'cache-control': 'no-store' })
          res.end(openapi)
          return
        }
        if (path === '/api/whoami') { sendJson(res, 200, { ok: true, command: 'whoami', value: { cn: client.cn, serial: client.serial, role: client.role, permission: client.permission } }); return }
        if (path === '/api/commands') {
          const value = [...routes.values()].map((r) => ({ command: r.command, method: r.method, path: r.path, permission: r.spec.permission, summary: r.spec.summary, args: r.spec.args.map((a) => ({ name: a.name, type: a.type, help: a.help, optional: !!a.optional })) }))
          sendJson(res, 200, { ok: true, command: 'commands', value })
          return
        }
        handleEvents(req, res, url, client)
        return
      }
      if (path === '/api/ws') throw Object.assign(new HttpError(426, 'FW_ERR_API_BAD_REQUEST', '/api/ws is a WebSocket: connect with a WebSocket client (wss://), or use GET /api/events for server-sent events'), { upgrade: 'websocket' })
      route = routes.get(path)
      if (!route) throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', `no resource ${path}; GET /api/commands lists them`)
      if (method !== route.method) {
        throw Object.assign(new HttpError(405, 'FW_ERR_API_METHOD', `${path} answers ${route.method}, not ${method}`), { allow: route.method })
      }
      // Who may ask comes before what is asked: the body of a request the role may not make is never read.
      const needs = route.spec.permission === 'observe' && route.mutates ? 'operate' : route.spec.permission
      if (PERMISSION_RANK[client.permission] < PERMISSION_RANK[needs]) {
        const cert = needs === 'admin' ? 'an admin' : 'an operator'
        const what = client.permission === 'observe' ? 'observer certificates are read-only' : `${client.role} certificates may not run it`
        throw new HttpError(403, 'FW_ERR_API_FORBIDDEN', `"${route.command}" needs ${cert} certificate; ${what}`)
      }
      let input: unknown
      if (route.method === 'POST') {
        const ct = String(req.headers['content-type'] ?? '')
        if (!/^application\/json\b/i.test(ct)) throw new HttpError(415, 'FW_ERR_API_BAD_REQUEST', `Content-Type must be application/json, got ${JSON.stringify(ct || '(none)')}`)
        const raw = await readBody(req, maxBody)
        const text = raw.toString('utf8')
        try {
          input = text.trim() === '' ? {} : parseJsonBody(text)
        } catch (e) {
          throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `the body is not valid JSON: ${(e as Error).message}`)
        }
      } else {
        input = Object.fromEntries(url.searchParams.entries())
      }
      const v = validateArgs(route.spec, input, route.method === 'GET')
      if (v.error !== null) {
        const field = /field "([^"]+)"/.exec(v.error)?.[1]
        throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', v.error, field)
      }
      auditArgs = v.args
      let r: CommandResult
      if (route.method === 'GET' && route.spec.permission === 'observe' && cfg.readCacheMs > 0) {
        // Polling clients share one answer per short window: 200 clients polling status cost the
        // main thread a few calls per second, not thousands.
        const key = `${route.command}\u0000${JSON.stringify(v.args)}`
        const now = performance.now()
        let hit = readCache.get(key)
        if (!hit || hit.at + cfg.readCacheMs <= now) {
          if (readCache.size > 1000) readCache.clear()
          hit = { at: now, result: execute(route.command, v.args, principalOf(client)) }
          readCache.set(key, hit)
        }
        r = await hit.result
      } else {
        r = await execute(route.command, v.args, principalOf(client))
        // A change made through the API is visible to the next read at once.
        if (route.mutates) readCache.clear()
      }
      if (r.ok) {
        let value = r.value ?? null
        // The API's status also says how the API itself has fared (its worker restarts).
        if (r.command === 'status' && value !== null && typeof value === 'object') value = { ...(value as object), device: cfg.device, api: apiStatus }
        finish(200, { ok: true, command: r.command, value })
      } else {
        const body: Record<string, unknown> = { ok: false, code: r.code, message: r.message }
        if (r.confirmToken) body.confirmToken = r.confirmToken
        finish(STATUS_FOR[r.code] ?? 500, body)
      }
    } catch (e) {
      if (e instanceof HttpError) {
        const body: Record<string, unknown> = { ok: false, code: e.code, message: e.message }
        if (e.field) body.field = e.field
        const headers: Record<string, string> = {}
        const extra = e as HttpError & { retryAfter?: number; allow?: string; upgrade?: string }
        if (extra.retryAfter) headers['retry-after'] = String(extra.retryAfter)
        if (extra.upgrade) { headers.upgrade = extra.upgrade; headers.connection = 'upgrade' }
        if (extra.allow) headers.allow = extra.allow
        if (e.status === 413) headers.connection = 'close'
        finish(e.status, body, headers)
      } else {
        log('error', `request ${method} ${path} failed: ${(e as Error).message}`)
        finish(500, { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: 'the request failed inside the device; see the device log' })
      }
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      log('error', `request handler failed: ${(e as Error).message}`)
      if (!res.headersSent) sendJson(res, 500, { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: 'internal error' })
    })
  })

  const listen = (host: string): Promise<void> => new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, host, () => { server.off('error', reject); resolve() })
  })
  try {
    await listen(cfg.host)
  } catch (e) {
    // A kernel without IPv6 cannot bind "::"; the default then falls back to all IPv4 addresses.
    const code = (e as NodeJS.ErrnoException).code
    try {
      if (!cfg.hostFallback || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw e
      await listen('0.0.0.0')
    } catch (e2) {
      const c2 = (e2 as NodeJS.ErrnoException).code ?? 'error'
      throw new FirmwareError('FW_ERR_IO', `the API cannot listen on port ${cfg.port} (${c2}); another service may hold it: change api.port in the board profile or stop that service`)
    }
  }
  const addr = server.address()
  const bound = typeof addr === 'object' && addr ? addr.port : cfg.port
  const boundHost = typeof addr === 'object' && addr ? addr.address : cfg.host
  log('info', `API listening on port ${bound} (TLS 1.3, mutual certificates, device ${identity.serial})`)

  const stop = async (): Promise<void> => {
    unwatchFile(identity.crlPath)
    unwatchFile(deviceCertPath)
    clearInterval(auditFlush)
    try { audit.close() } catch { /* as above */ }
    for (const s of [...streams]) s.end()
    streams.clear()
    for (const ws of wss.clients) ws.terminate()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    for (const r of pending.values()) r({ ok: false, command: '', code: 'FW_ERR_COMMAND_FAILED', message: 'the API is stopping' })
    pending.clear()
    log('info', 'API stopped')
  }

  port_.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'result': { const r = pending.get(m.id); pending.delete(m.id); r?.(m.result); break }
      case 'event': for (const l of eventListeners) l(m.entry); break
      case 'replayed': { const r = replays.get(m.id); replays.delete(m.id); r?.({ replay: m.replay, last: m.last }); break }
      case 'meters': latestMeters = m.meters; break
      case 'specs': routes = buildRoutes(m.specs); openapi = m.openapi; break
      case 'reloadCrl': reloadCrl(); post({ t: 'ack', id: m.id }); break
      case 'stop': void stop().then(() => { post({ t: 'stopped' }); port_.close() }); break
      case 'ping': post({ t: 'pong' }); break
      case 'testCrash':
        if (cfg.testHooks) setImmediate(() => { throw new Error('test-only crash of the API worker') })
        break
      case 'testHang':
        if (cfg.testHooks) {
          // Blocked, not spinning: a stuck worker without eating a core the tests share.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms)
        }
        break
      case 'testLeak':
        if (cfg.testHooks) {
          const hoard: unknown[] = []
          for (;;) hoard.push(new Array(1 << 16).fill({ leak: hoard.length }))
        }
        break
    }
  })
  post({ t: 'ready', port: bound, host: boundHost, files: { audit: audit.file, refused: audit.refusedFile, log: logFile } })
}

if (parentPort && workerData && (workerData as { apiWorker?: boolean }).apiWorker) {
  const p = parentPort
  serve((workerData as { config: WorkerConfig }).config, p).catch((e: unknown) => {
    const err = e as { code?: string; message?: string }
    p.postMessage({ t: 'failed', code: err.code ?? 'FW_ERR_IO', message: err.message ?? String(e) } satisfies FromWorker)
  })
}
