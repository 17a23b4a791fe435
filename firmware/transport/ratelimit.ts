// Per-client rate limits, the one limiter every transport uses (the API per client certificate
// serial, OSC per source address): a token bucket per client. A client that runs dry is refused
// (the API answers 429 with Retry-After, OSC drops); other clients are unaffected.
import { FirmwareError } from '../errors.ts'

export interface RateLimitOptions {
  /** Sustained requests per second per client, > 0. Defaults to 50. */
  perSecond?: number
  /** Burst size, at least 1. Defaults to 100. */
  burst?: number
}

/** Buckets kept before idle ones are dropped. */
const MAX_CLIENTS = 10_000

export class ClientRateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  readonly #now: () => number

  /** `now` is a monotonic clock in ms. Throws FW_ERR_BAD_OPTION for a rate or burst that would never allow or never refuse. */
  constructor(opts: RateLimitOptions = {}, now: () => number = () => performance.now()) {
    this.#rate = opts.perSecond ?? 50
    this.#burst = opts.burst ?? 100
    if (!(Number.isFinite(this.#rate) && this.#rate > 0))
      throw new FirmwareError('FW_ERR_BAD_OPTION', `rate limit perSecond must be a number above 0, got ${String(opts.perSecond)}`)
    if (!(Number.isFinite(this.#burst) && this.#burst >= 1))
      throw new FirmwareError('FW_ERR_BAD_OPTION', `rate limit burst must be a number of at least 1, got ${String(opts.burst)}`)
    this.#now = now
  }

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(client: string): number {
    const t = this.#now()
    let b = this.#buckets.get(client)
    if (!b) {
      if (this.#buckets.size >= MAX_CLIENTS) this.#forgetIdle(t)
      b = { tokens: this.#burst, at: t }
      this.#buckets.set(client, b)
    }
    // A clock that steps back refills nothing and takes nothing away.
    b.tokens = Math.min(this.#burst, b.tokens + (Math.max(0, t - b.at) / 1000) * this.#rate)
    b.at = Math.max(b.at, t)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return (1 - b.tokens) / this.#rate
  }

  // Bounded memory: when full, the half of the clients with the most tokens is forgotten (a bucket
  // that has refilled is the same as a new one), so a client that is being limited stays limited.
  #forgetIdle(t: number): void {
    const level = (b: { tokens: number; at: number }): number => b.tokens + (Math.max(0, t - b.at) / 1000) * this.#rate
    const byTokens = [...this.#buckets].sort((x, y) => level(y[1]) - level(x[1]))
    for (const [k] of byTokens.slice(0, Math.ceil(byTokens.length / 2))) this.#buckets.delete(k)
  }
}
