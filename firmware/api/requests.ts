// Request handling in the API worker: routing a request to its command, the built-in resources
// (openapi.json, whoami, commands, events), the permission check before the body is read, body
// parsing and validation, the short read cache, replies, error mapping and the audit record of every
// request that could change something.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { CommandResult, Principal } from '../commands/types.ts'
import { PERMISSION_RANK } from '../commands/types.ts'
import type { AuditLog } from '../transport/audit.ts'
import { type ApiAuth, principalOf } from './auth.ts'
import { errorReply, HttpError, pathOf, readBody, STATUS_FOR, sendJson } from './http.ts'
import { buildRoutes, parseJsonBody, type Route, routePath, type SpecLite, validateArgs } from './routes.ts'
import type { EventStreams } from './streams.ts'
import { type ClientIdentity, clientOf } from './tls.ts'
import { isPagePath, servePage, type WebPage } from './web.ts'

export interface RequestHandlerOptions {
  auth: ApiAuth
  streams: EventStreams
  audit: AuditLog
  /** Runs a command on the main thread. */
  execute(command: string, args: Record<string, unknown>, principal: Principal): Promise<CommandResult>
  maxBodyBytes: number
  /** Reads (observe commands) within this many ms share one answer; 0 disables. */
  readCacheMs: number
  /** Added to the status command's value: the unit's counts and how the API has fared. */
  statusExtra: Record<string, unknown>
  specs: SpecLite[]
  openapi: string
  /** The FOH page's files (web.ts), or null when the image has none. */
  page: WebPage | null
  log(level: 'error', message: string): void
}

const BUILTIN = new Set(['/api/openapi.json', '/api/whoami', '/api/commands', '/api/events'])
/** Prometheus' default path: the `metrics` command (firmware/telemetry/metrics.ts) served as OpenMetrics text. */
const METRICS_PATH = '/metrics'
const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/** One request as it goes: what the audit record needs once the reply is known. */
interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  path: string
  method: string
  route: Route | undefined
  args: Record<string, unknown> | null
}

export class RequestHandler {
  readonly #o: RequestHandlerOptions
  #routes: Map<string, Route>
  #openapi: string
  readonly #readCache = new Map<string, { at: number; result: Promise<CommandResult> }>()

  constructor(o: RequestHandlerOptions) {
    this.#o = o
    this.#routes = buildRoutes(o.specs)
    this.#openapi = o.openapi
  }

  /** Commands registered after start (inference, store) arrive as a new list. */
  setSpecs(specs: SpecLite[], openapi: string): void {
    this.#routes = buildRoutes(specs)
    this.#openapi = openapi
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://device')
    const x: Exchange = { req, res, url, path: pathOf(url), method: req.method ?? 'GET', route: undefined, args: null }
    try {
      const client = this.#authorize(x)
      // The FOH page: the same certificate check as every request, before anything is served.
      if (isPagePath(x.path)) {
        servePage(x.req, x.res, x.path, this.#o.page)
        return
      }
      if (BUILTIN.has(x.path)) {
        this.#builtin(x, client)
        return
      }
      if (x.path === METRICS_PATH) {
        await this.#metrics(x, client)
        return
      }
      if (x.path === '/api/ws')
        throw new HttpError(
          426,
          'FW_ERR_API_BAD_REQUEST',
          '/api/ws is a WebSocket: connect with a WebSocket client (wss://), or use GET /api/events for server-sent events',
          undefined,
          { upgrade: 'websocket' },
        )
      const route = this.#routeOf(x)
      this.#checkPermission(route, client)
      const v = validateArgs(route.spec, await this.#input(x, route), route.method === 'GET')
      if (v.error !== null) throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', v.error, /field "([^"]+)"/.exec(v.error)?.[1])
      x.args = v.args
      this.#reply(x, route, await this.#run(route, v.args, client))
    } catch (e) {
      if (e instanceof HttpError) {
        const { body, headers } = errorReply(e)
        this.#finish(x, e.status, body, headers)
      } else {
        this.#o.log('error', `request ${x.method} ${x.path} failed: ${(e as Error).message}`)
        this.#finish(x, 500, { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: 'the request failed inside the device; see the device log' })
      }
    }
  }

  /** The verified client; a 401 also closes the connection. */
  #authorize(x: Exchange): ClientIdentity {
    try {
      return this.#o.auth.authorize(clientOf(x.req.socket as TLSSocket))
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) x.res.setHeader('connection', 'close')
      throw e
    }
  }

  /** The resources that are not commands: GET only. */
  #builtin(x: Exchange, client: ClientIdentity): void {
    const { res, path } = x
    if (x.method !== 'GET') throw new HttpError(405, 'FW_ERR_API_METHOD', `${path} only answers GET, not ${x.method}`, undefined, { allow: 'GET' })
    if (path === '/api/openapi.json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(this.#openapi), 'cache-control': 'no-store' })
      res.end(this.#openapi)
    } else if (path === '/api/whoami') {
      sendJson(res, 200, { ok: true, command: 'whoami', value: { cn: client.cn, serial: client.serial, role: client.role, permission: client.permission } })
    } else if (path === '/api/commands') {
      const value = [...this.#routes.values()].map((r) => ({
        command: r.command,
        method: r.method,
        path: r.path,
        permission: r.spec.permission,
        summary: r.spec.summary,
        args: r.spec.args.map((a) => ({ name: a.name, type: a.type, help: a.help, optional: !!a.optional })),
      }))
      sendJson(res, 200, { ok: true, command: 'commands', value })
    } else {
      this.#o.streams.serveSse(x.req, res, x.url, client)
    }
  }

  /** GET /metrics: the `metrics` command's OpenMetrics text as text, for Prometheus (any role may read it). */
  async #metrics(x: Exchange, client: ClientIdentity): Promise<void> {
    if (x.method !== 'GET') throw new HttpError(405, 'FW_ERR_API_METHOD', `${x.path} only answers GET, not ${x.method}`, undefined, { allow: 'GET' })
    const route = this.#routes.get(routePath('metrics'))
    if (!route) throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', 'this unit serves no metrics (the telemetry part is not running)')
    const r = await this.#run(route, {}, client)
    if (!r.ok || typeof r.value !== 'string') {
      this.#reply(x, route, r)
      return
    }
    x.res.writeHead(200, { 'content-type': OPENMETRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(r.value), 'cache-control': 'no-store' })
    x.res.end(r.value)
  }

  #routeOf(x: Exchange): Route {
    const route = this.#routes.get(x.path)
    if (!route) throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', `no resource ${x.path}; GET /api/commands lists them`)
    x.route = route
    if (x.method !== route.method)
      throw new HttpError(405, 'FW_ERR_API_METHOD', `${x.path} answers ${route.method}, not ${x.method}`, undefined, { allow: route.method })
    return route
  }

  /** Who may ask comes before what is asked: the body of a request the role may not make is never read. */
  #checkPermission(route: Route, client: ClientIdentity): void {
    const needs = route.spec.permission === 'observe' && route.mutates ? 'operate' : route.spec.permission
    if (PERMISSION_RANK[client.permission] >= PERMISSION_RANK[needs]) return
    const cert = needs === 'admin' ? 'an admin' : 'an operator'
    const what = client.permission === 'observe' ? 'observer certificates are read-only' : `${client.role} certificates may not run it`
    throw new HttpError(403, 'FW_ERR_API_FORBIDDEN', `"${route.command}" needs ${cert} certificate; ${what}`)
  }

  /** The arguments as sent: a POST's JSON body, a GET's query. */
  async #input(x: Exchange, route: Route): Promise<unknown> {
    if (route.method !== 'POST') return Object.fromEntries(x.url.searchParams.entries())
    const ct = String(x.req.headers['content-type'] ?? '')
    if (!/^application\/json\b/i.test(ct))
      throw new HttpError(415, 'FW_ERR_API_BAD_REQUEST', `Content-Type must be application/json, got ${JSON.stringify(ct || '(none)')}`)
    const text = (await readBody(x.req, this.#o.maxBodyBytes)).toString('utf8')
    try {
      return text.trim() === '' ? {} : parseJsonBody(text)
    } catch (e) {
      throw new HttpError(400, 'FW_ERR_API_BAD_REQUEST', `the body is not valid JSON: ${(e as Error).message}`)
    }
  }

  /** Runs the command; reads within readCacheMs share one answer, a change empties the cache. */
  async #run(route: Route, args: Record<string, unknown>, client: ClientIdentity): Promise<CommandResult> {
    const ms = this.#o.readCacheMs
    if (route.method === 'GET' && route.spec.permission === 'observe' && ms > 0) {
      // Polling clients share one answer per short window: 200 clients polling status cost the
      // main thread a few calls per second, not thousands.
      const key = `${route.command}\u0000${JSON.stringify(args)}`
      const now = performance.now()
      let hit = this.#readCache.get(key)
      if (!hit || hit.at + ms <= now) {
        if (this.#readCache.size > 1000) this.#readCache.clear()
        hit = { at: now, result: this.#o.execute(route.command, args, principalOf(client)) }
        this.#readCache.set(key, hit)
      }
      return hit.result
    }
    const r = await this.#o.execute(route.command, args, principalOf(client))
    // A change made through the API is visible to the next read at once.
    if (route.mutates) this.#readCache.clear()
    return r
  }

  #reply(x: Exchange, _route: Route, r: CommandResult): void {
    if (r.ok) {
      let value = r.value ?? null
      // The API's status also says how the API itself has fared (its worker restarts).
      if (r.command === 'status' && value !== null && typeof value === 'object') value = { ...(value as object), ...this.#o.statusExtra }
      this.#finish(x, 200, { ok: true, command: r.command, value })
    } else {
      const body: Record<string, unknown> = { ok: false, code: r.code, message: r.message }
      if (r.confirmToken) body.confirmToken = r.confirmToken
      this.#finish(x, STATUS_FOR[r.code] ?? 500, body)
    }
  }

  /** Sends the reply; a request that could change something (not GET or HEAD) is audited first. */
  #finish(x: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (x.method !== 'GET' && x.method !== 'HEAD') {
      const sock = x.req.socket as TLSSocket
      const client = clientOf(sock)
      const b = body as { ok?: boolean; code?: string }
      this.#o.audit.write({
        at: new Date().toISOString(),
        who: client ? { cn: client.cn, serial: client.serial, role: client.role } : null,
        remote: sock.remoteAddress ?? '',
        method: x.method,
        path: x.path,
        command: x.route?.command ?? null,
        args: x.args,
        status,
        result: b.ok ? 'ok' : (b.code ?? 'error'),
      })
    }
    sendJson(x.res, status, body, headers)
  }
}
