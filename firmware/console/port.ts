// The console's port: opens it, and keeps it open. A port that fails to open or closes is reopened
// with backoff; a port whose unsent output stops shrinking is closed and reopened. State: the open
// port (or none), the reopen delay and timer, the write-stall watch, who waits for the next open.
import { SerialPort } from 'serialport'

/** The part of a serial port the console uses; serialport's SerialPort satisfies it. */
export interface ConsolePort {
  readonly isOpen: boolean
  readonly writableLength: number
  open(cb: (err: Error | null) => void): void
  write(data: string): boolean
  close(cb?: (err: Error | null) => void): void
  on(event: 'data', listener: (data: Buffer) => void): unknown
  on(event: 'close', listener: (err?: Error & { disconnected?: boolean }) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  removeAllListeners(): unknown
}

/** Creates (does not open) a port; injectable so a test can pass another binding. */
export type OpenPort = (path: string, baudRate: number) => ConsolePort

export const openSerialPort: OpenPort = (path, baudRate) =>
  new SerialPort({ path, baudRate, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false }) as unknown as ConsolePort

export interface PortKeeperOptions {
  baudRate: number
  openPort: OpenPort
  reopen: { initialMs: number; maxMs: number }
  writeStallMs: number
  log: (level: 'info' | 'warn' | 'error', message: string) => void
}

export interface PortHooks {
  /** The port (re)opened: the session starts afresh. */
  onOpen(): void
  onData(data: Buffer): void
}

export class PortKeeper {
  readonly devicePath: string
  readonly #o: PortKeeperOptions
  readonly #hooks: PortHooks
  opens = 0
  openFailures = 0
  #port: ConsolePort | null = null
  #stopping = false
  #reopenDelay: number
  #reopenTimer: NodeJS.Timeout | undefined
  #stallTimer: NodeJS.Timeout | undefined
  #stall = { bytes: 0, since: 0 }
  #lastOpenWarn = 0
  #openWaiters: Array<() => void> = []
  #opening = false

  constructor(devicePath: string, opts: PortKeeperOptions, hooks: PortHooks) {
    this.devicePath = devicePath
    this.#o = opts
    this.#hooks = hooks
    this.#reopenDelay = opts.reopen.initialMs
  }

  get isOpen(): boolean {
    return this.#port?.isOpen ?? false
  }

  /** Unsent output bytes (0 when closed). */
  get pending(): number {
    return this.#port?.isOpen ? this.#port.writableLength : 0
  }

  /** Opens the port once; on failure keeps retrying in the background. */
  start(): Promise<void> {
    return new Promise<void>((resolve) => this.#open(resolve))
  }

  whenOpen(): Promise<void> {
    if (this.#port?.isOpen) return Promise.resolve()
    return new Promise((resolve) => this.#openWaiters.push(resolve))
  }

  async stop(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#reopenTimer)
    clearInterval(this.#stallTimer)
    const port = this.#port
    this.#port = null
    // A port stuck in a write may not close promptly; never let that hold up the shutdown.
    if (port?.isOpen) await Promise.race([new Promise<void>((resolve) => port.close(() => resolve())), new Promise((r) => setTimeout(r, 2000).unref())])
    port?.removeAllListeners()
    port?.on('error', () => {})
  }

  /** The device is back (e.g. the sim PTY pair was recreated): open it now rather than at the next backoff step. */
  reopenNow(): void {
    if (this.#stopping || this.#opening || this.#port?.isOpen) return
    clearTimeout(this.#reopenTimer)
    this.#reopenDelay = this.#o.reopen.initialMs
    this.#open()
  }

  #open(done?: () => void): void {
    if (this.#stopping) return done?.()
    let port: ConsolePort
    try {
      port = this.#o.openPort(this.devicePath, this.#o.baudRate)
    } catch (e) {
      this.#openFailed(e as Error)
      return done?.()
    }
    port.on('error', (err) => this.#o.log('warn', `${this.devicePath}: ${err.message}`))
    this.#opening = true
    port.open((err) => {
      this.#opening = false
      if (err) {
        port.removeAllListeners()
        port.on('error', () => {})
        this.#openFailed(err)
        return done?.()
      }
      if (this.#stopping) {
        port.close()
        return done?.()
      }
      this.#port = port
      this.opens++
      this.#reopenDelay = this.#o.reopen.initialMs
      port.on('data', (d) => this.#hooks.onData(d))
      port.on('close', (e) => this.#onClose(port, e))
      this.#watchWrites(port)
      if (this.opens > 1) this.#o.log('info', `${this.devicePath} reopened`)
      this.#hooks.onOpen()
      for (const w of this.#openWaiters.splice(0)) w()
      done?.()
    })
  }

  /**
   * A port whose unsent output stops shrinking (the far end stopped reading, or the driver lost a
   * wakeup) is closed and reopened, which discards that output, rather than left to grow.
   */
  #watchWrites(port: ConsolePort): void {
    clearInterval(this.#stallTimer)
    this.#stall = { bytes: 0, since: Date.now() }
    this.#stallTimer = setInterval(
      () => {
        if (this.#port !== port || !port.isOpen) return clearInterval(this.#stallTimer)
        const pending = port.writableLength
        const now = Date.now()
        if (pending === 0 || pending < this.#stall.bytes) this.#stall = { bytes: pending, since: now }
        else if (now - this.#stall.since >= this.#o.writeStallMs) {
          this.#o.log(
            'warn',
            `output to ${this.devicePath} stalled for ${Math.round((now - this.#stall.since) / 1000)} s with ${pending} bytes unsent; reopening the port`,
          )
          clearInterval(this.#stallTimer)
          port.close()
          // If the close itself hangs, give up on this port object and reopen anyway.
          setTimeout(() => {
            if (this.#port === port) this.#onClose(port, new Error('close timed out'))
          }, 2000).unref()
        } else this.#stall.bytes = pending
      },
      Math.max(100, Math.min(1000, this.#o.writeStallMs / 4)),
    )
    this.#stallTimer.unref()
  }

  #openFailed(err: Error): void {
    this.openFailures++
    const now = Date.now()
    if (now - this.#lastOpenWarn >= 60_000) {
      this.#lastOpenWarn = now
      this.#o.log('warn', `cannot open ${this.devicePath} (${err.message}); retrying with backoff (up to every ${Math.round(this.#o.reopen.maxMs / 1000)} s)`)
    }
    this.#scheduleReopen()
  }

  #onClose(port: ConsolePort, err?: Error & { disconnected?: boolean }): void {
    port.removeAllListeners()
    port.on('error', () => {}) // a late error from a dead port must not become an uncaught exception
    if (this.#port === port) this.#port = null
    if (this.#stopping) return
    this.#o.log('warn', `${this.devicePath} closed${err ? ` (${err.message})` : ''}; reopening`)
    this.#scheduleReopen()
  }

  #scheduleReopen(): void {
    if (this.#stopping) return
    clearTimeout(this.#reopenTimer)
    this.#reopenTimer = setTimeout(() => {
      if (!this.#opening) this.#open()
    }, this.#reopenDelay)
    this.#reopenDelay = Math.min(this.#reopenDelay * 2, this.#o.reopen.maxMs)
  }

  write(text: string): void {
    const port = this.#port
    if (!port?.isOpen) return
    port.write(text)
  }
}
