// Per-client rate limits: a token bucket per client certificate serial. A client that runs dry gets
// 429 with Retry-After; other clients are unaffected.
export interface RateLimitOptions {
  /** Sustained requests per second per client. Defaults to 50. */
  perSecond?: number
  /** Burst size. Defaults to 100. */
  burst?: number
}

export class ClientRateLimiter {
  private readonly rate: number
  private readonly burst: number
  private readonly buckets = new Map<string, { tokens: number; at: number }>()
  private readonly now: () => number

  constructor(opts: RateLimitOptions = {}, now: () => number = () => performance.now()) {
    this.rate = opts.perSecond ?? 50
    this.burst = opts.burst ?? 100
    this.now = now
  }

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(client: string): number {
    const t = this.now()
    let b = this.buckets.get(client)
    if (!b) {
      b = { tokens: this.burst, at: t }
      this.buckets.set(client, b)
      if (this.buckets.size > 10_000) this.buckets.clear()
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate)
    b.at = t
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return (1 - b.tokens) / this.rate
  }
}
