// The recovery console's line discipline: bytes in, actions out. Pure (no I/O), so every bad input
// can be tested byte by byte. Recovery's own small copy of the main console's habits (it may not
// import firmware/): CR, LF or CRLF end a line; a line is bounded (the rest of a longer one is
// dropped unbuffered and unechoed up to its end); NULs, other control bytes and escape sequences
// (arrow keys, a wrong baud rate) make the line one clear error instead of a command, and are
// never echoed; backspace/DEL erase, Ctrl-U erases the line, Ctrl-C drops it.
import type { RecoveryErrorCode } from './errors.ts'

export type LineAction =
  /** Text to send back to the terminal (echo, erase). */
  | { type: 'echo'; text: string }
  /** A complete, clean line (printable ASCII only; may be empty). */
  | { type: 'line'; text: string }
  /** A line that was discarded, and why. Exactly one per bad line. */
  | { type: 'error'; code: RecoveryErrorCode; message: string }
  /** Ctrl-C dropped the line. */
  | { type: 'cancel' }

export interface LineDisciplineOptions {
  /** Longest accepted line in bytes, terminator excluded. Defaults to 512 (as the main console). */
  maxBytes?: number
}

export class LineDiscipline {
  readonly maxBytes: number
  #buf = ''
  /** Bytes of the current line, all kinds, for the limit. */
  #len = 0
  #bad = 0
  #firstBad = -1
  /** Inside an escape sequence: 1 after ESC, 2 inside CSI/SS3 parameters. */
  #esc: 0 | 1 | 2 = 0
  #discarding = false
  #lastCR = false

  constructor(o: LineDisciplineOptions = {}) {
    this.maxBytes = o.maxBytes ?? 512
  }

  #reset(): void {
    this.#buf = ''
    this.#len = 0
    this.#bad = 0
    this.#firstBad = -1
    this.#esc = 0
    this.#discarding = false
  }

  #control(c: number): void {
    if (this.#bad === 0) this.#firstBad = c
    this.#bad++
  }

  feed(chunk: Uint8Array): LineAction[] {
    const out: LineAction[] = []
    let echo = ''
    const flush = (): void => {
      if (echo) out.push({ type: 'echo', text: echo })
      echo = ''
    }
    for (const c of chunk) {
      if (c === 0x0d || (c === 0x0a && !this.#lastCR)) {
        this.#lastCR = c === 0x0d
        if (!this.#discarding) echo += '\r\n'
        flush()
        if (this.#discarding) {
          // Already reported when it passed the limit.
        } else if (this.#bad > 0) {
          out.push({
            type: 'error',
            code: 'REC_ERR_BAD_INPUT',
            message: `line held ${this.#bad} control byte(s) (first 0x${this.#firstBad.toString(16).padStart(2, '0')}); nothing was done. Check the terminal settings (115200 8N1) and type plain commands`,
          })
        } else {
          out.push({ type: 'line', text: this.#buf })
        }
        this.#reset()
        continue
      }
      this.#lastCR = false
      if (c === 0x0a || this.#discarding) continue
      this.#len++
      if (this.#esc === 1) {
        // ESC [ and ESC O start a sequence with parameters; anything else is a two-byte sequence.
        this.#esc = c === 0x5b || c === 0x4f ? 2 : 0
      } else if (this.#esc === 2) {
        if (c >= 0x40 && c <= 0x7e) this.#esc = 0
      } else if (c >= 0x20 && c <= 0x7e) {
        if (this.#buf.length < this.maxBytes) {
          this.#buf += String.fromCharCode(c)
          echo += String.fromCharCode(c)
        }
      } else if (c === 0x09) {
        this.#buf += ' '
        echo += ' '
      } else if (c === 0x08 || c === 0x7f) {
        this.#len = Math.max(0, this.#len - 2)
        if (this.#buf.length > 0) {
          this.#buf = this.#buf.slice(0, -1)
          echo += '\b \b'
        }
      } else if (c === 0x15) {
        echo += '\b \b'.repeat(this.#buf.length)
        this.#buf = ''
        this.#len = 0
      } else if (c === 0x03) {
        echo += '^C\r\n'
        flush()
        this.#reset()
        out.push({ type: 'cancel' })
        continue
      } else if (c === 0x1b) {
        this.#control(c)
        this.#esc = 1
      } else {
        this.#control(c)
      }
      if (this.#len > this.maxBytes) {
        flush()
        out.push({ type: 'echo', text: '\r\n' })
        out.push({
          type: 'error',
          code: 'REC_ERR_LINE_TOO_LONG',
          message: `line longer than ${this.maxBytes} bytes; it is ignored up to its end (CR or LF). Type one command per line`,
        })
        this.#reset()
        this.#discarding = true
      }
    }
    flush()
    return out
  }
}
