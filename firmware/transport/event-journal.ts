// The unit's one event journal: every ApplianceEvent but meters (a sampled level, not an event) gets
// an id that increases per unit and an ISO 8601 UTC millisecond timestamp, and the latest ones are
// kept in a bounded buffer so a client that reconnects can ask for what it missed (SSE Last-Event-ID,
// the WebSocket's lastEventId). Every transport that streams events (API SSE and WebSocket, the
// console's subscribe) formats these entries, so ids and times agree everywhere.
import type { ApplianceApi, ApplianceEvent, SettingChange } from '../contract/appliance.ts'

export interface JournalEntry {
  /** Increases by one per journaled event, from 1 at start. */
  id: number
  /** ISO 8601 UTC with milliseconds, e.g. 2026-12-07T05:30:00.123Z. */
  at: string
  event: Exclude<ApplianceEvent, { type: 'meters' }>
}

export interface EventJournalOptions {
  /** Entries kept for replay. Defaults to 1024. */
  capacity?: number
  /** Clock (ms since the epoch), injectable for tests. Defaults to Date.now. */
  now?: () => number
}

/** What a reconnecting client gets: the entries after its id, and whether some were already dropped. */
export interface Replay {
  entries: JournalEntry[]
  /** True when the asked id is older than the buffer: entries between it and `entries[0]` are lost. */
  gap: boolean
  /** The oldest id still held (0 when empty). */
  oldest: number
}

export class EventJournal {
  readonly #capacity: number
  readonly #now: () => number
  readonly #buf: JournalEntry[] = []
  #nextId = 1
  readonly #listeners = new Set<(e: JournalEntry) => void>()

  constructor(opts: EventJournalOptions = {}) {
    this.#capacity = Math.max(1, opts.capacity ?? 1024)
    this.#now = opts.now ?? Date.now
  }

  /** Stamps one event; meters are not journaled (returns null). Inference reports are (rate-bounded at
   *  their source): the FOH page's timeline catches up on them after a reconnect. */
  record(ev: ApplianceEvent): JournalEntry | null {
    if (ev.type === 'meters') return null
    const entry: JournalEntry = { id: this.#nextId++, at: new Date(this.#now()).toISOString(), event: ev }
    this.#buf.push(entry)
    if (this.#buf.length > this.#capacity) this.#buf.splice(0, this.#buf.length - this.#capacity)
    for (const l of this.#listeners) {
      try {
        l(entry)
      } catch {
        /* one listener's failure must not stop the others */
      }
    }
    return entry
  }

  /** The last id given out (0 before the first event). */
  lastId(): number {
    return this.#nextId - 1
  }

  /** Entries with an id greater than `afterId`. */
  since(afterId: number): Replay {
    const oldest = this.#buf[0]?.id ?? 0
    // An id this journal never gave out: the firmware restarted since (ids start again at 1), so
    // everything held is new to the client, and what happened before the restart is lost.
    if (afterId > this.lastId()) return { entries: [...this.#buf], gap: true, oldest }
    const entries = this.#buf.filter((e) => e.id > afterId)
    // Lost: the client's next id (afterId + 1) is no longer held and something newer is.
    const gap = oldest > 0 && afterId + 1 < oldest
    return { entries, gap, oldest }
  }

  /** Listens to every new entry; returns the unsubscribe function. */
  subscribe(listener: (e: JournalEntry) => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }
}

const perAppliance = new WeakMap<ApplianceApi, EventJournal>()

/** THE journal of an appliance: created and subscribed on first use, then the same for every caller. */
export function journalFor(app: ApplianceApi, opts: EventJournalOptions = {}): EventJournal {
  let j = perAppliance.get(app)
  if (!j) {
    const journal = new EventJournal(opts)
    app.subscribe((ev) => {
      journal.record(ev)
    })
    perAppliance.set(app, journal)
    j = journal
  }
  return j
}

/**
 * A change as people and clients see it: inputs, outputs, beams and bands numbered from 1, as every
 * command and the rear panel number them (the appliance emits its 0-based indices), and a beam's
 * value in the shape `beam list` shows. Transports format changes with this, so they agree.
 */
export function changeForClients(c: SettingChange): SettingChange {
  const target: Record<string, number | string> = {}
  for (const [k, v] of Object.entries(c.target))
    target[k] = typeof v === 'number' && (k === 'output' || k === 'input' || k === 'beam' || k === 'band') ? v + 1 : v
  let value = c.value
  if (c.what === 'beam' && value !== null && typeof value === 'object' && 'index' in value) {
    const { index, ...rest } = value as { index: number } & Record<string, unknown>
    value = { beam: index + 1, ...rest }
  }
  return { what: c.what, target, value, who: c.who }
}
