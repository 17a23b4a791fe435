// The console's rate limit (docs/console-protocol.md §5) on the shared limiter
// (firmware/transport/ratelimit.ts): one bucket for the console's line, and at most `burst` lines
// waiting for their turn at once. The first refusal in each second gets an ERR FW_ERR_RATE_LIMITED
// reply; the others none. State: the limiter, the time of the last refusal reply, the refusals.
import type { CommandResult } from '../commands/types.ts'
import { ClientRateLimiter } from '../transport/ratelimit.ts'

export class LineLimiter {
  readonly #rate: { perSecond: number; burst: number }
  readonly #limiter: ClientRateLimiter
  readonly #refuse: (reply: CommandResult) => void
  #lastRefusalReply = Number.NEGATIVE_INFINITY
  /** Lines dropped so far. */
  refused = 0

  /** Throws FW_ERR_BAD_OPTION for a rate that would never allow or never refuse. */
  constructor(rate: { perSecond: number; burst: number }, refuse: (reply: CommandResult) => void) {
    this.#rate = rate
    this.#limiter = new ClientRateLimiter(rate)
    this.#refuse = refuse
  }

  /** One unpaced line, with `queued` lines still waiting for their turn: may it run? */
  take(queued: number): boolean {
    const { perSecond, burst } = this.#rate
    if (queued < burst && this.#limiter.take('console') === 0) return true
    this.refused++
    const now = performance.now()
    if (now - this.#lastRefusalReply >= 1000) {
      this.#lastRefusalReply = now
      this.#refuse({
        ok: false,
        command: '',
        code: 'FW_ERR_RATE_LIMITED',
        message: `more than ${perSecond} commands per second; lines are being dropped (${this.refused} so far). Wait for each reply before sending the next command`,
      })
    }
    return false
  }
}
