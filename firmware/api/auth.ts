// Who may talk to the API: the client certificate's role, the revocation list, its validity, and the
// per-certificate rate limit. TLS has already checked the chain against the operator CA; this decides
// the rest, one request (or WebSocket upgrade) at a time, and throws the 401 or 429 that refuses it.
import { existsSync, readFileSync } from 'node:fs'
import type { Principal } from '../commands/types.ts'
import { ClientRateLimiter, type RateLimitOptions } from '../transport/ratelimit.ts'
import { HttpError } from './http.ts'
import { type ClientIdentity, revokedSerials } from './tls.ts'

export interface ApiAuthOptions {
  /** Per-certificate limits (transport/ratelimit.ts). */
  rateLimit?: RateLimitOptions
  /** Clock for certificate expiry, ms since the epoch. Defaults to Date.now. */
  now?: () => number
  /** Clock for the rate limiter, ms. Defaults to performance.now. */
  monotonic?: () => number
  /** Where an unreadable revocation list is reported. Defaults to nowhere. */
  log?: (level: 'error', message: string) => void
}

export class ApiAuth {
  #revoked = new Set<string>()
  readonly #limiter: ClientRateLimiter
  readonly #now: () => number
  readonly #log: (level: 'error', message: string) => void

  constructor(opts: ApiAuthOptions = {}) {
    this.#limiter = new ClientRateLimiter(opts.rateLimit ?? {}, opts.monotonic)
    this.#now = opts.now ?? Date.now
    this.#log = opts.log ?? (() => {})
  }

  /** Reads the revocation list: none on disk revokes nothing; an unreadable one keeps the previous list. */
  loadRevoked(crlPath: string): void {
    if (!existsSync(crlPath)) {
      this.#revoked = new Set()
      return
    }
    try {
      this.#revoked = revokedSerials(readFileSync(crlPath, 'utf8'))
    } catch (e) {
      this.#log('error', `cannot read the CRL ${crlPath}: ${(e as Error).message}; keeping the previous list`)
    }
  }

  isRevoked(serial: string): boolean {
    return this.#revoked.has(serial)
  }

  /** The verified client (`clientOf` the connection), or the 401 / 429 that refuses it. Takes a rate-limit token. */
  authorize(client: ClientIdentity | null): ClientIdentity {
    if (!client)
      throw new HttpError(
        401,
        'FW_ERR_API_UNAUTHORIZED',
        'the client certificate has no known role (OU must be operator, observer or admin); ask for a new bundle',
      )
    if (this.#revoked.has(client.serial))
      throw new HttpError(401, 'FW_ERR_API_UNAUTHORIZED', `certificate ${client.serial} has been revoked; ask the system tech for a new bundle`)
    if (Number.isFinite(client.validTo) && client.validTo < this.#now())
      throw new HttpError(401, 'FW_ERR_API_UNAUTHORIZED', 'the client certificate has expired; ask the system tech for a new bundle')
    const wait = this.#limiter.take(client.serial)
    if (wait > 0) {
      const s = Math.max(1, Math.ceil(wait))
      throw new HttpError(429, 'FW_ERR_API_RATE_LIMITED', `too many requests from ${client.cn}; retry in ${s} s`, undefined, { 'retry-after': String(s) })
    }
    return client
  }
}

/** The principal a command runs as: the certificate's CN and serial, its permission, transport "api". */
export function principalOf(c: ClientIdentity): Principal {
  return { name: `api:CN=${c.cn},serial=${c.serial}`, permission: c.permission, transport: 'api' }
}
