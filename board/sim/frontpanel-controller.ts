// The simulated front-panel controller's logic, as the real controller's firmware would run it
// (docs/front-panel-protocol.md). I/O is injected: `send` writes a line to the UART, `report`
// tells the test harness (or a person) what happened. board/sim/frontpanel.ts wraps it in a
// process on a PTY.
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  decode,
  type ErrCode,
  encode,
  type LedColor,
  type LedPattern,
  LONG_PRESS_MS,
  PROTOCOL_VERSION,
  type RelayReason,
} from '../../firmware/panel/protocol.ts'

export const CONTROLLER_MODEL = 'SIM-FP'
export const CONTROLLER_FIRMWARE = '1.0.0'

export interface ControllerReport {
  /** ms since the controller started (its own monotonic clock) */
  t: number
  event: string
  [k: string]: unknown
}

export interface ControllerIo {
  send(line: string): void
  report(r: Omit<ControllerReport, 't'>): void
  now(): number
}

export class FrontPanelController {
  relay: 'ON' | 'OFF' = 'OFF'
  relayReason: RelayReason = 'RESET'
  timeoutMs = DEFAULT_HEARTBEAT_TIMEOUT_MS
  lastHb = -Infinity
  lastSeq = -1
  hbAlive = false
  /** Gaps between heartbeats as this controller received them (ms): the figure its timeout must cover. */
  hbGaps = { count: 0, max: 0, over: new Map<number, number>() }
  buttonDown = false
  leds: Record<'STATUS' | 'BYPASS', { color: LedColor; pattern: LedPattern }> = {
    STATUS: { color: 'AMBER', pattern: 'SLOW' },
    BYPASS: { color: 'RED', pattern: 'SOLID' },
  }
  readonly io: ControllerIo
  #hbTimer: NodeJS.Timeout | null = null
  #longTimer: NodeJS.Timeout | null = null
  #downAt = 0
  #longSent = false

  constructor(io: ControllerIo) {
    this.io = io
  }

  start(): void {
    this.io.send(encode(`HELLO ${PROTOCOL_VERSION} ${CONTROLLER_MODEL} ${CONTROLLER_FIRMWARE}`))
    this.io.report({ event: 'hello', relay: this.relay })
  }

  stop(): void {
    if (this.#hbTimer) clearTimeout(this.#hbTimer)
    if (this.#longTimer) clearTimeout(this.#longTimer)
  }

  #setRelay(on: boolean, reason: RelayReason, extra: Record<string, unknown> = {}): void {
    const want = on ? 'ON' : 'OFF'
    if (this.relay === want) return
    this.relay = want
    this.relayReason = reason
    // The bypass LED shows the relay as it is, whatever the host says.
    this.leds.BYPASS = on ? { color: 'OFF', pattern: 'SOLID' } : { color: 'RED', pattern: 'SOLID' }
    const ms = 'sinceHbMs' in extra ? ` ${Math.round(extra.sinceHbMs as number)}` : ''
    this.io.send(encode(`RELAY ${want} ${reason}${ms}`))
    this.io.report({ event: 'relay', state: want, reason, ...extra })
  }

  #err(code: ErrCode, text: string): void {
    this.io.send(encode(`ERR ${code} ${text}`))
    this.io.report({ event: 'error', code, text })
  }

  #armHeartbeatTimer(): void {
    if (this.#hbTimer) {
      this.#hbTimer.refresh()
      return
    }
    this.#hbTimer = setTimeout(() => this.#onHeartbeatTimeout(), this.timeoutMs)
  }

  #onHeartbeatTimeout(): void {
    this.#hbTimer = null
    // A microcontroller takes each UART byte in its interrupt as it arrives; this simulator reads
    // them in its event loop's poll phase, which comes after the timers. Let that phase run once
    // before deciding, so a heartbeat already waiting in the tty is not mistaken for a silence
    // when this process itself was late (that is the simulator's lateness, not the host's).
    setImmediate(() => this.#decideTimeout())
  }

  #decideTimeout(): void {
    if (this.#hbTimer) return
    const since = this.io.now() - this.lastHb
    if (since < this.timeoutMs) {
      // A heartbeat arrived while the timer was being fired; wait for the rest.
      this.#hbTimer = setTimeout(() => this.#onHeartbeatTimeout(), this.timeoutMs - since)
      return
    }
    this.hbAlive = false
    this.leds.STATUS = { color: 'RED', pattern: 'FAST' }
    this.io.report({ event: 'heartbeat-lost', sinceHbMs: since, timeoutMs: this.timeoutMs })
    this.#setRelay(false, 'TIMEOUT', { sinceHbMs: since, timeoutMs: this.timeoutMs })
  }

  /** One line from the UART (without '\n'), or null for a dropped over-long line. */
  onLine(line: string | null): void {
    if (line === null) return this.#err('LONG', 'line too long')
    if (line.replace(/\r$/, '') === '') return
    const d = decode(line)
    if (!d.ok) return this.#err(d.code, d.text)
    const [kw, ...args] = d.words
    switch (kw) {
      case 'HB': {
        const seq = Number(args[0])
        if (args.length !== 1 || !Number.isInteger(seq) || seq < 0 || seq > 65535) return this.#err('ARG', 'HB needs a sequence number 0..65535')
        const at = this.io.now()
        if (this.hbAlive) {
          const gap = at - this.lastHb
          this.hbGaps.count++
          if (gap > this.hbGaps.max) this.hbGaps.max = gap
          for (const edge of [10, 20, 30, 40, 50, 100]) if (gap > edge) this.hbGaps.over.set(edge, (this.hbGaps.over.get(edge) ?? 0) + 1)
        }
        this.lastHb = at
        this.lastSeq = seq
        if (!this.hbAlive) {
          this.hbAlive = true
          this.io.report({ event: 'heartbeat-ok', seq })
        }
        this.#armHeartbeatTimer()
        return
      }
      case 'RELAY': {
        if (args[0] === 'OFF' && args.length === 1) {
          if (this.relay === 'OFF') this.io.send(encode(`RELAY OFF ${this.relayReason}`))
          this.#setRelay(false, 'HOST')
          return
        }
        if (args[0] === 'ON' && args.length === 1) {
          // Energising is the one thing the controller does only on fresh evidence of a live host.
          if (!this.hbAlive || this.io.now() - this.lastHb >= this.timeoutMs)
            return this.#err('NOHB', `relay stays off: no heartbeat within ${this.timeoutMs} ms`)
          if (this.buttonDown) return this.#err('HELD', 'relay stays off: bypass button is held')
          if (this.relay === 'ON') this.io.send(encode(`RELAY ON ${this.relayReason}`))
          this.#setRelay(true, 'HOST')
          return
        }
        return this.#err('ARG', 'RELAY ON or RELAY OFF')
      }
      case 'LED': {
        const [id, color, pattern] = args
        if (args.length !== 3 || id !== 'STATUS' || !['OFF', 'GREEN', 'AMBER', 'RED'].includes(color!) || !['SOLID', 'SLOW', 'FAST'].includes(pattern!)) {
          return this.#err('ARG', 'LED STATUS OFF|GREEN|AMBER|RED SOLID|SLOW|FAST')
        }
        this.leds.STATUS = { color: color as LedColor, pattern: pattern as LedPattern }
        this.io.send(encode(`OK LED STATUS ${color} ${pattern}`))
        this.io.report({ event: 'led', id, color, pattern })
        return
      }
      case 'TIMEOUT': {
        const ms = Number(args[0])
        if (args.length !== 1 || !Number.isInteger(ms) || ms < 10 || ms > 5000) return this.#err('ARG', 'TIMEOUT needs 10..5000 ms')
        this.timeoutMs = ms
        if (this.#hbTimer) {
          clearTimeout(this.#hbTimer)
          this.#hbTimer = null
          this.#armHeartbeatTimer()
        }
        this.io.send(encode(`OK TIMEOUT ${ms}`))
        return
      }
      case 'VER?':
        this.io.send(encode(`VER ${PROTOCOL_VERSION} ${CONTROLLER_MODEL} ${CONTROLLER_FIRMWARE}`))
        return
      case 'STATUS?':
        this.io.send(
          encode(
            `STATUS RELAY=${this.relay} REASON=${this.relayReason} HB=${this.hbAlive ? 'OK' : 'LOST'} BTN=${this.buttonDown ? 'DOWN' : 'UP'} TIMEOUT=${this.timeoutMs}`,
          ),
        )
        return
      default:
        return this.#err('UNKNOWN', `unknown command ${kw!.slice(0, 16)}`)
    }
  }

  /** The bypass button goes down: the relay drops at once, in the controller, before anyone is told. */
  press(): void {
    if (this.buttonDown) return
    this.buttonDown = true
    this.#downAt = this.io.now()
    this.#longSent = false
    this.#setRelay(false, 'BUTTON')
    this.io.send(encode('BTN BYPASS DOWN'))
    this.io.report({ event: 'button', action: 'DOWN' })
    this.#longTimer = setTimeout(() => {
      this.#longTimer = null
      this.#longSent = true
      this.io.send(encode('BTN BYPASS LONG'))
      this.io.report({ event: 'button', action: 'LONG' })
    }, LONG_PRESS_MS)
  }

  release(): void {
    if (!this.buttonDown) return
    this.buttonDown = false
    if (this.#longTimer) clearTimeout(this.#longTimer)
    this.#longTimer = null
    const held = this.io.now() - this.#downAt
    if (!this.#longSent) {
      this.io.send(encode('BTN BYPASS SHORT'))
      this.io.report({ event: 'button', action: 'SHORT', heldMs: held })
    }
    this.io.send(encode('BTN BYPASS UP'))
    this.io.report({ event: 'button', action: 'UP', heldMs: held })
  }

  status(): Record<string, unknown> {
    return {
      relay: this.relay,
      reason: this.relayReason,
      heartbeat: this.hbAlive ? 'ok' : 'lost',
      lastSeq: this.lastSeq,
      button: this.buttonDown ? 'down' : 'up',
      timeoutMs: this.timeoutMs,
      leds: this.leds,
      hbGaps: { count: this.hbGaps.count, maxMs: Math.round(this.hbGaps.max * 100) / 100, over: Object.fromEntries(this.hbGaps.over) },
    }
  }
}
