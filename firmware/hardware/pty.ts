// A pseudo-terminal pair made by socat: what a UART is on the simulated board. Bytes written on
// one end come out of the other; both ends are real tty devices that serialport opens like
// /dev/ttyTHS1. The pair lives as long as the socat process; `exited` tells its owner when that
// ends, however it ends, so an owner can make a new pair at the same paths.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'

export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  a: string
  /** Path of the other end. */
  b: string
  /** The socat process (it runs under a small sh that stops it when this process ends). */
  pid: number
  /** Resolves when socat has ended and the pair is gone: after close(), or when socat died (kill -9). */
  exited: Promise<void>
  /** Stops socat and removes the links. */
  close(): Promise<void>
}

export async function openPtyPair(dir?: string): Promise<PtyPair> {
  const ownDir = dir === undefined
  const d = dir ?? mkdtempSync(join(tmpdir(), 'fw-pty-'))
  const a = join(d, 'pty-a')
  const b = join(d, 'pty-b')
  // socat runs under a small sh that holds a pipe from this process: when this process ends,
  // however it ends (even SIGKILL), the pipe closes, `read` returns, and sh stops socat and removes
  // the links, so no PTY pair outlives its owner. The `read` runs in a background subshell (on the
  // pipe, via fd 3) while sh waits for socat, so sh also exits when socat dies on its own: that is
  // how the owner learns the pair is gone (`exited`).
  // socat stands for a wire: it runs under SCHED_FIFO 75 where the OS allows (chrt), so a busy
  // machine does not hold heartbeat lines in it for tens of milliseconds (a UART never does).
  // (chrt execs socat, so $! is socat's pid either way.)
  const script =
    'if chrt -f 75 true 2>/dev/null; then c="chrt -f 75 socat"; else c=socat; fi; $c "$1" "$2" & s=$!; echo "$s"; exec 3<&0; ( read _ignored <&3; kill "$s" 2>/dev/null ) & r=$!; wait "$s"; kill "$r" 2>/dev/null; [ -n "$3" ] && rm -rf "$3"'
  // Links left by a socat that was killed (it cannot remove them) point at ptys that are gone, or
  // at a pty number the kernel has since handed to someone else: remove them first, so the wait
  // below sees only this socat's links.
  for (const link of [a, b]) rmSync(link, { force: true })
  let child: ChildProcess
  try {
    child = spawn('sh', ['-c', script, 'sh', `PTY,raw,echo=0,link=${a}`, `PTY,raw,echo=0,link=${b}`, ownDir ? d : ''], { stdio: ['pipe', 'pipe', 'pipe'] })
  } catch (e) {
    throw new FirmwareError('FW_ERR_IO', `cannot start socat for a PTY pair (${(e as Error).message}); install it with "bash scripts/setup.sh"`)
  }
  let socatPid = 0
  child.stdout!.once('data', (c: Buffer) => {
    socatPid = Number(c.toString().trim()) || 0
  })
  child.stdin!.on('error', () => {})
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000)
  })
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  let spawnError: Error | null = null
  child.once('error', (e) => {
    spawnError = e
  })
  const deadline = Date.now() + 5000
  while (!(existsSync(a) && existsSync(b) && socatPid > 0)) {
    if (spawnError || child.exitCode !== null || Date.now() > deadline) {
      child.stdin!.end()
      child.kill('SIGKILL')
      const why = spawnError ? (spawnError as Error).message : stderr.trim() || 'timed out'
      throw new FirmwareError('FW_ERR_IO', `socat could not make a PTY pair: ${why}; is socat installed ("bash scripts/setup.sh")?`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  return {
    a,
    b,
    pid: socatPid,
    exited,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end()
        await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))])
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(socatPid, 'SIGKILL')
          } catch {
            /* gone */
          }
          child.kill('SIGKILL')
        }
      }
      if (ownDir) rmSync(d, { recursive: true, force: true })
    },
  }
}
