// The console's line discipline: bytes in, actions out. Pure (no I/O, no timers), so every bad
// input can be tested byte by byte. It accepts CR, LF or CRLF as the end of a line, bounds a line
// to maxBytes, and turns NULs, binary bytes (a wrong baud rate produces mostly these) and escape
// sequences into one clear error per line instead of a command. In human mode it also echoes,
// handles backspace, Ctrl-C, Ctrl-U and the up/down arrows (history). In machine mode there is no
// editing: every control byte (BS, DEL and TAB too) is noise and makes the whole line an error, so
// line noise can never edit a command into another one.
import type { ErrorCode } from '../errors.ts'

export type EditorAction =
  /** Text to send back to the terminal (echo, erase, redraw). */
  | { type: 'echo'; text: string }
  /** A complete, clean line (printable ASCII only; may be empty). */
  | { type: 'line'; text: string }
  /** A line that was discarded, with the reason. Exactly one per bad line. */
  | { type: 'error'; code: ErrorCode; message: string }
  /** Human mode: a key we do not handle; tell the user without touching the line. */
  | { type: 'notice'; text: string /** The line as typed when the key came, to redraw after the notice. */; pending: string }
  /** Human mode: Ctrl-C dropped the line. */
  | { type: 'cancel' }

export interface LineEditorOptions {
  /** Longest accepted line in bytes, terminator excluded. Defaults to 512. */
  maxBytes?: number
  /** Echo, editing keys and history (human mode). Defaults to true. */
  human?: boolean
  /** Lines kept for the up/down arrows. Defaults to 50. */
  historySize?: number
}

const ESC = 0x1b

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`
}

export class LineEditor {
  human: boolean
  /** Echo typed characters as this instead (e.g. "*" while a PIN is typed); null echoes them. */
  mask: string | null = null
  readonly maxBytes: number
  readonly history: string[] = []
  readonly #historySize: number
  #buf = ''
  /** Bytes in the current line, all kinds, for the length limit. */
  #len = 0
  #badCount = 0
  #firstBad = -1
  #firstBadAt = 0
  #sawEscape = false
  /** The current line already got its error (too long): swallow the rest up to the terminator. */
  #discarding = false
  #lastCR = false
  #esc: 0 | 1 | 2 | 3 = 0
  #escSeq = ''
  #histPos = -1
  #draft = ''

  constructor(opts: LineEditorOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 512
    this.human = opts.human ?? true
    this.#historySize = opts.historySize ?? 50
  }

  /** The line typed so far (for redrawing after an event line). */
  get pending(): string {
    return this.#buf
  }

  /** True when the pending partial line is already known to be bad (flush it after a pause). */
  get tainted(): boolean {
    return !this.#discarding && (this.#badCount > 0 || this.#sawEscape || this.#esc !== 0)
  }

  /** Forget the partial line (e.g. after the port reopened). */
  reset(): void {
    this.#buf = ''
    this.#len = 0
    this.#badCount = 0
    this.#firstBad = -1
    this.#sawEscape = false
    this.#discarding = false
    this.#lastCR = false
    this.#esc = 0
    this.#escSeq = ''
    this.#histPos = -1
  }

  /** Input went quiet with a bad partial line (noise without line ends): report and drop it. */
  flushIdle(): EditorAction[] {
    if (!this.tainted) return []
    const out: EditorAction[] = []
    this.#endLine(out, true)
    return out
  }

  feed(chunk: Uint8Array): EditorAction[] {
    const out: EditorAction[] = []
    let echo = ''
    const flushEcho = (): void => {
      if (echo) out.push({ type: 'echo', text: echo })
      echo = ''
    }
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!
      if (this.#esc !== 0) {
        if (c === 0x0d || c === 0x0a) {
          // A line end inside an escape sequence ends both.
          this.#esc = 0
          this.#sawEscape = true
        } else {
          this.#len++
          this.#escapeByte(
            c,
            out,
            () => flushEcho(),
            (s) => (echo += s),
          )
          this.#checkLength(out, flushEcho)
          continue
        }
      }
      if (c === 0x0d || (c === 0x0a && !this.#lastCR)) {
        if (this.human && !this.#discarding) echo += '\r\n'
        flushEcho()
        this.#endLine(out, false)
        this.#lastCR = c === 0x0d
        continue
      }
      this.#lastCR = false
      if (c === 0x0a) continue // the LF of a CRLF
      if (this.#discarding) continue
      this.#len++
      if (c >= 0x20 && c <= 0x7e) {
        if (this.#buf.length < this.maxBytes) {
          this.#buf += String.fromCharCode(c)
          if (this.human) echo += this.mask ?? String.fromCharCode(c)
        }
      } else if (this.human && c === 0x09) {
        this.#buf += ' '
        if (this.human) echo += this.mask ?? ' '
      } else if (this.human && (c === 0x08 || c === 0x7f)) {
        this.#len = Math.max(0, this.#len - 2)
        if (this.#buf.length > 0) {
          this.#buf = this.#buf.slice(0, -1)
          if (this.human) echo += '\b \b'
        }
      } else if (c === ESC) {
        this.#esc = 1
        this.#escSeq = ''
      } else if (this.human && c === 0x03) {
        echo += '^C\r\n'
        flushEcho()
        this.reset()
        out.push({ type: 'cancel' })
        continue
      } else if (this.human && c === 0x0c) {
        // Ctrl-L (clear screen in many terminals' habits): harmless, ignored.
        this.#len--
      } else if (this.human && c === 0x15) {
        echo += '\b \b'.repeat(this.#buf.length)
        this.#buf = ''
        this.#len = 0
      } else {
        if (this.#badCount === 0) {
          this.#firstBad = c
          this.#firstBadAt = this.#len
        }
        this.#badCount++
      }
      this.#checkLength(out, flushEcho)
    }
    flushEcho()
    return out
  }

  #checkLength(out: EditorAction[], flushEcho: () => void): void {
    if (this.#discarding || this.#len <= this.maxBytes) return
    flushEcho()
    if (this.human) out.push({ type: 'echo', text: '\r\n' })
    out.push(
      this.#badCount > 0
        ? this.#badInputError()
        : {
            type: 'error',
            code: 'FW_ERR_LINE_TOO_LONG',
            message: `line longer than ${this.maxBytes} bytes; it is ignored up to its end (CR or LF). Send one command per line`,
          },
    )
    this.reset()
    this.#discarding = true
  }

  #badInputError(): EditorAction {
    return {
      type: 'error',
      code: 'FW_ERR_BAD_INPUT',
      message: `line held ${this.#badCount} non-text byte(s) (first ${hex(this.#firstBad)} at byte ${this.#firstBadAt}); nothing was done. Check the terminal settings (baud rate, 8N1) and send plain ASCII commands`,
    }
  }

  #escapeByte(c: number, out: EditorAction[], flushEcho: () => void, echo: (s: string) => void): void {
    this.#escSeq += String.fromCharCode(c)
    if (this.#esc === 1) {
      if (c === 0x5b)
        this.#esc = 2 // ESC [  (CSI)
      else if (c === 0x4f)
        this.#esc = 3 // ESC O (SS3)
      else this.#finishEscape(out, flushEcho, echo)
      return
    }
    if (this.#esc === 3) {
      this.#finishEscape(out, flushEcho, echo)
      return
    }
    // CSI: parameter and intermediate bytes, then a final byte 0x40-0x7e.
    if (c >= 0x40 && c <= 0x7e) this.#finishEscape(out, flushEcho, echo)
    else if (c < 0x20 || c > 0x3f || this.#escSeq.length > 16) {
      this.#esc = 0
      this.#sawEscape = true
    }
  }

  #finishEscape(out: EditorAction[], flushEcho: () => void, echo: (s: string) => void): void {
    const seq = this.#escSeq
    this.#esc = 0
    const key = seq === '[A' || seq === 'OA' ? 'up' : seq === '[B' || seq === 'OB' ? 'down' : null
    if (!this.human) {
      this.#sawEscape = true
      return
    }
    if (key && this.mask === null) {
      this.#len -= seq.length + 1
      this.#recall(key === 'up' ? 1 : -1, echo)
      return
    }
    this.#len -= seq.length + 1
    flushEcho()
    out.push({
      type: 'notice',
      text: 'that key does nothing here: type letters and digits, Backspace to erase, Up/Down for history, Enter to run',
      pending: this.#buf,
    })
  }

  #recall(dir: 1 | -1, echo: (s: string) => void): void {
    if (this.history.length === 0) return
    if (this.#histPos === -1) {
      if (dir === -1) return
      this.#draft = this.#buf
    }
    const pos = Math.max(-1, Math.min(this.history.length - 1, this.#histPos + dir))
    if (pos === this.#histPos) return
    this.#histPos = pos
    const text = pos === -1 ? this.#draft : this.history[this.history.length - 1 - pos]!
    echo('\b \b'.repeat(this.#buf.length) + text)
    this.#buf = text
    this.#len = text.length
  }

  #endLine(out: EditorAction[], idle: boolean): void {
    if (this.#discarding) {
      this.reset()
      return
    }
    if (this.#badCount > 0) out.push(this.#badInputError())
    else if (this.#sawEscape || this.#esc !== 0) {
      out.push({
        type: 'error',
        code: 'FW_ERR_BAD_INPUT',
        message: `line held an escape sequence${idle ? ' and no line end' : ''}; nothing was done. Send plain ASCII commands ending in CR, LF or CRLF`,
      })
    } else {
      const text = this.#buf
      if (this.human && this.mask === null && text.trim() !== '' && !/^\s*login\b/i.test(text) && this.history[this.history.length - 1] !== text) {
        this.history.push(text)
        if (this.history.length > this.#historySize) this.history.shift()
      }
      out.push({ type: 'line', text })
    }
    this.reset()
  }
}
