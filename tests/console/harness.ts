// A console under test, reached the way a control system or a terminal reaches it: a socat PTY
// pair, the console on one end, serialport (with @serialport/parser-readline for reply lines) on
// the other. Everything is torn down with the test.
import { join } from 'node:path'
import { SerialPort } from 'serialport'
import { ReadlineParser } from '@serialport/parser-readline'
import { startConsole, type ConsoleHandle, type ConsoleOptions } from '../../firmware/console/index.ts'
import { startPtyPair, type PtyPair } from '../../firmware/console/pty.ts'
import type { ApplianceApi } from '../../firmware/runtime/types.ts'

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
        wake = () => { clearTimeout(timer); wake = null; r() }
      })
    }
  }
  return {
    port,
    raw: () => raw,
    lines,
    async send(data) {
      await new Promise<void>((resolve, reject) => port.write(data, (e) => (e ? reject(e) : resolve())))
      await new Promise<void>((resolve) => port.drain(() => resolve()))
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

export interface Rig {
  pty: PtyPair
  con: ConsoleHandle
  client: Client
  dir: string
  logs: string[]
  /** Sends a line and returns the next reply line (machine mode). */
  ask(line: string, timeoutMs?: number): Promise<string>
}

/** A console on a fresh PTY pair in `dir`, with a client on the other end. */
export async function startRig(app: ApplianceApi, dir: string, opts: ConsoleOptions = {}): Promise<Rig> {
  const pty = await startPtyPair(join(dir, 'uart'), join(dir, 'cable'))
  const logs: string[] = []
  // The terminal is attached first, as at a show: the banner must not be lost to a closed peer.
  const client = await openClient(pty.peer)
  const con = await startConsole(app, app.profile, {
    devicePath: pty.device,
    pinFile: join(dir, 'console-pin'),
    log: (level, m) => logs.push(`${level}: ${m}`),
    ...opts,
  })
  const rig: Rig = {
    pty, con, client, dir, logs,
    async ask(line, timeoutMs) {
      await client.send(line + '\r\n')
      return client.nextLine(timeoutMs)
    },
  }
  return rig
}

export async function stopRig(rig: Rig): Promise<void> {
  await rig.client.close()
  await rig.con.stop()
  await rig.pty.stop()
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
