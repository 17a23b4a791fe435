// The boot supervisor: what starts the firmware. Each start is a counted boot (SlotManager.boot),
// the health file is polled while the firmware runs (SlotManager.confirm), and when the firmware
// exits it is started again, so a slot that never gets healthy is rolled back after its tries
// without anyone touching the unit. On the appliance systemd can play the same role (see
// docs/recovery.md); this loop is the same logic in one process, and what the tests drive.
import { spawn, type ChildProcess } from 'node:child_process'
import type { BootDecision, SlotManager } from './slots.ts'

export interface SuperviseOptions {
  /** Milliseconds between health checks. Defaults to 500. */
  pollMs?: number
  /** Milliseconds to wait before starting the firmware again. Defaults to 1000. */
  restartDelayMs?: number
  /** Stops the loop (the running firmware is sent SIGTERM). */
  signal?: AbortSignal
  /** Called at each boot and each exit, for logs and tests. */
  onEvent?: (ev: { type: 'boot'; decision: BootDecision } | { type: 'exit'; code: number | null; signal: string | null } | { type: 'confirmed' }) => void
  /**
   * A pending slot not confirmed within this many milliseconds of its start is stopped and counts
   * as a failed boot (firmware that hangs before ACTIVE). Defaults to (healthyPeriodS + 120) s.
   */
  pendingTimeoutMs?: number
  /** Extra environment for the firmware. */
  env?: NodeJS.ProcessEnv
}

export function launchCommand(mgr: SlotManager, d: BootDecision): string[] {
  return mgr.cfg.launch.map((part) => part.replaceAll('{slot}', d.dir).replaceAll('{board}', mgr.cfg.board))
}

export async function supervise(mgr: SlotManager, o: SuperviseOptions = {}): Promise<void> {
  const pollMs = o.pollMs ?? 500
  const restartDelayMs = o.restartDelayMs ?? 1000
  const pendingTimeoutMs = o.pendingTimeoutMs ?? (mgr.cfg.healthyPeriodS + 120) * 1000
  const sleep = (ms: number): Promise<void> => new Promise((r) => {
    const t = setTimeout(r, ms)
    o.signal?.addEventListener('abort', () => { clearTimeout(t); r() }, { once: true })
  })
  while (!o.signal?.aborted) {
    const decision = mgr.boot()
    o.onEvent?.({ type: 'boot', decision })
    const [cmd, ...args] = launchCommand(mgr, decision)
    const child: ChildProcess = spawn(cmd!, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...o.env, STAGE_HEALTH_FILE: mgr.cfg.healthFile, STAGE_SLOT: decision.slot },
    })
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }))
      child.on('error', () => resolve({ code: 127, signal: null }))
    })
    let done = false
    void exited.then(() => { done = true })
    const onAbort = (): void => { child.kill('SIGTERM') }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    const started = Date.now()
    while (!done) {
      await Promise.race([exited, sleep(pollMs)])
      if (decision.state === 'pending' && mgr.confirm()) {
        decision.state = 'good'
        o.onEvent?.({ type: 'confirmed' })
      } else if (decision.state === 'pending' && !done && Date.now() - started > pendingTimeoutMs) {
        // Hung short of healthy: stop it; the next boot() counts the try.
        child.kill('SIGKILL')
        await exited
      }
    }
    o.signal?.removeEventListener('abort', onAbort)
    o.onEvent?.({ type: 'exit', ...(await exited) })
    if (!o.signal?.aborted) await sleep(restartDelayMs)
  }
}
