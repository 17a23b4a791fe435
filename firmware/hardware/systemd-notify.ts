// systemd's service notification: READY=1, WATCHDOG=1, STOPPING=1 as datagrams to the unix socket
// named by $NOTIFY_SOCKET. Node's dgram has no unix-domain sockets and this project takes no
// native dependency for it, so one long-lived `socat -u STDIN UNIX-SENDTO:<socket>` child carries
// them: what it reads from its stdin goes out as a datagram (socat reads a chunk, sends it; writes
// close together share one, so every message ends with a newline, as the protocol allows). socat is
// already on the board for the UART simulation. Because socat, not the main process, is the
// sender, the unit needs NotifyAccess=all (see docs/watchdog.md). An abstract socket
// ("@name") goes through socat's ABSTRACT-SENDTO.
import { type ChildProcess, spawn } from 'node:child_process'
import type { HardwareWatchdog } from './watchdog-device.ts'

export interface SystemdNotifierOptions {
  /** Defaults to $NOTIFY_SOCKET. */
  socket?: string
  /** Minimum time between WATCHDOG=1. Defaults to half of $WATCHDOG_USEC, else 1000 ms. */
  intervalMs?: number
}

export class SystemdNotifier implements HardwareWatchdog {
  readonly name = 'systemd'
  readonly socket: string
  readonly intervalMs: number
  #child: ChildProcess | null
  #last = -Infinity
  sent = 0

  /** Null when $NOTIFY_SOCKET is not set (not started by systemd). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SystemdNotifier | null {
    if (!env.NOTIFY_SOCKET) return null
    const usec = Number(env.WATCHDOG_USEC)
    return new SystemdNotifier({ socket: env.NOTIFY_SOCKET, intervalMs: usec > 0 ? usec / 2000 : 1000 })
  }

  constructor(opts: SystemdNotifierOptions = {}) {
    this.socket = opts.socket ?? process.env.NOTIFY_SOCKET ?? ''
    this.intervalMs = opts.intervalMs ?? 1000
    const addr = this.socket.startsWith('@') ? `ABSTRACT-SENDTO:${this.socket.slice(1)}` : `UNIX-SENDTO:${this.socket}`
    this.#child = spawn('socat', ['-u', 'STDIN', addr], { stdio: ['pipe', 'ignore', 'ignore'] })
    this.#child.on('error', () => {
      this.#child = null
    })
    this.#child.on('exit', () => {
      this.#child = null
    })
    this.#child.stdin!.on('error', () => {})
  }

  /** Sends one assignment (e.g. "READY=1"). Each ends with a newline: socat reads what is in the
   *  pipe as one chunk, so messages sent back to back can share a datagram, and systemd splits a
   *  datagram at newlines (without them, "READY=1WATCHDOG=1" was one unknown value). */
  notify(message: string): void {
    if (!this.#child?.stdin?.writable) return
    this.#child.stdin.write(message.endsWith('\n') ? message : `${message}\n`)
    this.sent++
  }

  ready(): void {
    this.notify('READY=1')
  }

  feed(now: number): void {
    if (now - this.#last < this.intervalMs) return
    this.#last = now
    this.notify('WATCHDOG=1')
  }

  async close(): Promise<void> {
    const c = this.#child
    if (!c) return
    this.notify('STOPPING=1')
    c.stdin!.end()
    await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 1000))])
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    this.#child = null
  }
}
