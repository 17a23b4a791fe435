// The console's PIN gate: whether a PIN is set (the hash file exists; looked at at most once a
// second), the login and its idle lapse, wrong-PIN counting and the doubling lockout. State: the
// login, the time of the last admin command, failures, lockouts and the lockout's end.
import { existsSync, readFileSync, statSync } from 'node:fs'
import type { Permission } from '../commands/types.ts'
import { FirmwareError } from '../errors.ts'
import { verifyPinHash } from '../secrets/secrets.ts'

export class PinGate {
  readonly #file: string
  readonly #lockout: { tries: number; ms: number }
  readonly #idleMs: number
  readonly #warn: (message: string) => void
  #loggedIn = false
  #lastCommandAt = 0
  #pinFailures = 0
  #lockouts = 0
  #lockedUntil = 0
  #cache: { at: number; exists: boolean } = { at: 0, exists: false }

  constructor(file: string, lockout: { tries: number; ms: number }, idleMs: number, warn: (message: string) => void) {
    this.#file = file
    this.#lockout = lockout
    this.#idleMs = idleMs
    this.#warn = warn
  }

  /** A PIN is set on this unit. */
  required(): boolean {
    const now = Date.now()
    if (now - this.#cache.at > 1000) this.#cache = { at: now, exists: existsSync(this.#file) }
    return this.#cache.exists
  }

  permission(): Permission {
    if (!this.required()) return 'admin'
    if (this.#loggedIn && Date.now() - this.#lastCommandAt > this.#idleMs) this.#loggedIn = false
    return this.#loggedIn ? 'admin' : 'observe'
  }

  /** An admin command ran: the login stays alive. */
  touch(): void {
    this.#lastCommandAt = Date.now()
  }

  logout(): void {
    this.#loggedIn = false
  }

  /** Checks a PIN: logs in, or throws FW_ERR_PIN (wrong, locked out, or the PIN file unusable). */
  async check(pin: string): Promise<{ permission: string }> {
    const now = Date.now()
    if (now < this.#lockedUntil) {
      throw new FirmwareError('FW_ERR_PIN', `too many wrong PINs; try again in ${Math.ceil((this.#lockedUntil - now) / 1000)} s`)
    }
    let stored: string
    try {
      const st = statSync(this.#file)
      if ((st.mode & 0o077) !== 0) this.#warn(`${this.#file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); it should be 0600`)
      stored = readFileSync(this.#file, 'utf8').trim()
      if (!/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(stored)) throw new Error('not a scrypt PIN hash')
    } catch (e) {
      throw new FirmwareError(
        'FW_ERR_PIN',
        `the console PIN file cannot be used (${(e as Error).message}); operate and admin stay locked until the PIN is set again at provisioning`,
      )
    }
    let ok = false
    try {
      ok = await verifyPinHash(stored, pin)
    } catch {
      ok = false
    }
    if (!ok) {
      this.#pinFailures++
      const left = this.#lockout.tries - this.#pinFailures
      if (left <= 0) {
        const ms = this.#lockout.ms * 2 ** this.#lockouts
        this.#lockouts = Math.min(this.#lockouts + 1, 5)
        this.#lockedUntil = Date.now() + ms
        this.#pinFailures = 0
        throw new FirmwareError('FW_ERR_PIN', `wrong PIN; login is locked for ${Math.round(ms / 1000)} s`)
      }
      throw new FirmwareError('FW_ERR_PIN', `wrong PIN; ${left} ${left === 1 ? 'try' : 'tries'} left before a lockout`)
    }
    this.#pinFailures = 0
    this.#lockouts = 0
    this.#loggedIn = true
    this.#lastCommandAt = Date.now()
    return { permission: 'admin' }
  }
}
