// The API's event streams: server-sent events at /api/events and WebSocket messages at /api/ws, both
// over the unit's event journal (transport/event-journal.ts). A stream replays what the journal holds
// after its Last-Event-ID (or says what was lost), then follows live entries of the asked types and
// meters at the asked rate. Streams are capped in all and per client certificate.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Meters } from '../engine/types.ts'
import { changeForClients, type JournalEntry, type Replay } from '../transport/event-journal.ts'
import { HttpError } from './http.ts'
import type { ClientIdentity } from './tls.ts'

export const EVENT_TYPES = ['transition', 'meters', 'doa', 'recommendation', 'panel', 'change', 'inference'] as const
const DEFAULT_TYPES = 'transition,meters,doa,recommendation,change'
export type EventType = (typeof EVENT_TYPES)[number]

/** What a stream asked for: event types, meter rate (Hz), and the id to resume after (null: live only). */
export interface StreamQuery {
  types: Set<EventType>
  hz: number
  after: number | null
}

/** Where a stream's frames go (SSE response or WebSocket). */
export interface StreamSink {
  /** `droppable` frames (meters, DOA) may be skipped when the reader is slow. */
  send(type: string, id: number | null, data: unknown, droppable: boolean): void
  comment(text: string): void
  onClose(fn: () => void): void
  end(): void
}

/** A journal replay as the main thread answers it: the entries and the journal's last id. */
export interface ReplayAnswer {
  replay: Replay
  last: number
}

const bad = (message: string, field: string): HttpError => new HttpError(400, 'FW_ERR_API_BAD_REQUEST', message, field)

/** Parses a stream's query (and the Last-Event-ID header, which wins over ?lastEventId); throws 400. */
export function parseStreamQuery(url: URL, lastEventIdHeader: string | undefined): StreamQuery {
  const allowed = new Set<string>(EVENT_TYPES)
  const types = new Set<EventType>()
  for (const t of (url.searchParams.get('types') ?? DEFAULT_TYPES)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!allowed.has(t)) throw bad(`query "types" has unknown type "${t}"; use a comma-separated subset of ${EVENT_TYPES.join(', ')}`, 'types')
    types.add(t as EventType)
  }
  for (const k of url.searchParams.keys()) {
    if (k !== 'types' && k !== 'metersHz' && k !== 'lastEventId') throw bad(`query "${k}" is unknown; event streams take types, metersHz and lastEventId`, k)
  }
  const hzRaw = url.searchParams.get('metersHz')
  const hz = hzRaw === null ? 10 : Number(hzRaw)
  if (!Number.isFinite(hz) || hz < 0.2 || hz > 50) throw bad(`query "metersHz" must be a number from 0.2 to 50, got ${JSON.stringify(hzRaw)}`, 'metersHz')
  const lastRaw = lastEventIdHeader ?? url.searchParams.get('lastEventId')
  let after: number | null = null
  if (lastRaw !== null && lastRaw !== undefined && lastRaw !== '') {
    after = Number(lastRaw)
    if (!Number.isSafeInteger(after) || after < 0)
      throw bad(`Last-Event-ID must be an event id (a whole number), got ${JSON.stringify(lastRaw)}`, 'lastEventId')
  }
  return { types, hz, after }
}

/**
 * An entry as clients see it, the same for SSE and WebSocket: the payload as before, plus `eventId`
 * (the journal's id, also in the SSE `id:` line and the WebSocket message's `id`) and `at`, the
 * time as ISO 8601 UTC. Payload fields are never overwritten (a recommendation keeps its own `id`).
 */
export function frameOf(e: JournalEntry): { type: EventType; data: Record<string, unknown> } {
  const ev = e.event
  const stamp = { eventId: e.id, at: e.at }
  switch (ev.type) {
    case 'transition':
      return { type: 'transition', data: { ...ev.record, eventId: e.id, at: new Date(ev.record.at).toISOString() } }
    case 'recommendation':
      return { type: 'recommendation', data: { ...(typeof ev.data === 'object' && ev.data !== null ? (ev.data as object) : { value: ev.data }), ...stamp } }
    case 'panel':
      return { type: 'panel', data: { event: ev.event, ...stamp } }
    case 'doa':
      return { type: 'doa', data: { ...ev.doa, ...stamp } }
    case 'change':
      return { type: 'change', data: { ...changeForClients(ev.change), ...stamp } }
    case 'inference':
      // Asked for by name only (not in the default types): classes, alarms, decisions, howls, notches, speech.
      return { type: 'inference', data: { ...ev.report, ...stamp } }
  }
}

/** The `reset` frame of a replay that cannot be complete, or null when nothing was lost. */
export function resetFrame(after: number, r: ReplayAnswer): Record<string, unknown> | null {
  if (!r.replay.gap) return null
  // Older than the buffer: say so (the client should read the state again), then send what is held.
  const what =
    after > r.last
      ? `event ${after} is from before the firmware restarted (ids start again at 1)`
      : `events after ${after} up to ${r.replay.oldest - 1} are no longer held`
  return { lastEventId: after, oldest: r.replay.oldest, message: `${what}; read the state again (GET /api/status, /api/output/show, /api/beam/list)` }
}

export interface EventStreamsOptions {
  /** Most streams open at once. */
  maxStreams: number
  /** Most streams one certificate may hold open. */
  maxPerClient: number
  /** Asks the main thread for the journal after an id. */
  replay(after: number): Promise<ReplayAnswer>
  /** Tells the main thread how many streams are open and the fastest meter rate asked (0: none). */
  announce(count: number, metersHz: number): void
  /** A stream's keep-alive period, ms. Defaults to 15000. */
  keepAliveMs?: number
}

export class EventStreams {
  readonly #opts: EventStreamsOptions
  /** Open streams by certificate serial, for the caps; `end` closes one on stop. */
  readonly #open = new Set<{ serial: string; end(): void }>()
  readonly #rates = new Map<object, number>()
  readonly #listeners = new Set<(e: JournalEntry) => void>()
  #meters: Meters | null = null
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })

  constructor(opts: EventStreamsOptions) {
    this.#opts = opts
  }

  /** A new journal entry from the main thread. */
  entry(e: JournalEntry): void {
    for (const l of this.#listeners) l(e)
  }

  /** The latest meters from the main thread. */
  setMeters(m: Meters | null): void {
    this.#meters = m
  }

  get count(): number {
    return this.#open.size
  }

  /** Throws 429 when this certificate holds its most streams, 503 when all are taken. */
  checkRoom(client: ClientIdentity): void {
    let mine = 0
    for (const x of this.#open) if (x.serial === client.serial) mine++
    if (mine >= this.#opts.maxPerClient) {
      throw new HttpError(
        429,
        'FW_ERR_API_RATE_LIMITED',
        `this certificate (${client.cn}) already holds ${mine} event streams, the most one certificate may open; close one and retry`,
      )
    }
    const max = this.#opts.maxStreams
    if (this.#open.size >= max) throw new HttpError(503, 'FW_ERR_API_RATE_LIMITED', `${max} event streams are already open; close one and retry`)
  }

  /**
   * One event stream over any sink: replays the journal after `q.after` (a reconnect), then live
   * entries of the asked types, and meters at the asked rate. A slow reader loses meters and DOA,
   * never transitions or changes.
   */
  async run(client: ClientIdentity, q: StreamQuery, sink: StreamSink): Promise<void> {
    const closeOwn = this.#register(client, q, sink)
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
    const listener = (e: JournalEntry): void => {
      if (replaying) held.push(e)
      else deliver(e)
    }
    this.#listeners.add(listener)
    closeOwn.push(() => {
      this.#listeners.delete(listener)
    })
    if (q.after === null) return
    const r = await this.#opts.replay(q.after)
    const reset = resetFrame(q.after, r)
    if (reset) sink.send('reset', null, reset, false)
    for (const e of r.replay.entries) deliver(e)
    replaying = false
    for (const e of held.splice(0)) deliver(e)
  }

  /** Counts the stream, starts its meters and keep-alive; returns the list of what its close undoes. */
  #register(client: ClientIdentity, q: StreamQuery, sink: StreamSink): Array<() => void> {
    const entry = { serial: client.serial, end: () => sink.end() }
    this.#open.add(entry)
    const key = {}
    this.#rates.set(key, q.types.has('meters') ? q.hz : 0)
    this.#announce()
    const meterTimer = q.types.has('meters')
      ? setInterval(() => {
          if (this.#meters) sink.send('meters', null, this.#meters, true)
        }, 1000 / q.hz)
      : null
    const keepAlive = setInterval(() => sink.comment('keep-alive'), this.#opts.keepAliveMs ?? 15_000)
    const undo: Array<() => void> = [
      () => {
        if (meterTimer) clearInterval(meterTimer)
        clearInterval(keepAlive)
        this.#open.delete(entry)
        if (this.#rates.delete(key)) this.#announce()
      },
    ]
    let closed = false
    sink.onClose(() => {
      if (closed) return
      closed = true
      for (const u of undo) u()
    })
    return undo
  }

  #announce(): void {
    this.#opts.announce(this.#rates.size, Math.max(0, ...this.#rates.values()))
  }

  /** GET /api/events: server-sent events. The query is checked (400) and room made (429/503) before the 200. */
  serveSse(req: IncomingMessage, res: ServerResponse, url: URL, client: ClientIdentity): void {
    const lei = req.headers['last-event-id']
    const q = parseStreamQuery(url, Array.isArray(lei) ? lei[0] : lei)
    this.checkRoom(client)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write(`retry: 2000\n: stage appliance events ${[...q.types].join(',')} meters ${q.hz} Hz\n\n`)
    let congested = false
    void this.run(client, q, {
      send: (type, id, data, droppable) => {
        if (congested && droppable) return
        const ok = res.write(`${id !== null ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
        if (!ok) {
          congested = true
          res.once('drain', () => {
            congested = false
          })
        }
      },
      comment: (text) => {
        if (!congested) res.write(`: ${text}\n\n`)
      },
      onClose: (fn) => {
        req.on('close', fn)
        res.on('close', fn)
      },
      end: () => res.end(),
    })
  }

  /**
   * /api/ws on the same listener: the same certificate checks (`authorize`), the same events as JSON
   * messages {"event","id","data"} (ids as in SSE; resume with ?lastEventId=N).
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, client: ClientIdentity): void {
    const q = parseStreamQuery(url, undefined)
    this.checkRoom(client)
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on('message', () => {
        /* the stream is one-way; client messages are ignored */
      })
      void this.run(client, q, {
        send: (type, id, data, droppable) => {
          if (droppable && ws.bufferedAmount > 256 * 1024) return
          ws.send(JSON.stringify(id !== null ? { event: type, id, data } : { event: type, data }))
        },
        comment: () => {
          if (ws.readyState === ws.OPEN) ws.ping()
        },
        onClose: (fn) => {
          ws.on('close', fn)
          ws.on('error', fn)
        },
        end: () => ws.close(1001, 'the API is stopping'),
      })
    })
  }

  /** Ends every stream (on stop). */
  stopAll(): void {
    for (const s of [...this.#open]) s.end()
    this.#open.clear()
    for (const ws of this.#wss.clients) ws.terminate()
  }
}
