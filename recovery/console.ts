// The recovery console: a few line commands on a serial port, for a stage tech with a laptop and a
// USB-serial cable when the firmware will not come up. Every reply ends with "OK" or
// "ERR <code> <message>" so it can be scripted; then the prompt "recovery> ". Input goes through
// the line discipline (recovery/line-discipline.ts): bounded lines, echo, backspace, control
// bytes refused; command words are case-insensitive.

import { scryptSync, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { SerialPort } from 'serialport'
import type { RecoveryConfig } from './config.ts'
import { RecoveryError } from './errors.ts'
import { LineDiscipline } from './line-discipline.ts'
import { factoryReset } from './reset.ts'
import type { SlotManager } from './slots.ts'

export const PROMPT = 'recovery> '

const help = `commands:
  status                      board, active slot, firmware version, health
  slots                       both slots and their state
  rollback                    boot the other slot (if it holds good firmware)
  install PATH                verify a signed update bundle and install it to the inactive slot
  factory-reset [--full] yes  wipe presets and data (keeps the identity unless --full)
  login PIN                   unlock rollback, install and factory-reset (when the unit has a PIN)
  help                        this text`

function healthLine(cfg: RecoveryConfig): string {
  if (!existsSync(cfg.healthFile)) return 'health: no report yet'
  try {
    const h = JSON.parse(readFileSync(cfg.healthFile, 'utf8')) as { state: string; version: string; at: number; activeSince: number | null }
    const active = h.activeSince ? `, ACTIVE for ${Math.round((h.at - h.activeSince) / 1000)} s` : ''
    return `health: ${h.state} (firmware ${h.version}${active}, reported ${new Date(h.at).toISOString()})`
  } catch {
    return 'health: report unreadable'
  }
}

/** A console session: whether it has logged in, and its failed attempts. */
export interface ConsoleSession {
  authed: boolean
  failures: number
  lockedUntil: number
}

export function newSession(): ConsoleSession {
  return { authed: false, failures: 0, lockedUntil: 0 }
}

/**
 * Checks `pin` against the console PIN hash in the data directory ("scrypt$N$r$p$salt$hash",
 * base64 salt and hash, as provisioning writes it). Null when the unit has no PIN.
 */
export function checkConsolePin(dataDir: string, pin: string): boolean | null {
  const file = join(dataDir, 'console-pin')
  if (!existsSync(file)) return null
  const parts = readFileSync(file, 'utf8').trim().split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  const salt = Buffer.from(parts[4]!, 'base64')
  const want = Buffer.from(parts[5]!, 'base64')
  if (![N, r, p].every(Number.isInteger) || want.length !== 32) return false
  const got = scryptSync(pin, salt, 32, { N, r, p, maxmem: 256 * 1024 * 1024 })
  return timingSafeEqual(got, want)
}

const needsLogin = new Set(['rollback', 'install', 'factory-reset'])

/**
 * Runs one command line; returns the reply lines (without the final OK/ERR). Throws RecoveryError.
 * `session` is the serial console's; without one (the local command line) no login is asked.
 */
export function runRecoveryCommand(line: string, mgr: SlotManager, session?: ConsoleSession, now = Date.now()): string[] {
  const [word, ...args] = line.trim().split(/\s+/)
  // Command words and flags are case-insensitive (a caps-lock tech); paths keep their case.
  const cmd = word?.toLowerCase()
  const flags = args.map((a) => a.toLowerCase())
  const cfg = mgr.cfg
  if (session && cmd === 'login') {
    if (now < session.lockedUntil)
      throw new RecoveryError('REC_ERR_AUTH', `too many wrong PINs; try again in ${Math.ceil((session.lockedUntil - now) / 1000)} s`)
    const ok = checkConsolePin(cfg.dataDir, args[0] ?? '')
    if (ok === null) return ['this unit has no console PIN; no login needed']
    if (!ok) {
      session.failures++
      if (session.failures >= 5) {
        session.failures = 0
        session.lockedUntil = now + 60_000
      }
      throw new RecoveryError('REC_ERR_AUTH', 'wrong PIN')
    }
    session.authed = true
    session.failures = 0
    return ['logged in']
  }
  if (session && !session.authed && cmd !== undefined && needsLogin.has(cmd) && existsSync(join(cfg.dataDir, 'console-pin'))) {
    throw new RecoveryError('REC_ERR_AUTH', `"${cmd}" needs "login PIN" first`)
  }
  switch (cmd) {
    case 'help':
    case '?':
      return help.split('\n')
    case 'status': {
      const s = mgr.read()
      const a = s.active ? s.slots[s.active] : null
      return [
        `board: ${cfg.board}`,
        `active: ${s.active ? `slot ${s.active}, firmware ${a?.version}, ${a?.state}${a?.state === 'pending' ? ` (boot ${a.boots} of ${cfg.bootTries})` : ''}` : 'none installed'}`,
        healthLine(cfg),
      ]
    }
    case 'slots': {
      const s = mgr.read()
      return (['a', 'b'] as const).map((k) => {
        const r = s.slots[k]
        return `slot ${k}${s.active === k ? ' *' : '  '} ${r.state.padEnd(7)} ${r.version ?? '-'}${r.note ? `  ${r.note}` : ''}`
      })
    }
    case 'rollback': {
      const r = mgr.rollback('recovery console')
      return [`rolled back from slot ${r.from} to slot ${r.to} (firmware ${r.version}); restart the firmware to boot it`]
    }
    case 'install': {
      const path = args.join(' ')
      if (!path) throw new RecoveryError('REC_ERR_USAGE', 'install needs a path: install /media/usb/update.sbundle')
      const r = mgr.install(path)
      return [`installed ${r.version} to slot ${r.slot}${r.pending ? `; it must report healthy within ${cfg.bootTries} boots or it rolls back` : ''}`]
    }
    case 'factory-reset': {
      const full = flags.includes('--full')
      if (!flags.includes('yes')) {
        throw new RecoveryError(
          'REC_ERR_USAGE',
          `this wipes presets and data${full ? ' AND the identity' : ' (the identity is kept)'}; type "factory-reset${full ? ' --full' : ''} yes" to go ahead`,
        )
      }
      const r = factoryReset(cfg, { full })
      return [`removed: ${r.removed.join(', ') || 'nothing'}`, `kept: ${r.kept.join(', ') || 'nothing'}`]
    }
    default:
      throw new RecoveryError('REC_ERR_USAGE', `unknown command "${word!.slice(0, 40)}"; type "help"`)
  }
}

/** Serves the console on any duplex byte stream (a serial port in production). */
export function serveRecoveryConsole(port: Duplex, mgr: SlotManager): void {
  const discipline = new LineDiscipline()
  const send = (lines: string[]): void => {
    port.write(lines.map((l) => `${l}\r\n`).join(''))
  }
  const session = newSession()
  send(['stage recovery console; type "help"'])
  port.write(PROMPT)
  port.on('data', (chunk: Buffer) => {
    for (const a of discipline.feed(chunk)) {
      if (a.type === 'echo') {
        port.write(a.text)
      } else if (a.type === 'cancel') {
        port.write(PROMPT)
      } else if (a.type === 'error') {
        send([`ERR ${a.code} ${a.message}`])
        port.write(PROMPT)
      } else {
        const line = a.text.trim()
        if (line !== '') {
          try {
            send([...runRecoveryCommand(line, mgr, session), 'OK'])
          } catch (e) {
            const code = e instanceof RecoveryError ? e.code : 'REC_ERR_IO'
            send([`ERR ${code} ${(e as Error).message}`])
          }
        }
        port.write(PROMPT)
      }
    }
  })
}

/** Opens the configured (or given) serial port and serves the console on it. */
export async function openRecoveryConsole(mgr: SlotManager, path = mgr.cfg.console.path, baudRate = mgr.cfg.console.baudRate): Promise<SerialPort> {
  if (path === 'none' || path === '') {
    throw new RecoveryError('REC_ERR_CONFIG', `board ${mgr.cfg.board} names no recovery console UART (recovery.console.path); give one with --port`)
  }
  const port = new SerialPort({ path, baudRate, autoOpen: false })
  await new Promise<void>((resolve, reject) =>
    port.open((err) => (err ? reject(new RecoveryError('REC_ERR_IO', `cannot open ${path}: ${err.message}`)) : resolve())),
  )
  serveRecoveryConsole(port, mgr)
  return port
}
