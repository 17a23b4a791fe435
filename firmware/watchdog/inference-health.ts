// The inference process's health, as the watchdog sees it. The inference service (firmware/
// inference/) reports these events through Appliance.reportInference(ev); the watchdog never
// looks inside the inference process (a child process; "worker" below means it). Any inference
// fault DEGRADES (processing continues, inference and automation stop); it never bypasses,
// because the audio path does not depend on the model.
//
// What the inference service must send:
//   inference-started    when its worker is up (arms the monitor).
//   inference-heartbeat  at least every 250 ms from the worker (not from the main thread), so a
//                        hung worker shows as silence. Silence for `hungMs` (default 1000) = hung.
//   inference-result     for every result: its latency, its deadline, and whether it passed the
//                        output checks (shape, finite numbers, probabilities in 0..1). A result
//                        that fails them (`valid: false`) is "garbage" and degrades at once;
//                        more than `maxLatePerWindow` late results in `windowMs` degrade too.
//   inference-hung       the service found the worker hung (no heartbeat, or a request outstanding,
//                        for `hungMs`) and is killing it. Degrades with cause inference-hung.
//   inference-error      an exception in the worker (session run failed, bad model). Never a hang.
//   inference-exit       the worker exited; degrades until the next inference-started. `reason`
//                        says why: 'hung' (killed by the service after inference-hung: the cause
//                        stays inference-hung) or 'crash' (it died on its own: cause inference-exit).
//   inference-stopped    a deliberate stop (model unloaded by an operator): disarms the monitor.
//
// One cause per kind of fault, whatever arrives first: a hang is always inference-hung (the
// service's verdict, the exit that follows it, and this monitor's own heartbeat silence), a crash
// always inference-exit, a failed run inference-error.
import type { Fault } from './monitors.ts'

export type InferenceHealthEvent =
  | { type: 'inference-started'; at: number }
  | { type: 'inference-heartbeat'; at: number }
  | { type: 'inference-result'; at: number; latencyMs: number; deadlineMs: number; valid: boolean; detail?: string }
  | { type: 'inference-hung'; at: number; message: string }
  | { type: 'inference-error'; at: number; message: string }
  | { type: 'inference-exit'; at: number; code: number | null; signal: string | null; reason?: 'hung' | 'crash' }
  | { type: 'inference-stopped'; at: number }

export interface InferenceMonitorOptions {
  /** No heartbeat for this long means the worker is hung. Defaults to 1000 ms. */
  hungMs?: number
  /** Late results tolerated per window. Defaults to 5. */
  maxLatePerWindow?: number
  /** Window for counting late results. Defaults to 2000 ms. */
  windowMs?: number
}

export class InferenceMonitor {
  readonly hungMs: number
  readonly maxLatePerWindow: number
  readonly windowMs: number
  #armed = false
  #exited: Fault | null = null
  #lastBeat = 0
  #pending: Fault[] = []
  #late: number[] = []
  /** Counters for status. */
  readonly counts = { results: 0, late: 0, garbage: 0, errors: 0, exits: 0, hangs: 0 }

  constructor(opts: InferenceMonitorOptions = {}) {
    this.hungMs = opts.hungMs ?? 1000
    this.maxLatePerWindow = opts.maxLatePerWindow ?? 5
    this.windowMs = opts.windowMs ?? 2000
  }

  get armed(): boolean {
    return this.#armed
  }

  onEvent(ev: InferenceHealthEvent): void {
    switch (ev.type) {
      case 'inference-started':
        this.#armed = true
        this.#exited = null
        this.#lastBeat = ev.at
        this.#late = []
        break
      case 'inference-stopped':
        this.#armed = false
        this.#exited = null
        break
      case 'inference-heartbeat':
        this.#lastBeat = Math.max(this.#lastBeat, ev.at)
        break
      case 'inference-result':
        this.counts.results++
        if (!ev.valid) {
          this.counts.garbage++
          this.#pending.push({ level: 'degrade', cause: 'inference-garbage', evidence: `inference output rejected: ${ev.detail ?? 'failed output checks'}` })
        } else if (ev.latencyMs > ev.deadlineMs) {
          this.counts.late++
          this.#late.push(ev.at)
          while (this.#late.length > 0 && ev.at - this.#late[0]! > this.windowMs) this.#late.shift()
          if (this.#late.length > this.maxLatePerWindow) {
            this.#pending.push({
              level: 'degrade',
              cause: 'inference-latency',
              evidence: `${this.#late.length} inference results past deadline in ${this.windowMs} ms (last ${ev.latencyMs.toFixed(1)} ms > ${ev.deadlineMs} ms)`,
            })
          }
        }
        break
      case 'inference-hung':
        this.counts.hangs++
        this.#pending.push({ level: 'degrade', cause: 'inference-hung', evidence: `inference process hung: ${ev.message}` })
        break
      case 'inference-error':
        this.counts.errors++
        this.#pending.push({ level: 'degrade', cause: 'inference-error', evidence: `inference worker error: ${ev.message}` })
        break
      case 'inference-exit':
        this.counts.exits++
        if (this.#armed) {
          const how = `code ${ev.code ?? '-'}, signal ${ev.signal ?? '-'}`
          this.#exited =
            ev.reason === 'hung'
              ? { level: 'degrade', cause: 'inference-hung', evidence: `inference process killed after it hung (${how}); restarting` }
              : { level: 'degrade', cause: 'inference-exit', evidence: `inference process ${ev.reason === 'crash' ? 'crashed' : 'exited'} (${how})` }
        }
        break
    }
  }

  /** Faults to report this tick: one-shot ones (errors, garbage) once, lasting ones every tick. */
  check(now: number): Fault[] {
    const out = this.#pending
    this.#pending = []
    if (!this.#armed) return out
    if (this.#exited) out.push(this.#exited)
    else if (now - this.#lastBeat > this.hungMs) {
      out.push({ level: 'degrade', cause: 'inference-hung', evidence: `no inference heartbeat for ${Math.round(now - this.#lastBeat)} ms > ${this.hungMs} ms` })
    }
    return out
  }
}
