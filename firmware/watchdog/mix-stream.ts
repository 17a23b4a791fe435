// The personal-mix streams' health (addons/src/mix/streamer.h), as the watchdog sees it. A
// listener's stream is never the PA: whatever goes wrong here DEGRADES (says so on the panel,
// the console and the API) and never bypasses. Faults: an ingest that refuses packets (send
// errors: the media server is gone), a published stream that stopped sending, or the streamer
// falling behind the engine's tap (records dropped).
import type { Fault } from './monitors.ts'

/** What the tick hands over: the streamer's counters (Engine.mixPort().stats()), or null when off. */
export interface MixStreamHealth {
  running: boolean
  tapDrops: number
  streams: ReadonlyArray<{ name: string; packets: number; sendErrors: number }>
}

export class MixStreamMonitor {
  #last: Map<string, { packets: number; sendErrors: number }> = new Map()
  #lastDrops = 0

  /** Compares with the previous check; the first check of a stream only arms it. */
  check(h: MixStreamHealth | null): Fault | null {
    if (!h || !h.running) {
      this.#last.clear()
      this.#lastDrops = 0
      return null
    }
    const problems: string[] = []
    const next = new Map<string, { packets: number; sendErrors: number }>()
    for (const s of h.streams) {
      const prev = this.#last.get(s.name)
      next.set(s.name, { packets: s.packets, sendErrors: s.sendErrors })
      if (!prev) continue
      const errors = s.sendErrors - prev.sendErrors
      if (errors > 0) problems.push(`mix ${s.name}: ${errors} packets refused by the ingest (the media server is not receiving)`)
      else if (s.packets === prev.packets) problems.push(`mix ${s.name}: no packet sent since the last check`)
    }
    const drops = h.tapDrops - this.#lastDrops
    if (this.#last.size > 0 && drops > 0) problems.push(`the mix streamer fell behind: ${drops} tap records dropped (the PA path did not wait)`)
    this.#last = next
    this.#lastDrops = h.tapDrops
    return problems.length === 0 ? null : { level: 'degrade', cause: 'mix-stream', evidence: problems.join('; ') }
  }
}
