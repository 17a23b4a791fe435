// Polls `cond` until it holds, failing with what was awaited after `ms`. The tests wait on a real
// engine, real processes and real ports, so they wait on conditions, never on fixed sleeps.
import { performance } from 'node:perf_hooks'

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}
