// The API supervisor's policy, without timers or threads: the restart options and their defaults,
// the restart backoff, and the hang judgement over pings. The supervisor (supervisor.ts) runs them on
// the real clock; tests/api/supervisor.test.ts on a fake one.
import type { Worker } from 'node:worker_threads'

export interface RestartOptions {
  /** Delay before the first restart after a failure, ms. Defaults to 100. */
  initialDelayMs?: number
  /** The delay doubles with each failure in a row up to this, ms. Defaults to 10000. */
  maxDelayMs?: number
  /** A worker that ran this long before it failed restarts after initialDelayMs again, ms. Defaults to 60000. */
  healthyMs?: number
  /** How often the main thread pings the worker, ms. Defaults to 1000. */
  pingMs?: number
  /** A worker that has not answered a ping for this long is hung: it is terminated and restarted, ms. Defaults to 5000. */
  hangMs?: number
  /** A (re)started worker that is not listening within this long is given up on, ms. Defaults to 30000. */
  startTimeoutMs?: number
}

/** How the API has fared since startApi(). */
export interface ApiStats {
  /** up: a worker is serving; restarting: waiting for or starting a new worker; stopped: stop() was called. */
  state: 'up' | 'restarting' | 'stopped'
  /** Workers started after the first one (successful restarts). */
  restarts: number
  /** Workers that exited or threw on their own. */
  crashes: number
  /** Workers terminated because they stopped answering the ping. */
  hangs: number
  /** Restart attempts that failed (e.g. the port was taken); each is retried after the backoff. */
  failedStarts: number
  /** When the serving worker became ready (ms since the epoch), or null while none is. */
  upSince: number | null
  /** The last time a worker went down and why. */
  last: { at: number; cause: string } | null
  /** The delay before the next restart, ms (the backoff as it stands). */
  nextDelayMs: number
}

/** Test-only handles on the worker (ApiOptions.testHooks). */
export interface ApiTestHooks {
  /** The worker serving now, or null between workers (tests may terminate() it). */
  worker(): Worker | null
  /** Makes the worker throw an uncaught exception. */
  crash(): void
  /** Blocks the worker for `ms` without answering anything (a hang). */
  hang(ms: number): void
  /** Makes the worker allocate until it hits its heap limit (ApiOptions.maxHeapMb). */
  leak(): void
}

/** RestartOptions with every default applied. */
export type RestartPolicy = Required<RestartOptions>

export function restartPolicy(ro: RestartOptions = {}): RestartPolicy {
  const initialDelayMs = Math.max(1, ro.initialDelayMs ?? 100)
  const pingMs = Math.max(10, ro.pingMs ?? 1000)
  return {
    initialDelayMs,
    maxDelayMs: Math.max(initialDelayMs, ro.maxDelayMs ?? 10_000),
    healthyMs: ro.healthyMs ?? 60_000,
    pingMs,
    // A hang is judged over at least two pings, so one slow answer is not a hang.
    hangMs: Math.max(2 * pingMs, ro.hangMs ?? 5000),
    startTimeoutMs: ro.startTimeoutMs ?? 30_000,
  }
}

/**
 * The restart delay: initialDelayMs, doubling with each failure in a row up to maxDelayMs; a worker
 * that served healthyMs before it failed restarts after initialDelayMs again. No timers, no clock.
 */
export class RestartBackoff {
  readonly #p: Pick<RestartPolicy, 'initialDelayMs' | 'maxDelayMs' | 'healthyMs'>
  #delay: number

  constructor(p: Pick<RestartPolicy, 'initialDelayMs' | 'maxDelayMs' | 'healthyMs'>) {
    this.#p = p
    this.#delay = p.initialDelayMs
  }

  /** The delay the next restart will wait, ms. */
  get nextDelayMs(): number {
    return this.#delay
  }

  /** A serving worker went down after running `ranMs`: a healthy run starts the schedule over. */
  down(ranMs: number): void {
    if (ranMs >= this.#p.healthyMs) this.#delay = this.#p.initialDelayMs
  }

  /** Takes the delay for the restart being scheduled now; the one after waits twice as long. */
  take(): number {
    const d = this.#delay
    this.#delay = Math.min(this.#p.maxDelayMs, d * 2)
    return d
  }
}

/**
 * Hang detection over periodic pings: a worker whose last pong is older than hangMs is hung. After a
 * stall of the main thread itself (a tick more than two pings late), the worker gets a fresh hangMs:
 * its late pongs are queued behind the very timer that judges it.
 */
export class Liveness {
  readonly #pingMs: number
  readonly #hangMs: number
  #lastTick: number

  constructor(pingMs: number, hangMs: number, now: number) {
    this.#pingMs = pingMs
    this.#hangMs = hangMs
    this.#lastTick = now
  }

  /** One tick at `now`; with a worker's last pong, its (possibly refreshed) last pong and whether it is hung. */
  tick(now: number, lastPong: number | null): { lastPong: number; hung: boolean } | null {
    const stalled = now - this.#lastTick > 2 * this.#pingMs
    this.#lastTick = now
    if (lastPong === null) return null
    const pong = stalled ? Math.max(lastPong, now) : lastPong
    return { lastPong: pong, hung: now - pong > this.#hangMs }
  }
}
