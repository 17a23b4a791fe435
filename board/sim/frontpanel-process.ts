// Starting and driving the simulated front-panel controller process (board/sim/frontpanel.ts)
// from the firmware (`firmware run --board sim`) and from tests: its control input (the button)
// and its JSON-line reports.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { boardRoot } from '../../firmware/board/profile.ts'
import type { ControllerReport } from './frontpanel-controller.ts'

export interface SimulatedPanelOptions {
  /** The controller's end of the panel PTY pair. */
  port: string
  baudRate?: number
  /** Heartbeat timeout, ms. Defaults to 250. */
  timeoutMs?: number
  /** Exit when this process is gone (power-down of the unit). */
  parentPid?: number
  /** Also called for every report. */
  onReport?: (r: ControllerReport) => void
  /**
   * Run the controller under SCHED_FIFO (chrt) like the microcontroller it stands for, whose
   * timer and UART interrupt are never late; falls back to normal priority where the OS refuses.
   * Defaults to true.
   */
  realtime?: boolean
}

let chrtWorks: boolean | undefined
/** Whether `chrt -f` may be used here (root or CAP_SYS_NICE), tried once. */
export function canUseRealtime(): boolean {
  if (chrtWorks === undefined) {
    const r = spawnSync('chrt', ['-f', '10', 'true'], { stdio: 'ignore' })
    chrtWorks = r.status === 0
  }
  return chrtWorks
}

export interface SimulatedPanel {
  readonly pid: number
  readonly child: ChildProcess
  /** Every report so far. */
  readonly reports: ControllerReport[]
  /** Control input: press | release | click | hold | status | reset-gaps | quit. */
  control(cmd: 'press' | 'release' | 'click' | 'hold' | 'status' | 'reset-gaps' | 'quit'): void
  /** Resolves with the first report (from index `from`) that matches, or rejects after timeoutMs. */
  waitFor(pred: (r: ControllerReport) => boolean, timeoutMs?: number, from?: number): Promise<ControllerReport>
  /** Stops the process and waits for it. */
  stop(): Promise<void>
}

export async function startSimulatedPanel(opts: SimulatedPanelOptions): Promise<SimulatedPanel> {
  const args = [
    join(boardRoot, 'sim', 'frontpanel.ts'),
    '--port',
    opts.port,
    '--baud',
    String(opts.baudRate ?? 115200),
    '--timeout',
    String(opts.timeoutMs ?? 250),
  ]
  if (opts.parentPid !== undefined) args.push('--parent', String(opts.parentPid))
  const argv = ['--disable-warning=ExperimentalWarning', ...args]
  // Priority 75: below the engine's sentinel (80), above audio threads (70): a microcontroller is never late because the host is busy.
  const rt = (opts.realtime ?? true) && canUseRealtime()
  const child = rt
    ? spawn('chrt', ['-f', '75', process.execPath, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
  const reports: ControllerReport[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000)
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let r: ControllerReport
    try {
      r = JSON.parse(line) as ControllerReport
    } catch {
      return
    }
    reports.push(r)
    opts.onReport?.(r)
    for (const w of [...waiters]) w()
  })
  const exited = new Promise<void>((res) =>
    child.once('exit', () => {
      for (const w of [...waiters]) w()
      res()
    }),
  )
  const waitFor = (pred: (r: ControllerReport) => boolean, timeoutMs = 3000, from = 0): Promise<ControllerReport> =>
    new Promise((res, rej) => {
      const check = () => {
        for (let i = from; i < reports.length; i++) {
          if (pred(reports[i]!)) {
            done()
            res(reports[i]!)
            return true
          }
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          done()
          rej(new Error(`simulated panel exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        done()
        rej(new Error(`simulated panel: no matching report in ${timeoutMs} ms; got ${JSON.stringify(reports.slice(from).slice(-5))}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(w)
      }
      const w = () => {
        check()
      }
      waiters.add(w)
      check()
    })
  const panel: SimulatedPanel = {
    pid: child.pid!,
    child,
    reports,
    control: (cmd) => {
      if (child.stdin!.writable) child.stdin!.write(`${cmd}\n`)
    },
    waitFor,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        await exited
      }
    },
  }
  // 15 s: a Node process starting on a saturated 2-core machine has taken over 5 s to say hello.
  await waitFor((r) => r.event === 'hello' || r.event === 'port-error', 15_000)
    .then((r) => {
      if (r.event === 'port-error') throw new Error(`simulated panel could not open ${opts.port}: ${String(r.message)}`)
    })
    .catch(async (e: unknown) => {
      await panel.stop()
      throw e
    })
  return panel
}
