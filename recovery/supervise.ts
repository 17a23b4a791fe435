// The boot supervisor: what starts the firmware. Each start is a counted boot (SlotManager.boot),
// the health file is polled while the firmware runs (SlotManager.confirm), a pending slot that is
// not confirmed in time is stopped (a failed boot), and when the firmware exits it is started
// again, so a slot that never gets healthy is rolled back after its tries without anyone touching
// the unit. `recovery start` is one round of this (once: true): the shipped systemd unit runs it as
// ExecStart and systemd's Restart=always makes the loop, so confirmation and the pending timeout are
// on the boot path whether or not the recovery console runs. `recovery supervise` is the loop in
// one process.
import { type ChildProcess, spawn } from 'node:child_process'
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
   * as a failed boot (firmware that hangs before ACTIVE). Defaults to the profile's pendingTimeoutS.
   */
  pendingTimeoutMs?: number
  /** Extra environment for the firmware. */
  env?: NodeJS.ProcessEnv
  /** One boot only: return when the firmware exits (recovery start, under systemd). */
  once?: boolean
  /** Why a pending slot is not confirmed yet, each time the reason changes. */
  onWaiting?: (reason: string) => void
}

export interface SuperviseResult {
  /** How the last firmware run ended. */
  code: number | null
  signal: string | null
  /** It was stopped for not getting healthy in time. */
  timedOut: boolean
}

export function launchCommand(mgr: SlotManager, d: BootDecision): string[] {
  return mgr.cfg.launch.map((part) => part.replaceAll('{slot}', d.dir).replaceAll('{board}', mgr.cfg.board))
}

export async function supervise(mgr: SlotManager, o: SuperviseOptions = {}): Promise<SuperviseResult> {
  const pollMs = o.pollMs ?? 500
  const restartDelayMs = o.restartDelayMs ?? 1000
  const pendingTimeoutMs = o.pendingTimeoutMs ?? (mgr.cfg.pendingTimeoutS ?? mgr.cfg.healthyPeriodS + 120) * 1000
  let result: SuperviseResult = { code: null, signal: null, timedOut: false }
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(r, ms)
      o.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t)
          r()
        },
        { once: true },
      )
    })
  while (!o.signal?.aborted) {
    const decision = mgr.boot()
    o.onEvent?.({ type: 'boot', decision })
    const [cmd, ...args] = launchCommand(mgr, decision)
    const child: ChildProcess = spawn(cmd!, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...o.env, STAGE_HEALTH_FILE: mgr.cfg.healthFile, STAGE_SLOT: decision.slot, STAGE_RECOVERY_STATE: mgr.cfg.stateDir },
    })
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }))
      child.on('error', () => resolve({ code: 127, signal: null }))
    })
    let done = false
    void exited.then(() => {
      done = true
    })
    const onAbort = (): void => {
      child.kill('SIGTERM')
    }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    // Timed on the monotonic clock: a wall-clock jump neither kills a healthy boot nor spares a hung one.
    const started = performance.now()
    let timedOut = false
    let waiting = ''
    while (!done) {
      await Promise.race([exited, sleep(pollMs)])
      if (decision.state !== 'pending') continue
      const c = mgr.confirm()
      if (c.confirmed) {
        decision.state = 'good'
        o.onEvent?.({ type: 'confirmed' })
      } else if (!done && performance.now() - started > pendingTimeoutMs) {
        // Hung short of healthy: stop it; the next boot() counts the try.
        o.onWaiting?.(`not healthy within ${Math.round(pendingTimeoutMs / 1000)} s (${c.reason}); stopping it, a failed boot`)
        timedOut = true
        child.kill('SIGKILL')
        await exited
      } else if (c.reason !== waiting) {
        waiting = c.reason
        o.onWaiting?.(`slot ${decision.slot} (${decision.version}) not confirmed yet: ${c.reason}`)
      }
    }
    o.signal?.removeEventListener('abort', onAbort)
    const end = await exited
    result = { ...end, timedOut }
    o.onEvent?.({ type: 'exit', ...end })
    if (o.once) break
    if (!o.signal?.aborted) await sleep(restartDelayMs)
  }
  return result
}
