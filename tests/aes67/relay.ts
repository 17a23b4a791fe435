// A userspace UDP impairment relay (this kernel has no netem): datagrams sent to its port go on to
// a target after a seeded random fate: dropped (loss), held back behind the next one (reorder),
// or delayed by up to `jitterMs`. It counts what it did so a test can compare with the unit's view.
import { createSocket, type Socket } from 'node:dgram'
import { rng } from '../helpers/rng.ts'

export interface Impairment {
  /** Share of datagrams dropped, 0..1. */
  loss: number
  /** Share of datagrams held back and sent after the next one, 0..1. */
  reorder: number
  /** Each datagram is delayed by a uniform 0..jitterMs. */
  jitterMs: number
  seed: number
}

export class ImpairRelay {
  readonly #in: Socket = createSocket('udp4')
  readonly #random: () => number
  readonly #imp: Impairment
  #held: Buffer | null = null
  #target = 0
  counts = { received: 0, dropped: 0, reordered: 0, forwarded: 0 }
  /** RTP sequence numbers of the datagrams dropped. */
  readonly droppedSeqs = new Set<number>()
  /** RTP sequence numbers of the datagrams forwarded. */
  readonly forwardedSeqs = new Set<number>()

  constructor(imp: Impairment) {
    this.#imp = imp
    this.#random = rng(imp.seed)
  }

  /** Binds an ephemeral port; returns it. */
  async listen(target: number): Promise<number> {
    this.#target = target
    await new Promise<void>((resolve) => this.#in.bind(0, '127.0.0.1', resolve))
    this.#in.on('message', (m) => this.#onMessage(m))
    return this.#in.address().port
  }

  // Jitter keeps the order (a queue whose datagrams each wait a random time, never overtaking):
  // reordering is the separate, counted `reorder` fate, so a stalled event loop cannot turn
  // jitter into unbounded reordering.
  readonly #queue: Array<{ due: number; m: Buffer }> = []
  #timer: NodeJS.Timeout | undefined

  #forward(m: Buffer): void {
    this.counts.forwarded++
    if (m.length >= 4) this.forwardedSeqs.add(m.readUInt16BE(2))
    const last = this.#queue.at(-1)?.due ?? 0
    this.#queue.push({ due: Math.max(last, performance.now() + this.#random() * this.#imp.jitterMs), m })
    this.#flush()
  }

  #flush(): void {
    const now = performance.now()
    while (this.#queue.length > 0 && (this.#queue[0]?.due ?? 0) <= now) {
      const head = this.#queue.shift()
      if (head) this.#in.send(head.m, this.#target, '127.0.0.1')
    }
    clearTimeout(this.#timer)
    const next = this.#queue[0]
    if (next) this.#timer = setTimeout(() => this.#flush(), Math.max(0, next.due - now))
  }

  #onMessage(m: Buffer): void {
    this.counts.received++
    if (this.#random() < this.#imp.loss) {
      this.counts.dropped++
      if (m.length >= 4) this.droppedSeqs.add(m.readUInt16BE(2))
      return
    }
    if (this.#held === null && this.#random() < this.#imp.reorder) {
      this.#held = m
      this.counts.reordered++
      return
    }
    this.#forward(m)
    if (this.#held) {
      this.#forward(this.#held)
      this.#held = null
    }
  }

  close(): void {
    clearTimeout(this.#timer)
    this.#in.close()
  }
}
