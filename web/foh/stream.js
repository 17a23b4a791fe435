// The page's one live connection: server-sent events from /api/events, resumed after the last
// event id the page saw (the unit replays what it missed, or sends `reset` when it cannot). A
// dropped stream is closed and a new one opened after a short wait (0.5 s, doubling to 8 s while
// the unit stays away), from the last id seen. No polling.

export const STREAM_TYPES = 'transition,meters,doa,recommendation,panel,change,inference'

export class UnitStream {
  #source = null
  #lastId = null
  #retryMs = 500
  #timer = null
  #stopped = false
  #handlers

  /** handlers: { onEvent(type, data, id), onState(connected: boolean), onReset(data) } */
  constructor(handlers) {
    this.#handlers = handlers
  }

  get lastEventId() {
    return this.#lastId
  }

  start() {
    this.#stopped = false
    this.#open()
  }

  stop() {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#source?.close()
    this.#source = null
  }

  #open() {
    const q = new URLSearchParams({ types: STREAM_TYPES, metersHz: '10' })
    if (this.#lastId !== null) q.set('lastEventId', String(this.#lastId))
    const es = new EventSource(`/api/events?${q}`)
    this.#source = es
    es.onopen = () => {
      this.#retryMs = 500
      this.#handlers.onState(true)
    }
    es.onerror = () => {
      this.#handlers.onState(false)
      // Not the browser's own retry (it waits the server's 2 s and gives up on a refusal): this
      // stream is closed and a fresh one opened after a wait, from the last id seen.
      es.close()
      if (this.#source !== es || this.#stopped) return
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => this.#open(), this.#retryMs)
      this.#retryMs = Math.min(this.#retryMs * 2, 8000)
    }
    for (const type of [...STREAM_TYPES.split(','), 'reset']) {
      es.addEventListener(type, (m) => {
        if (m.lastEventId) {
          const id = Number(m.lastEventId)
          if (Number.isSafeInteger(id)) this.#lastId = id
        }
        let data
        try {
          data = JSON.parse(m.data)
        } catch {
          return
        }
        if (type === 'reset') this.#handlers.onReset(data)
        else this.#handlers.onEvent(type, data, this.#lastId)
      })
    }
  }
}

/** A command through the API: GET for reads, POST with a JSON body for changes. Resolves with the reply body. */
export async function call(method, path, body) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' }
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const r = await fetch(path, init)
  let j
  try {
    j = await r.json()
  } catch {
    j = { ok: false, code: 'FW_ERR_API_BAD_REQUEST', message: `HTTP ${r.status}` }
  }
  return { status: r.status, ...j }
}
