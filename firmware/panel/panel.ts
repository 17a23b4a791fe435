// The firmware side of the front-panel controller link (docs/front-panel-protocol.md): sends the
// heartbeat, relay demands and the STATUS LED; receives button events, relay reports, the
// controller's version and its errors. It decides nothing: the runtime maps button events to
// watchdog events and watchdog actions to calls here.
import { SerialPort } from 'serialport'
import { FirmwareError } from '../errors.ts'
import { checker, wholeNumberIn } from '../validate.ts'
import { type ButtonEvent, decode, encode, LineSplitter, PROTOCOL_VERSION, STATUS_LED } from './protocol.ts'

export type PanelEvent =
  | { type: 'button'; action: ButtonEvent }
  | { type: 'relay'; state: 'ON' | 'OFF'; reason: string; detail: string }
  | { type: 'hello'; version: string }
  | { type: 'error'; code: string; text: string }
  | { type: 'status'; fields: Record<string, string> }
  | { type: 'link-error'; text: string }
  /** The UART was reopened after it went away (USB-serial unplugged and back, PTY remade). */
  | { type: 'link-up' }

export interface FrontPanelOptions {
  /** The panel UART (or one end of a PTY pair on the sim board). */
  path: string
  /** Defaults to 115200. */
  baudRate?: number
  /** Heartbeat timeout to configure on the controller. Defaults to the controller's own (250 ms). */
  timeoutMs?: number
}

/** What a front-panel link offers the runtime; FrontPanel is the real one over a UART. */
export interface PanelLink {
  readonly relay: 'processed' | 'bypass' | 'unknown'
  /** False while the UART is gone (the controller will have dropped the relay by its timeout). */
  readonly linkUp: boolean
  /** The UART's path. */
  readonly path: string
  readonly version: string | null
  heartbeat(): void
  setRelay(energise: boolean): void
  setStatusLed(state: string): void
  /** Asks the controller for its STATUS line (its answer proves it is alive). */
  queryStatus?(): void
  /** Sets the controller's heartbeat timeout (TIMEOUT ms). */
  configureTimeout?(ms: number): void
  /** Forget the last LED sent (someone else, the sentinel thread, has set it since). */
  forgetLed?(): void
  /** Calls `fn` once every line sent so far has been handed to the OS. Another writer on the same
   *  tty (the sentinel thread) uses it to keep its line behind ours. */
  afterWrites?(fn: () => void): void
  onEvent(listener: (ev: PanelEvent) => void): () => void
  close(): Promise<void>
}

const PANEL_OPTION = checker('FW_ERR_BAD_OPTION', (field, complaint) => `panel ${field}: ${complaint}`)

export class FrontPanel implements PanelLink {
  relay: 'processed' | 'bypass' | 'unknown' = 'unknown'
  version: string | null = null
  /** Lines the controller rejected or we could not decode. */
  errors = 0
  #port: SerialPort
  #pendingWrites = 0
  #afterWrites: Array<() => void> = []
  readonly #opts: FrontPanelOptions
  readonly #splitter = new LineSplitter()
  #seq = 0
  #listeners = new Set<(ev: PanelEvent) => void>()
  #lastLed = ''
  #linkUp = true
  #closing = false
  #reopenTimer: NodeJS.Timeout | null = null
  #reopenDelay = 250

  private constructor(port: SerialPort, opts: FrontPanelOptions) {
    this.#port = port
    this.#opts = opts
    this.#attach(port)
  }

  static async open(opts: FrontPanelOptions): Promise<FrontPanel> {
    const port = await openPort(opts).catch((e: Error) => {
      throw new FirmwareError('FW_ERR_IO', `cannot open the front-panel UART ${opts.path}: ${e.message}; check uarts.panel in the board profile`)
    })
    const p = new FrontPanel(port, opts)
    p.#hello()
    return p
  }

  get linkUp(): boolean {
    return this.#linkUp
  }

  get path(): string {
    return this.#opts.path
  }

  #attach(port: SerialPort): void {
    port.on('data', (chunk: Buffer) => {
      for (const line of this.#splitter.push(chunk)) this.#onLine(line)
    })
    port.on('error', (e: Error) => this.#emit({ type: 'link-error', text: e.message }))
    port.on('close', () => {
      if (this.#closing || port !== this.#port) return
      // The UART went away under us: the controller will drop the relay by its timeout. Say so,
      // and keep trying to reopen it (250 ms, doubling to 2 s).
      this.#linkUp = false
      this.relay = 'unknown'
      this.#emit({ type: 'link-error', text: `front-panel UART ${this.#opts.path} closed; reopening` })
      this.#scheduleReopen()
    })
  }

  #scheduleReopen(): void {
    if (this.#closing || this.#reopenTimer) return
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = null
      openPort(this.#opts).then(
        (port) => {
          if (this.#closing) {
            port.close()
            return
          }
          this.#port = port
          this.#attach(port)
          this.#linkUp = true
          this.#reopenDelay = 250
          this.#lastLed = ''
          this.#hello()
          this.#emit({ type: 'link-up' })
        },
        () => {
          this.#reopenDelay = Math.min(2000, this.#reopenDelay * 2)
          this.#scheduleReopen()
        },
      )
    }, this.#reopenDelay)
  }

  #hello(): void {
    if (this.#opts.timeoutMs !== undefined) this.#send(`TIMEOUT ${this.#opts.timeoutMs}`)
    this.#send('VER?')
    this.#send('STATUS?')
  }

  onEvent(listener: (ev: PanelEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  heartbeat(): void {
    this.#seq = (this.#seq + 1) & 0xffff
    this.#send(`HB ${this.#seq}`)
  }

  setRelay(energise: boolean): void {
    this.#send(energise ? 'RELAY ON' : 'RELAY OFF')
  }

  /** Sets the STATUS LED for a watchdog state (repeats are not sent again). */
  setStatusLed(state: string): void {
    const led = STATUS_LED[state]
    if (!led) return
    const cmd = `LED STATUS ${led.color} ${led.pattern}`
    if (cmd === this.#lastLed) return
    this.#lastLed = cmd
    this.#send(cmd)
  }

  /** Sets the controller's heartbeat timeout, 10..5000 ms (answered OK TIMEOUT). */
  configureTimeout(ms: number): void {
    wholeNumberIn(PANEL_OPTION, ms, 'heartbeat timeout (ms)', 10, 5000)
    this.#send(`TIMEOUT ${ms}`)
  }

  /** The STATUS LED was set behind our back (the sentinel thread): the next setStatusLed goes out. */
  forgetLed(): void {
    this.#lastLed = ''
  }

  /** Asks the controller for its status line (answered as a 'status' event). */
  queryStatus(): void {
    this.#send('STATUS?')
  }

  async close(): Promise<void> {
    this.#closing = true
    if (this.#reopenTimer) clearTimeout(this.#reopenTimer)
    this.#reopenTimer = null
    this.#listeners.clear()
    if (!this.#port.isOpen) return
    await new Promise<void>((res) => this.#port.close(() => res()))
  }

  #send(payload: string): void {
    if (!this.#port.isOpen) return
    this.#pendingWrites++
    this.#port.write(encode(payload), () => {
      if (--this.#pendingWrites > 0) return
      const waiting = this.#afterWrites.splice(0)
      for (const fn of waiting) fn()
    })
  }

  afterWrites(fn: () => void): void {
    if (this.#pendingWrites === 0 || !this.#port.isOpen) queueMicrotask(fn)
    else this.#afterWrites.push(fn)
  }

  #emit(ev: PanelEvent): void {
    for (const l of this.#listeners) l(ev)
  }

  #onLine(line: string | null): void {
    if (line === null) {
      this.errors++
      return this.#emit({ type: 'link-error', text: 'over-long line from the controller' })
    }
    if (line === '' || line === '\r') return
    const d = decode(line)
    if (!d.ok) {
      this.errors++
      return this.#emit({ type: 'link-error', text: d.text })
    }
    const [kw, ...args] = d.words
    switch (kw) {
      case 'HELLO':
      case 'VER': {
        const [proto, model, fw] = args
        this.version = `${model ?? '?'} ${fw ?? '?'} (protocol ${proto ?? '?'})`
        if (Number(proto) !== PROTOCOL_VERSION) {
          this.#emit({ type: 'link-error', text: `controller speaks protocol ${proto}, firmware speaks ${PROTOCOL_VERSION}` })
        }
        // A controller that (re)booted starts with its relay off.
        if (kw === 'HELLO') this.relay = 'bypass'
        this.#lastLed = ''
        return this.#emit({ type: 'hello', version: this.version })
      }
      case 'RELAY': {
        const state = args[0] === 'ON' ? 'ON' : 'OFF'
        this.relay = state === 'ON' ? 'processed' : 'bypass'
        return this.#emit({ type: 'relay', state, reason: args[1] ?? '', detail: args.slice(2).join(' ') })
      }
      case 'BTN': {
        const action = args[1]
        if (args[0] === 'BYPASS' && (action === 'DOWN' || action === 'SHORT' || action === 'LONG' || action === 'UP')) {
          if (action === 'DOWN') this.relay = 'bypass'
          return this.#emit({ type: 'button', action })
        }
        return this.#emit({ type: 'link-error', text: `unknown button event ${args.join(' ')}` })
      }
      case 'STATUS': {
        const fields: Record<string, string> = {}
        for (const a of args) {
          const [k, v] = a.split('=')
          if (k && v !== undefined) fields[k] = v
        }
        if (fields.RELAY) this.relay = fields.RELAY === 'ON' ? 'processed' : 'bypass'
        return this.#emit({ type: 'status', fields })
      }
      case 'ERR':
        this.errors++
        return this.#emit({ type: 'error', code: args[0] ?? '?', text: args.slice(1).join(' ') })
      case 'OK':
        return
      default:
        this.errors++
        return this.#emit({ type: 'link-error', text: `unknown line from the controller: ${kw}` })
    }
  }
}

async function openPort(opts: FrontPanelOptions): Promise<SerialPort> {
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 115200, autoOpen: false })
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())))
  return port
}
