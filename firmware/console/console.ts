// The serial console: a thin transport over the command registry on the UART the board profile
// names (sim: one end of a socat PTY pair). Human mode is for a stage tech at a terminal; machine
// mode is for control systems (one reply line per command, EV lines after subscribe). The wire
// protocol is documented in docs/console-protocol.md. Nothing here may block the event loop for
// long or throw out of a port callback: bad input becomes one ERR line, a vanished port is reopened
// with backoff.
// This file is the session: line handling (pacing, the queue), mode, the session commands, and
// startConsole. Its parts: line-editor.ts (bytes to lines), limit.ts (the rate limit), pin.ts
// (login), events.ts (subscriptions, EV fields), render.ts (machine and human text), port.ts (the
// port kept open); the board's console port driver (firmware/board/drivers.ts) says which port.
import { join } from 'node:path'
import { type ConsolePortConnection, driversFor } from '../board/drivers.ts'
import type { BoardProfile } from '../board/profile.ts'
import { type CommandRegistry, createRegistry } from '../commands/index.ts'
import { tokenize } from '../commands/registry.ts'
import type { CommandResult, Permission, Principal } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { type EventLine, Subscriptions, type SubscriptionValue } from './events.ts'
import { LineLimiter } from './limit.ts'
import { type EditorAction, LineEditor } from './line-editor.ts'
import { type ConsoleHandle, type ConsoleOptions, type ConsoleStats, defaultLog } from './options.ts'
import { PinGate } from './pin.ts'
import { type ConsolePort, type OpenPort, openSerialPort, PortKeeper } from './port.ts'
import { type ConsoleMode, eventLine, type InputLine, renderEvent, renderReply } from './render.ts'
import { type ConsoleSession, registerSessionCommands, SESSION_COMMAND_NAMES } from './session.ts'

export { changeFields } from './events.ts'
export type { ConsoleHandle, ConsoleMode, ConsoleOptions, ConsolePort, ConsoleStats, OpenPort }

export class SerialConsole implements ConsoleSession {
  readonly isConsoleSession = true as const
  readonly devicePath: string
  readonly #registry: CommandRegistry
  readonly #o: Required<Omit<ConsoleOptions, 'devicePath' | 'baudRate' | 'registry' | 'simDir'>>
  readonly #editor: LineEditor
  #mode: ConsoleMode
  #idleTimer: NodeJS.Timeout | undefined
  #chain: Promise<void> = Promise.resolve()
  #queued = 0
  readonly #limit: LineLimiter
  readonly #subs: Subscriptions
  readonly #pin: PinGate
  readonly #keeper: PortKeeper
  #awaitingPin = false
  /** Set by a session command that answers later (login asking for the PIN). */
  #replyLater = false
  readonly #counters = { lines: 0, errors: 0, droppedEvents: 0 }
  readonly #board: string

  constructor(app: ApplianceApi, profile: BoardProfile, devicePath: string, opts: ConsoleOptions = {}) {
    this.devicePath = devicePath
    this.#board = profile.name
    this.#registry = opts.registry ?? createRegistry(app)
    registerSessionCommands(this.#registry)
    this.#o = {
      mode: opts.mode ?? 'human',
      maxLineBytes: opts.maxLineBytes ?? 512,
      rate: opts.rate ?? { perSecond: 20, burst: 40 },
      pinFile: opts.pinFile ?? join(profile.dataDir, 'console-pin'),
      pinLockout: opts.pinLockout ?? { tries: 3, ms: 30_000 },
      loginIdleMs: opts.loginIdleMs ?? 15 * 60_000,
      reopen: opts.reopen ?? { initialMs: 100, maxMs: 5000 },
      idleFlushMs: opts.idleFlushMs ?? 300,
      maxPendingOutput: opts.maxPendingOutput ?? 65536,
      writeStallMs: opts.writeStallMs ?? 10_000,
      openPort: opts.openPort ?? openSerialPort,
      log: opts.log ?? defaultLog,
    }
    this.#mode = this.#o.mode
    this.#editor = new LineEditor({ maxBytes: this.#o.maxLineBytes, human: this.#mode === 'human' })
    this.#keeper = new PortKeeper(
      devicePath,
      { ...this.#o, baudRate: opts.baudRate ?? profile.uarts.console.baudRate },
      { onOpen: () => this.#opened(), onData: (d) => this.#onData(d) },
    )
    // Throws FW_ERR_BAD_OPTION for a rate that would never allow or never refuse.
    this.#limit = new LineLimiter(this.#o.rate, (r) => this.#replyNow(r))
    this.#pin = new PinGate(this.#o.pinFile, this.#o.pinLockout, this.#o.loginIdleMs, (m) => this.#o.log('warn', m))
    this.#subs = new Subscriptions(
      app,
      (line) => this.#event(line),
      (m) => this.#o.log('error', m),
    )
  }

  /** Opens the port once; on failure keeps retrying in the background (the show goes on). */
  async start(): Promise<void> {
    await this.#keeper.start()
  }

  whenOpen(): Promise<void> {
    return this.#keeper.whenOpen()
  }

  stats(): ConsoleStats {
    const k = this.#keeper
    return {
      isOpen: k.isOpen,
      mode: this.#mode,
      permission: this.#permission(),
      ...this.#counters,
      rateLimited: this.#limit.refused,
      opens: k.opens,
      openFailures: k.openFailures,
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.#idleTimer)
    this.#subs.stop()
    await this.#keeper.stop()
    await this.#chain.catch(() => {})
  }

  /** The device is back (e.g. the sim PTY pair was recreated): open it now rather than at the next backoff step. */
  reopenNow(): void {
    this.#keeper.reopenNow()
  }

  /** A fresh port: a fresh session (no login, nothing half typed), and the banner in human mode. */
  #opened(): void {
    this.#editor.reset()
    this.#pin.logout()
    this.#awaitingPin = false
    this.#editor.mask = null
    if (this.#mode === 'human') this.#write(`\r\n${this.#board} stage appliance console. Type help for the commands.\r\n${this.#prompt()}`)
  }

  #write(text: string): void {
    this.#keeper.write(text)
  }

  // ---- input ----------------------------------------------------------------------------------

  #onData(data: Buffer): void {
    this.#handle(this.#editor.feed(data))
    clearTimeout(this.#idleTimer)
    if (this.#editor.tainted) this.#idleTimer = setTimeout(() => this.#handle(this.#editor.flushIdle()), this.#o.idleFlushMs)
  }

  #handle(actions: EditorAction[]): void {
    // A line that arrives alone, with every earlier reply already answered and sent, comes from a
    // client that waits for each reply: it is answered without touching the rate limit (docs §5
    // promises such a client is never limited). Lines that arrive together, or while earlier ones
    // are still being answered or their replies still wait to go out (a far end that does not
    // read), are a burst and go through the token bucket, so unread replies cannot pile up.
    let replying = 0
    for (const a of actions) if (a.type === 'error' || (a.type === 'line' && (this.#awaitingPin || a.text.trim() !== ''))) replying++
    const paced = replying === 1 && this.#queued === 0 && this.#keeper.pending === 0
    for (const a of actions) {
      switch (a.type) {
        case 'echo':
          this.#write(a.text)
          break
        case 'line':
          this.#enqueue(a.text, paced)
          break
        case 'error':
          if (!paced && !this.#take()) break
          this.#counters.errors++
          this.#replyNow({ ok: false, command: '', code: a.code, message: a.message })
          break
        case 'notice':
          this.#write(`\r\n${a.text}\r\n${this.#prompt()}${a.pending}`)
          break
        case 'cancel':
          this.#awaitingPin = false
          this.#editor.mask = null
          this.#write(this.#prompt())
          break
      }
    }
  }

  /** An unpaced line: through the rate limit (limit.ts). */
  #take(): boolean {
    return this.#limit.take(this.#queued)
  }

  #enqueue(text: string, paced: boolean): void {
    if (this.#awaitingPin) {
      this.#awaitingPin = false
      this.#editor.mask = null
      if (!paced && !this.#take()) return
      this.#run(async () => this.#reply(await this.#registry.execute('login', [text.trim()], this.#principal(), this)))
      return
    }
    if (text.trim() === '') {
      if (this.#mode === 'human') this.#write(this.#prompt())
      return
    }
    if (!paced && !this.#take()) return
    this.#run(() => this.#execute(text))
  }

  #run(job: () => Promise<void>): void {
    this.#queued++
    this.#chain = this.#chain
      .then(job)
      .catch((e: unknown) => this.#o.log('error', `console command failed: ${(e as Error).message}`))
      .finally(() => {
        this.#queued--
      })
  }

  // ---- commands -------------------------------------------------------------------------------

  #pinRequired(): boolean {
    return this.#pin.required()
  }

  #permission(): Permission {
    return this.#pin.permission()
  }

  #principal(): Principal {
    return { name: `console:${this.devicePath}`, permission: this.#permission(), transport: 'console' }
  }

  #prompt(): string {
    if (this.#mode !== 'human') return ''
    return this.#pinRequired() && this.#permission() === 'admin' ? `${this.#board}# ` : `${this.#board}> `
  }

  async #execute(line: string): Promise<void> {
    this.#counters.lines++
    try {
      tokenize(line)
    } catch (e) {
      return this.#reply({ ok: false, command: '', code: 'FW_ERR_BAD_ARG', message: (e as Error).message })
    }
    const permission = this.#permission()
    this.#replyLater = false
    const result = await this.#registry.executeLine(line, this.#principal(), this)
    if (this.#replyLater) return
    // The session's own commands neither count as errors nor keep an admin login alive.
    const own = SESSION_COMMAND_NAMES.has(result.command)
    if (permission === 'admin' && !own) this.#pin.touch()
    if (!result.ok && !own) this.#counters.errors++
    this.#reply(result)
  }

  // ---- the session commands (their specs: session.ts) ------------------------------------------

  async login(tokens: readonly string[]): Promise<{ permission: string; note?: string }> {
    if (tokens.length === 0 && this.#mode === 'human' && this.#pinRequired()) {
      this.#awaitingPin = true
      this.#editor.mask = '*'
      this.#write('PIN: ')
      this.#replyLater = true
      return { permission: this.#permission() }
    }
    if (tokens.length === 0 && this.#mode === 'human') return { permission: 'admin', note: 'no PIN is set on this unit' }
    if (tokens.length !== 1) throw new FirmwareError('FW_ERR_BAD_ARG', 'login takes the PIN: login <PIN>; e.g. login 123456')
    if (!this.#pinRequired()) return { permission: 'admin', note: 'no PIN is set on this unit' }
    return this.#pin.check(tokens[0]!)
  }

  logout(): { permission: string } {
    this.#pin.logout()
    return { permission: this.#permission() }
  }

  history(): string[] {
    return this.#editor.history.slice()
  }

  switchMode(args: readonly string[]): { mode: ConsoleMode } {
    const want = args[0]?.toLowerCase()
    if (args.length > 1 || (want !== undefined && want !== 'human' && want !== 'machine')) {
      throw new FirmwareError('FW_ERR_BAD_ARG', 'console takes human or machine; e.g. console machine')
    }
    if (want) {
      this.#mode = want
      this.#editor.human = want === 'human'
    }
    return { mode: this.#mode }
  }

  subscribe(args: readonly string[]): SubscriptionValue {
    return this.#subs.subscribe(args)
  }

  unsubscribe(args: readonly string[]): SubscriptionValue {
    return this.#subs.unsubscribe(args)
  }

  #input(): InputLine {
    return { prompt: this.#prompt(), pending: this.#editor.pending, mask: this.#editor.mask }
  }

  /** One unsolicited EV line; dropped (counted) when output backs up. */
  #event(ev: EventLine): void {
    if (!this.#keeper.isOpen) return
    if (this.#keeper.pending > this.#o.maxPendingOutput) {
      this.#counters.droppedEvents++
      return
    }
    this.#write(renderEvent(this.#mode, eventLine(ev.topic, ev.fields, ev.at ?? Date.now()), this.#input()))
  }

  #replyNow(r: CommandResult): void {
    this.#write(renderReply(this.#mode, r, this.#registry.get(r.command), { ...this.#input(), mask: null }))
  }

  #reply(r: CommandResult): void {
    this.#replyNow(r)
  }
}

/**
 * Starts the console on the port the board's console driver opens (or opts.devicePath). On a
 * simulated board the driver creates a socat PTY pair and returns the peer end as `path` for a terminal or a test to open; if
 * that socat dies, the pair is made again at the same paths (with backoff while it cannot be) and
 * the console reopens its end at once. Resolves once the first open was tried; a port that is not
 * there yet is retried in the background.
 */
export async function startConsole(app: ApplianceApi, profile: BoardProfile, opts: ConsoleOptions = {}): Promise<ConsoleHandle> {
  const port: ConsolePortConnection = opts.devicePath
    ? { devicePath: opts.devicePath, path: opts.devicePath, onRecreated: () => {}, close: async () => {} }
    : await driversFor(profile).console.open({ ...(opts.simDir ? { simDir: opts.simDir } : {}), log: opts.log ?? defaultLog })
  let con: SerialConsole
  try {
    con = new SerialConsole(app, profile, port.devicePath, opts)
    await con.start()
  } catch (e) {
    await port.close()
    throw e
  }
  port.onRecreated(() => con.reopenNow())
  return {
    path: port.path,
    devicePath: port.devicePath,
    stats: () => con.stats(),
    whenOpen: () => con.whenOpen(),
    async stop() {
      await con.stop()
      await port.close()
    },
  }
}
