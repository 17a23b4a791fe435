// The front-panel line protocol (docs/front-panel-protocol.md), shared by the firmware side
// (firmware/panel/panel.ts) and the simulated controller (board/sim/frontpanel.ts).
// A frame is one ASCII line: PAYLOAD "*" CC "\n", CC = two hex digits of the XOR of the payload
// bytes. Pure functions and one small splitter with a carry buffer; no I/O here.

export const PROTOCOL_VERSION = 1
/** Longest line (payload, '*', checksum, CR) either side may send; longer input is discarded. */
export const MAX_LINE = 80
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 250
export const LONG_PRESS_MS = 1500

export type LedId = 'STATUS' | 'BYPASS'
export type LedColor = 'OFF' | 'GREEN' | 'AMBER' | 'RED'
export type LedPattern = 'SOLID' | 'SLOW' | 'FAST'
export type ButtonEvent = 'DOWN' | 'SHORT' | 'LONG' | 'UP'
export type RelayReason = 'HOST' | 'BUTTON' | 'TIMEOUT' | 'RESET'
export type ErrCode = 'CHECKSUM' | 'LONG' | 'UNKNOWN' | 'ARG' | 'NOHB' | 'HELD'

export function checksum(payload: string): string {
  let x = 0
  for (let i = 0; i < payload.length; i++) x ^= payload.charCodeAt(i) & 0xff
  return x.toString(16).toUpperCase().padStart(2, '0')
}

export function encode(payload: string): string {
  return `${payload}*${checksum(payload)}\n`
}

export type Decoded = { ok: true; payload: string; words: string[] } | { ok: false; code: ErrCode; text: string }

/** Decodes one line (without its '\n'; a trailing '\r' is allowed). */
export function decode(line: string): Decoded {
  const l = line.endsWith('\r') ? line.slice(0, -1) : line
  const star = l.lastIndexOf('*')
  if (star < 0 || star !== l.length - 3) return { ok: false, code: 'CHECKSUM', text: 'frame has no *CC checksum' }
  const payload = l.slice(0, star)
  const cc = l.slice(star + 1).toUpperCase()
  if (!/^[0-9A-F]{2}$/.test(cc) || cc !== checksum(payload)) return { ok: false, code: 'CHECKSUM', text: `checksum ${cc} does not match ${checksum(payload)}` }
  // eslint-disable-next-line no-control-regex
  if (!/^[\x20-\x7e]+$/.test(payload)) return { ok: false, code: 'ARG', text: 'payload must be printable ASCII' }
  const words = payload.split(' ').filter((w) => w.length > 0)
  if (words.length === 0) return { ok: false, code: 'UNKNOWN', text: 'empty payload' }
  return { ok: true, payload, words }
}

/** Splits a byte stream into lines at '\n', with a bounded carry: a line longer than `max` is
 *  dropped whole (reported once as null) instead of growing the buffer. */
export class LineSplitter {
  readonly max: number
  #carry = ''
  #overflow = false
  constructor(max = MAX_LINE) {
    this.max = max
  }
  /** Returns complete lines; null stands for a dropped over-long line. */
  push(chunk: Buffer | string): Array<string | null> {
    const out: Array<string | null> = []
    const s = typeof chunk === 'string' ? chunk : chunk.toString('latin1')
    let start = 0
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) !== 10) continue
      const piece = this.#carry + s.slice(start, i)
      start = i + 1
      this.#carry = ''
      if (this.#overflow || piece.length > this.max) out.push(null)
      else out.push(piece)
      this.#overflow = false
    }
    const rest = this.#carry + s.slice(start)
    if (rest.length > this.max) {
      this.#overflow = true
      this.#carry = ''
    } else {
      this.#carry = rest
    }
    return out
  }
}

/** The STATUS LED for each watchdog state (the BYPASS LED follows the relay, set by the controller). */
export const STATUS_LED: Record<string, { color: LedColor; pattern: LedPattern }> = {
  BOOT: { color: 'AMBER', pattern: 'SLOW' },
  ACTIVE: { color: 'GREEN', pattern: 'SOLID' },
  DEGRADED: { color: 'AMBER', pattern: 'SOLID' },
  BYPASS: { color: 'RED', pattern: 'FAST' },
  MANUAL_BYPASS: { color: 'RED', pattern: 'SOLID' },
}
