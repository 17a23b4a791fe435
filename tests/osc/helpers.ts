// What the OSC tests share: liblo's oscsend as the mixing console, and a polling wait.
import { spawn } from 'node:child_process'
import { until as untilWithin } from '../helpers/until.ts'

/** Sends one OSC message from 127.0.0.1 with liblo's oscsend; resolves its exit code. */
export function oscsend(port: number, ...args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('oscsend', ['127.0.0.1', String(port), ...args], { stdio: 'ignore' })
    p.on('close', (c) => resolve(c ?? -1))
  })
}

/** Waits up to 5 s for `cond`. */
export function until(cond: () => boolean, what: string): Promise<void> {
  return untilWithin(cond, 5000, what)
}
