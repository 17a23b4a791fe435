// The console's options, its stats and the handle startConsole returns (the public types of
// firmware/console, re-exported by console.ts and index.ts).
import type { CommandRegistry } from '../commands/index.ts'
import type { Permission } from '../commands/types.ts'
import type { OpenPort } from './port.ts'
import type { ConsoleMode } from './render.ts'

export interface ConsoleOptions {
  /** Device to open instead of profile.uarts.console.path (e.g. one end of a test's PTY pair). */
  devicePath?: string
  /** Defaults to profile.uarts.console.baudRate (115200 8N1 unless the profile says otherwise). */
  baudRate?: number
  /** The registry (the composition root hands every transport the same one). Defaults to a new createRegistry(app). */
  registry?: CommandRegistry
  /** Mode at start. Defaults to 'human'. */
  mode?: ConsoleMode
  /** Longest line in bytes. Defaults to 512. */
  maxLineBytes?: number
  /** Commands per second allowed on average, and the burst. Defaults to 20/s, burst 40. */
  rate?: { perSecond: number; burst: number }
  /** Console PIN hash file. Defaults to <dataDir>/console-pin; absent means no PIN. */
  pinFile?: string
  /** Wrong PINs before a lockout, and the first lockout. Defaults to 3 and 30000 ms (doubling). */
  pinLockout?: { tries: number; ms: number }
  /** A login lapses after this long without a command. Defaults to 15 minutes. */
  loginIdleMs?: number
  /** Reopen backoff after the port vanishes. Defaults to 100 ms doubling to 5000 ms. */
  reopen?: { initialMs: number; maxMs: number }
  /** A bad partial line with no line end is reported after this pause. Defaults to 300 ms. */
  idleFlushMs?: number
  /** Beyond this many unsent output bytes, EV lines are dropped (counted). Defaults to 65536. */
  maxPendingOutput?: number
  /** Unsent output that does not shrink for this long makes the console reopen the port. Defaults to 10000 ms. */
  writeStallMs?: number
  /** Sim board: the PTY links go in <simDir>/console-pty. Defaults to a fresh temp directory, removed at stop. */
  simDir?: string
  openPort?: OpenPort
  /** Where the console reports port trouble. Defaults to stderr for warn and error. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void
}

export interface ConsoleStats {
  isOpen: boolean
  mode: ConsoleMode
  permission: Permission
  opens: number
  openFailures: number
  lines: number
  errors: number
  rateLimited: number
  droppedEvents: number
}

export interface ConsoleHandle {
  /** What a terminal or control system opens: the PTY peer on the sim board, else the UART itself. */
  path: string
  /** What the firmware opened. */
  devicePath: string
  stop(): Promise<void>
  stats(): ConsoleStats
  /** Resolves once the port is open (now, or after the next reopen). */
  whenOpen(): Promise<void>
}

export const defaultLog = (level: 'info' | 'warn' | 'error', message: string): void => {
  if (level !== 'info') process.stderr.write(`console: ${message}\n`)
}
