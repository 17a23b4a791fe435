// The simulated board's console UART: a socat PTY pair in <simDir>/console-pty (or a temp
// directory of its own), kept alive: when socat exits without being asked to, a new pair is made at
// the same link paths, so a tech reconnects with the same command. Reached through the console
// port driver (drivers.ts), so the console does not know which board it is on.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPtyPair, type PtyPair } from '../hardware/pty.ts'

export type PortLog = (level: 'info' | 'warn' | 'error', message: string) => void

/**
 * The sim board's console UART: a socat PTY pair in <simDir>/console-pty (or a temp directory of
 * its own), kept alive: when socat exits without being asked to, a new pair is made at the same
 * link paths, so a tech reconnects with the same command.
 */
export class SimPty {
  #pty: PtyPair
  #stopped = false
  #retryTimer: NodeJS.Timeout | undefined
  #delay = 100
  #lastWarn = 0
  #listener: () => void = () => {}
  /** The current socat's pid (changes when the pair is recreated). */
  get pid(): number {
    return this.#pty.pid
  }

  readonly dir: string
  readonly #ownDir: boolean
  readonly #log: PortLog

  private constructor(dir: string, ownDir: boolean, first: PtyPair, log: PortLog) {
    this.dir = dir
    this.#ownDir = ownDir
    this.#log = log
    this.#pty = first
    this.#watch(first)
  }

  static async open(simDir: string | undefined, log: PortLog): Promise<SimPty> {
    let dir: string
    if (simDir) {
      dir = join(simDir, 'console-pty')
      mkdirSync(dir, { recursive: true })
    } else dir = mkdtempSync(join(tmpdir(), 'fw-console-'))
    try {
      // The same orphan-proof socat pair the simulated front panel uses (it dies with this process).
      return new SimPty(dir, !simDir, await openPtyPair(dir), log)
    } catch (e) {
      if (!simDir) rmSync(dir, { recursive: true, force: true })
      throw e
    }
  }

  get a(): string {
    return join(this.dir, 'pty-a')
  }

  get b(): string {
    return join(this.dir, 'pty-b')
  }

  onRecreated(listener: () => void): void {
    this.#listener = listener
  }

  #watch(pty: PtyPair): void {
    void pty.exited.then(() => {
      if (this.#stopped || pty !== this.#pty) return
      this.#log('warn', `socat for the console PTY (pid ${pty.pid}) exited; recreating the pair at ${this.b}`)
      this.#recreate()
    })
  }

  #recreate(): void {
    if (this.#stopped) return
    openPtyPair(this.dir).then(
      async (pty) => {
        if (this.#stopped) return pty.close()
        this.#pty = pty
        this.#delay = 100
        this.#watch(pty)
        this.#log('info', `console PTY recreated at ${this.b} (socat pid ${pty.pid})`)
        this.#listener()
      },
      (e: Error) => {
        if (this.#stopped) return
        const now = Date.now()
        if (now - this.#lastWarn >= 60_000) {
          this.#lastWarn = now
          this.#log('warn', `cannot recreate the console PTY (${e.message}); retrying with backoff (up to every 5 s)`)
        }
        this.#retryTimer = setTimeout(() => this.#recreate(), this.#delay)
        this.#delay = Math.min(this.#delay * 2, 5000)
      },
    )
  }

  async close(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    await this.#pty.close()
    if (this.#ownDir) rmSync(this.dir, { recursive: true, force: true })
  }
}
