// A console under test, reached the way a control system or a terminal reaches it: a socat PTY
// pair, the console on one end, serialport (with @serialport/parser-readline for reply lines) on
// the other. Everything is torn down with the test.
import { join } from 'node:path'
import { ReadlineParser } from '@serialport/parser-readline'
import { SerialPort } from 'serialport'
import { type ConsoleHandle, type ConsoleOptions, startConsole } from '../../firmware/console/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { openPtyPair, type PtyPair } from '../../firmware/hardware/pty.ts'

export interface Client {
  port: SerialPort
  /** Every byte received so far, as latin1 text (the "screen" of a dumb terminal). */
  raw(): string
  /** Reply lines (CRLF-delimited) received so far, not yet taken. */
  lines: string[]
  send(data: string | Buffer): Promise<void>
  /** Waits for the next line (taking it); fails after timeoutMs. */
  nextLine(timeoutMs?: number): Promise<string>
  /** Waits until the raw screen matches. */
  waitRaw(re: RegExp, timeoutMs?: number): Promise<string>
  clear(): void
  close(): Promise<void>
}

export async function openClient(path: string, baudRate = 115200): Promise<Client> {
  const port = new SerialPort({ path, baudRate, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())))
  let raw = ''
  const lines: string[] = []
  let wake: (() => void) | null = null
  port.on('data', (d: Buffer) => {
    raw += d.toString('latin1')
    wake?.()
  })
  const parser = port.pipe(new ReadlineParser({ delimiter: '\r\n', encoding: 'latin1' }))
  parser.on('data', (l: string) => {
    lines.push(l)
    wake?.()
  })
  port.on('error', () => {})
  const waitFor = async <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const t0 = Date.now()
    for (;;) {
      const v = check()
      if (v !== undefined) return v
      const left = timeoutMs - (Date.now() - t0)
      if (left <= 0) throw new Error(`timed out waiting for ${what}; screen so far: ${JSON.stringify(raw.slice(-400))}`)
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(left, 50))
        wake = () => {
          clearTimeout(timer)
          wake = null
          r()
        }
      })
    }
  }
  return {
    port,
    raw: () => raw,
    lines,
    async send(data) {
      // A write into a tty nobody reads would wait for ever: fail the test with what we know instead.
      const n = typeof data === 'string' ? data.length : data.length
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`sending ${n} bytes to ${path} did not finish in 15 s; screen so far: ${JSON.stringify(raw.slice(-200))}`)),
          15_000,
        )
      })
      try {
        await Promise.race([
          (async () => {
            await new Promise<void>((resolve, reject) => port.write(data, (e) => (e ? reject(e) : resolve())))
            await new Promise<void>((resolve) => port.drain(() => resolve()))
          })(),
          deadline,
        ])
      } finally {
        clearTimeout(timer)
      }
    },
    nextLine: (timeoutMs = 3000) => waitFor(() => lines.shift(), timeoutMs, 'a line'),
    waitRaw: (re, timeoutMs = 3000) => waitFor(() => (re.test(raw) ? raw : undefined), timeoutMs, String(re)),
    clear() {
      raw = ''
      lines.length = 0
    },
    async close() {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()))
    },
  }
}

/** Sends one command line and returns its reply (the first OK or ERR line), skipping event lines. */
export async function ask(c: Client, line: string, ms = 15000): Promise<string> {
  c.clear()
  c.lines.length = 0
  await c.send(`${line}\r\n`)
  for (;;) {
    const l = await c.nextLine(ms)
    if (/^(OK|ERR) /.test(l)) return l
  }
}

/** Asks again every `everyMs` until `ok(reply)` holds or `ms` has passed; returns the last reply. */
export async function askUntil(c: Client, line: string, ok: (reply: string) => boolean, ms: number, everyMs = 50): Promise<string> {
  const end = Date.now() + ms
  for (;;) {
    const reply = await ask(c, line)
    if (ok(reply) || Date.now() > end) return reply
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * Writes a large buffer into a tty from a separate process (cat), as a second sender on the same
 * line. Used for megabyte floods: serialport's own writer, in this test process, can stall on a
 * PTY that is momentarily full, which would test the client rather than the console.
 */
export async function blast(ttyPath: string, data: Buffer, scratch: string): Promise<void> {
  const { writeFileSync } = await import('node:fs')
  const { spawn } = await import('node:child_process')
  const file = join(scratch, `blast-${process.pid}-${Date.now()}.bin`)
  writeFileSync(file, data)
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, ttyPath], { stdio: 'ignore' })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`writing ${data.length} bytes to ${ttyPath} took over 20 s`))
    }, 20_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      code === 0 ? resolve() : reject(new Error(`cat into ${ttyPath} exited ${code}`))
    })
  })
}

export interface Rig {
  pty: PtyPair
  con: ConsoleHandle
  client: Client
  dir: string
  logs: string[]
  /** Sends a line and returns the next reply line (machine mode). */
  ask(line: string, timeoutMs?: number): Promise<string>
}

/** A console on a fresh PTY pair in `dir` (pty-a: the console's UART, pty-b: the cable), with a client on the other end. */
export async function startRig(app: ApplianceApi, dir: string, opts: ConsoleOptions = {}): Promise<Rig> {
  const pty = await openPtyPair(dir)
  const logs: string[] = []
  // The terminal is attached first, as at a show: the banner must not be lost to a closed peer.
  const client = await openClient(pty.b)
  const con = await startConsole(app, app.profile, {
    devicePath: pty.a,
    pinFile: join(dir, 'console-pin'),
    log: (level, m) => logs.push(`${level}: ${m}`),
    ...opts,
  })
  const rig: Rig = {
    pty,
    con,
    client,
    dir,
    logs,
    async ask(line, timeoutMs) {
      await client.send(`${line}\r\n`)
      return client.nextLine(timeoutMs)
    },
  }
  return rig
}

export async function stopRig(rig: Rig): Promise<void> {
  await rig.client.close()
  await rig.con.stop()
  await rig.pty.close()
}

/** The real Appliance on the sim board (engine, watchdog, simulated panel), data in `dir`, stopped with the test. */
export async function bootRealAppliance(t: { teardown(fn: () => unknown): void }, dir: string): Promise<ApplianceApi> {
  const { loadProfile } = await import('../../firmware/board/profile.ts')
  const { startAppliance } = await import('../../firmware/runtime/start.ts')
  const run = await startAppliance({ ...loadProfile('sim'), dataDir: dir }, { services: [] })
  t.teardown(() => run.stop())
  return run.app
}

/** What a refused command must not change. Auto beams follow the DOA, so only their flag counts. */
export function snapshot(app: ApplianceApi): string {
  return JSON.stringify({
    manual: app.faults(1000).filter((f) => f.cause.startsWith('manual')).length,
    bypassed: app.status().state === 'MANUAL_BYPASS',
    outputs: app.outputSettings(),
    beams: app.beams().map((b) => (b.auto ? { auto: true } : b)),
  })
}
