// What the console writes, in each mode. Machine mode: one line per reply (formatMachine), EV lines
// as they are. Human mode: the reply as text with CRLF line ends and the prompt after it; an EV line
// clears the line being typed, prints above it and puts the prompt and the typed text back.
// Pure functions of their arguments: the session (console.ts) owns the state.
import { flatten, formatHuman, formatMachine } from '../commands/format.ts'
import type { CommandResult, CommandSpec } from '../commands/types.ts'

export type ConsoleMode = 'human' | 'machine'

/** The human screen's input line: the prompt and what has been typed (shown masked while a PIN is typed). */
export interface InputLine {
  prompt: string
  pending: string
  mask: string | null
}

/** `EV <topic> key=value... at=<ISO 8601 UTC, ms>`: `at` (when it happened) is always the last key. */
export function eventLine(topic: string, fields: Record<string, unknown>, at: number): string {
  return `EV ${topic} ${flatten({ ...fields, at: new Date(at).toISOString() }).join(' ')}`
}

/** An EV line as written in `mode`. */
export function renderEvent(mode: ConsoleMode, line: string, input: InputLine): string {
  if (mode === 'machine') return `${line}\r\n`
  return `\r\x1b[K${line}\r\n${input.prompt}${input.mask ? input.mask.repeat(input.pending.length) : input.pending}`
}

/** A command's reply as written in `mode` (`spec`: the command's spec, for human formatting of a success). */
export function renderReply(mode: ConsoleMode, r: CommandResult, spec: CommandSpec | undefined, input: InputLine): string {
  if (mode === 'machine') return `${formatMachine(r)}\r\n`
  return `${formatHuman(r, r.ok ? spec : undefined).replace(/\r?\n/g, '\r\n')}\r\n${input.prompt}${input.pending}`
}
