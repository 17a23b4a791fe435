// The telemetry buffer on disk: every message is written here before it is sent, so a broker that
// is away, a restart or a power cut loses nothing within the bounds. One batch is one file, written
// with the store's atomic discipline (temp, fsync, rename, directory fsync); a batch is removed
// once the broker acknowledged every message in it (QoS 1). Bounded in bytes and in age: past a
// bound the oldest batches go, and the count of messages dropped is kept (state.json) and reported.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { removeStaleTemps, writeFileAtomic } from '../store/atomic.ts'

export interface QueuedMessage {
  topic: string
  payload: string
  retain: boolean
}

export interface Batch {
  name: string
  at: number
  bytes: number
  messages: QueuedMessage[]
}

export interface QueueBounds {
  /** Most bytes of batches kept on disk. */
  maxBytes: number
  /** Oldest batch kept, in ms. */
  maxAgeMs: number
}

export interface QueueStats {
  queuedMessages: number
  queuedBytes: number
  /** Messages dropped past the bounds, over the unit's life (kept across restarts). */
  dropped: number
}

interface Entry {
  name: string
  at: number
  bytes: number
  count: number
}

const BATCH_RE = /^b-(\d{8})-(\d{10})\.json$/

export class DiskQueue {
  readonly dir: string
  /** This start's number (1 on the unit's first start), kept on disk. */
  readonly boot: number
  readonly #bounds: QueueBounds
  readonly #entries: Entry[]
  #dropped: number
  #batchNo = 0
  #seq = 0
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(dir: string, boot: number, dropped: number, entries: Entry[], bounds: QueueBounds) {
    this.dir = dir
    this.boot = boot
    this.#dropped = dropped
    this.#entries = entries
    this.#bounds = bounds
  }

  /** Opens (or creates) the buffer in `dir` and counts this start. */
  static async open(dir: string, bounds: QueueBounds): Promise<DiskQueue> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await removeStaleTemps(dir)
    let boot = 0
    let dropped = 0
    try {
      const s = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { boot?: unknown; dropped?: unknown }
      if (Number.isSafeInteger(s.boot)) boot = s.boot as number
      if (Number.isSafeInteger(s.dropped)) dropped = s.dropped as number
    } catch {
      // first start, or an unreadable state: count from here
    }
    const entries: Entry[] = []
    for (const name of (await readdir(dir)).filter((n) => BATCH_RE.test(n)).sort()) {
      try {
        const text = await readFile(join(dir, name), 'utf8')
        const b = JSON.parse(text) as { at: number; messages: QueuedMessage[] }
        entries.push({ name, at: b.at, bytes: Buffer.byteLength(text), count: b.messages.length })
        boot = Math.max(boot, Number(BATCH_RE.exec(name)?.[1]))
      } catch {
        // Written atomically, so this is not a torn write: a file damaged on disk. Counted, removed.
        dropped++
        await unlink(join(dir, name)).catch(() => {})
      }
    }
    const q = new DiskQueue(dir, boot + 1, dropped, entries, bounds)
    await q.#saveState()
    return q
  }

  /** The next message number of this start (1, 2, ...). */
  nextSeq(): number {
    return ++this.#seq
  }

  get stats(): QueueStats {
    let queuedMessages = 0
    let queuedBytes = 0
    for (const e of this.#entries) {
      queuedMessages += e.count
      queuedBytes += e.bytes
    }
    return { queuedMessages, queuedBytes, dropped: this.#dropped }
  }

  /** Writes `messages` as one batch; resolves once it is on disk. Writes leave in call order. */
  enqueue(messages: QueuedMessage[], now = Date.now()): Promise<void> {
    if (messages.length === 0) return Promise.resolve()
    const name = `b-${String(this.boot).padStart(8, '0')}-${String(++this.#batchNo).padStart(10, '0')}.json`
    const text = JSON.stringify({ at: now, messages })
    const run = this.#writes.then(async () => {
      await writeFileAtomic(join(this.dir, name), text)
      this.#entries.push({ name, at: now, bytes: Buffer.byteLength(text), count: messages.length })
      await this.#enforce(now)
    })
    this.#writes = run.catch(() => {})
    return run
  }

  /** The oldest batch, or null when everything was sent. */
  async peek(): Promise<Batch | null> {
    await this.#writes
    await this.#enforce(Date.now())
    const e = this.#entries[0]
    if (!e) return null
    try {
      const b = JSON.parse(await readFile(join(this.dir, e.name), 'utf8')) as { at: number; messages: QueuedMessage[] }
      return { name: e.name, at: e.at, bytes: e.bytes, messages: b.messages }
    } catch {
      await this.#drop(e)
      await this.#saveState()
      return this.peek()
    }
  }

  /** The broker has every message of `batch`: it leaves the disk. */
  async ack(batch: Batch): Promise<void> {
    const i = this.#entries.findIndex((e) => e.name === batch.name)
    if (i >= 0) this.#entries.splice(i, 1)
    await unlink(join(this.dir, batch.name)).catch(() => {})
  }

  async #drop(e: Entry): Promise<void> {
    const i = this.#entries.indexOf(e)
    if (i >= 0) this.#entries.splice(i, 1)
    this.#dropped += e.count
    await unlink(join(this.dir, e.name)).catch(() => {})
  }

  async #enforce(now: number): Promise<void> {
    let changed = false
    while (this.#entries.length > 1 && (this.stats.queuedBytes > this.#bounds.maxBytes || this.#entries[0]!.at < now - this.#bounds.maxAgeMs)) {
      await this.#drop(this.#entries[0]!)
      changed = true
    }
    const only = this.#entries[0]
    if (only && this.#entries.length === 1 && only.at < now - this.#bounds.maxAgeMs) {
      await this.#drop(only)
      changed = true
    }
    if (changed) await this.#saveState()
  }

  #saveState(): Promise<void> {
    return writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify({ boot: this.boot, dropped: this.#dropped }))
  }
}
