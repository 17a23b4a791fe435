// A pseudo-terminal pair made by socat: what the sim board uses instead of a UART, and what tests
// use to reach the console through a real tty with serialport at both ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { FirmwareError } from '../errors.ts'

export interface PtyPair {
  /** The end the firmware opens (the "UART"). */
  device: string
  /** The end a terminal program or a test opens (the "cable"). */
  peer: string
  readonly process: ChildProcess
  /** Kills socat (both links vanish) and waits for it to exit. */
  stop(): Promise<void>
}

/** Starts `socat pty,raw,echo=0,link=device pty,raw,echo=0,link=peer` and waits for both links. */
export async function startPtyPair(device: string, peer: string, timeoutMs = 5000): Promise<PtyPair> {
  const child = spawn('socat', [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peer}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  child.once('error', () => { exited = true })
  const t0 = Date.now()
  while (!(existsSync(device) && existsSync(peer))) {
    if (exited || Date.now() - t0 > timeoutMs) {
      child.kill('SIGKILL')
      const why = exited ? `socat exited: ${stderr.trim() || 'no message'}` : `timed out after ${timeoutMs} ms`
      throw new FirmwareError('FW_ERR_CONSOLE', `could not create the PTY pair ${device} <-> ${peer} (${why}); is socat installed (scripts/setup.sh)?`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  return {
    device,
    peer,
    process: child,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
        await exit
        clearTimeout(timer)
      }
    },
  }
}
