// Starting and driving the simulated front-panel controller process (board/sim/frontpanel.ts)
// from the firmware (`firmware run --board sim`) and from tests: its control input (the button)
// and its JSON-line reports.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
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

/**
 * Starts the controller and waits for its hello. A start that says nothing within 6 s is stopped
 * and tried again (three tries): on loaded CI machines a controller process has, rarely, stayed
 * silent for 15 s and more after spawning (never reproduced alone in 40 starts); what it was doing
 * is written to stderr for the record.
 */
export async function startSimulatedPanel(opts: SimulatedPanelOptions): Promise<SimulatedPanel> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, attempt < 3 ? 6_000 : 15_000)
    } catch (e) {
      if (!(e instanceof SilentStart) || attempt >= 3) throw e
      process.stderr.write(`simulated panel: no hello after ${e.waitedMs} ms (try ${attempt}); starting it again. ${e.detail}\n`)
    }
  }
}

class SilentStart extends Error {
  readonly waitedMs: number
  readonly detail: string
  constructor(waitedMs: number, detail: string, message: string) {
    super(message)
    this.waitedMs = waitedMs
    this.detail = detail
  }
}

/** What a silent controller process is doing: its threads' states and wait channels. */
function describeProcess(pid: number): string {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`)
    return tasks
      .map((t) => {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')
        const wchan = readFileSync(`/proc/${pid}/task/${t}/wchan`, 'utf8')
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
        return `${comm}:${state}:${wchan || '-'}`
      })
      .join(' ')
  } catch (e) {
    return `(could not read /proc/${pid}: ${(e as Error).message})`
  }
}

async function startOnce(opts: SimulatedPanelOptions, helloMs: number): Promise<SimulatedPanel> {
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
  // A Node process starting on a saturated 2-core machine has taken over 5 s to say hello.
  await waitFor((r) => r.event === 'hello' || r.event === 'port-error', helloMs)
    .then((r) => {
      if (r.event === 'port-error') throw new Error(`simulated panel could not open ${opts.port}: ${String(r.message)}`)
    })
    .catch(async (e: unknown) => {
      const silent = reports.length === 0 && child.exitCode === null && child.signalCode === null
      const detail = silent ? `pid ${child.pid} threads ${describeProcess(child.pid!)}; stderr: ${stderr.trim().slice(-300) || '(none)'}` : ''
      await panel.stop()
      if (silent) throw new SilentStart(helloMs, detail, (e as Error).message)
      throw e
    })
  return panel
}
