// A witness for "the machine was busy, not the code under test": a separate Node process that only
// ticks a 5 ms timer and writes down every tick that came late. Nothing in it can be blocked by the
// process under test (no shared event loop, no shared GC), so when it was late too, the cores were
// taken; when it was on time and the process under test stalled, the stall was the code's own.

import { spawn } from 'node:child_process'

export interface Late {
  /** When the late tick came (ms since the epoch). */
  at: number
  /** How late it was (ms). */
  ms: number
}

const PROBE = `
let last = Date.now()
setInterval(() => {
  const now = Date.now()
  const late = now - last - 5
  if (late >= 30) process.stdout.write(JSON.stringify({ at: now, ms: late }) + '\\n')
  last = now
}, 5)
`

export function startStarvationProbe(): { seen(): Late[]; stop(): Promise<Late[]> } {
  const child = spawn(process.execPath, ['-e', PROBE], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString()
  })
  // Whole lines only: a line still being written is read next time.
  const parse = () =>
    out
      .split('\n')
      .slice(0, -1)
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Late)
  const exited = new Promise<Late[]>((resolve) => {
    child.once('exit', () => resolve(parse()))
  })
  // The probe must not outlive the test, and stop() may be called again from a teardown.
  child.unref()
  return {
    seen: parse,
    stop: () => {
      child.kill()
      return exited
    },
  }
}

/** Whether the probe was late by at least `minMs` within `windowMs` before `at` (the fault's time). */
export function starvedNear(late: Late[], at: number, minMs = 30, windowMs = 1500): boolean {
  return late.some((l) => l.ms >= minMs && l.at <= at + 300 && l.at >= at - windowMs)
}
