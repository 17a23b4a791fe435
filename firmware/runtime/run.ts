// `firmware run --board NAME`: starts the appliance and shows a live status screen (state, relay,
// DOA, levels, block timing) until Ctrl-C, then stops cleanly: bypass first, then the engine,
// then the children (simulated panel, socat). On a terminal, keys: b = press the simulated
// panel's bypass button, m = toggle manual bypass from here, q = quit.
import { join, resolve } from 'node:path'
import { type BoardProfile, loadProfile } from '../board/profile.ts'
import { FirmwareError } from '../errors.ts'
import type { Appliance } from './appliance.ts'
import { prepareDurableRun } from './durable-run.ts'
import { acquireInstanceLock } from './instance-lock.ts'
import { type RuntimeService, type StartApplianceOptions, startAppliance } from './start.ts'

export interface RunOptions {
  board: string
  /** Stop by itself after this many seconds (scripted runs); 0 = until Ctrl-C. */
  seconds: number
  /** Screen refresh, ms. */
  refreshMs: number
  services: RuntimeService[]
  /** Attach to a front-panel controller already on this UART instead of the board's own. */
  panelPort: string | null
}

export function parseRunArgs(args: string[]): RunOptions {
  const o: RunOptions = { board: 'sim', seconds: 0, refreshMs: 250, services: [], panelPort: null }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    const v = args[i + 1]
    if (a === '--board' && v) {
      o.board = v
      i++
    } else if (a === '--panel-port' && v) {
      o.panelPort = v
      i++
    } else if (a === '--seconds' && v) {
      o.seconds = Number(v)
      if (!(o.seconds >= 0)) throw new FirmwareError('FW_ERR_USAGE', `--seconds needs a number of seconds, got "${v}"`)
      i++
    } else throw new FirmwareError('FW_ERR_USAGE', `run: unknown option "${a}"; usage: firmware run --board sim|<profile> [--seconds N] [--panel-port PATH]`)
  }
  return o
}

const db = (x: number | undefined) => (x === undefined || !Number.isFinite(x) || x < -120 ? '  -inf' : x.toFixed(1).padStart(6))

/** The status screen as lines of text (pure: used by the screen and by tests). */
export function statusLines(app: Appliance): string[] {
  const s = app.status()
  const e = s.engine
  const period = e.blockPeriodUs || 1
  const pct = (us: number) => `${((us / period) * 100).toFixed(1)}%`
  const d = app.doa()
  const m = app.meters()
  const last = app.faults(1)[0]
  const loop = app.eventLoopDelay()
  return [
    `board ${s.board}  firmware ${s.firmwareVersion}  up ${s.uptimeS.toFixed(0)} s`,
    `state ${s.state.padEnd(13)} cause ${s.cause}  relay ${s.relay}  panel ${s.panelVersion ?? 'none'}`,
    `DOA   ${d ? `az ${d.azimuth.toFixed(1).padStart(6)}°  el ${d.elevation.toFixed(1).padStart(5)}°  conf ${d.confidence.toFixed(2)}` : '(none yet)'}`,
    `in    peak dB ${m ? m.inputPeakDb.map(db).join(' ') : '-'}`,
    `out   peak dB ${m ? m.outputPeakDb.map(db).join(' ') : '-'}   GR ${m ? m.gainReductionDb.map((g) => g.toFixed(1)).join(' ') : '-'}`,
    `block ${e.blocks}  time p50 ${pct(e.blockTimeUs.p50)}  p99 ${pct(e.blockTimeUs.p99)}  max ${pct(e.blockTimeUs.max)} of ${(period / 1000).toFixed(2)} ms  xruns ${e.xruns}  overruns ${e.overruns}`,
    `tick  ${app.tickCostUs.last.toFixed(0)} us (max ${app.tickCostUs.max.toFixed(0)} us)  event-loop delay p99 ${loop.p99.toFixed(1)} ms`,
    `links ${app.endpoints.size ? [...app.endpoints].map(([k, v]) => `${k} ${v}`).join('  ') : '-'}`,
    `last  ${last ? `${new Date(last.at).toISOString().slice(11, 23)} ${last.from} -> ${last.to}: ${last.cause} ${last.evidence}` : '-'}`,
  ]
}

export async function runCommand(args: string[], extra: Partial<StartApplianceOptions> = {}): Promise<number> {
  const o = parseRunArgs(args)
  // The status screen is a convenience: a reader that goes away (`firmware run | head`, a closed
  // ssh session) must not take the appliance down with an EPIPE.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e
  })
  const deadline = o.seconds > 0 ? Date.now() + o.seconds * 1000 : 0
  const profile = loadProfile(o.board)
  // The file --board named (a unit's profile need not be called profile.json): used everywhere
  // the profile is read again, e.g. by a factory reset.
  const profileFile = o.board.endsWith('.json') ? resolve(o.board) : join(profile.dir, 'profile.json')
  const lock = acquireInstanceLock(profile.dataDir, profile.name)
  try {
    return await runLoop(o, profile, profileFile, extra, deadline)
  } finally {
    lock.release()
  }
}

async function runLoop(o: RunOptions, profile: BoardProfile, profileFile: string, extra: Partial<StartApplianceOptions>, deadline: number): Promise<number> {
  // `reboot` and `factory-reset` restart the appliance inside this process: stop everything (the
  // relay drops to bypass, so the sound passes), wipe the data for a reset, start again.
  for (;;) {
    const restart = await runOnce(o, profile, extra, deadline)
    if (!restart) return 0
    if (restart.reason === 'factory-reset') {
      const { factoryReset, resetPolicy } = await import('../../recovery/reset.ts')
      // The data directory as this firmware resolved it; what to keep from the same profile file.
      // This process holds the instance lock, so the reset may go ahead under it.
      const r = factoryReset(resetPolicy(profileFile, profile.dataDir), { lockHolder: process.pid })
      process.stdout.write(`factory reset by ${restart.who}: removed ${r.removed.join(', ') || 'nothing'}; kept ${r.kept.join(', ') || 'nothing'}\n`)
      // The wipe took the instance lock with it: take it again before starting (runCommand's
      // release removes it by our pid at the end).
      acquireInstanceLock(profile.dataDir, profile.name)
    }
    process.stdout.write(`restarting (${restart.reason} by ${restart.who})\n`)
  }
}

interface RestartRequest {
  reason: 'reboot' | 'factory-reset'
  who: string
}

async function runOnce(o: RunOptions, profile: BoardProfile, extra: Partial<StartApplianceOptions>, deadline: number): Promise<RestartRequest | null> {
  const tty = process.stdout.isTTY === true
  let restart: RestartRequest | null = null
  let done!: () => void
  const finished = new Promise<void>((r) => {
    done = r
  })
  // Run record and durable settings: restored before the unit goes ACTIVE (firmware/runtime/durable-run.ts).
  const durable = await prepareDurableRun(profile, extra.logDir)
  const running = await startAppliance(profile, {
    services: o.services,
    ...(o.panelPort ? { panelPort: o.panelPort } : {}),
    onRestart: (reason, who) => {
      restart = { reason, who }
      done()
    },
    beforeActive: (a) => durable.beforeActive(a),
    ...extra,
  }).catch(async (e: unknown) => {
    await durable.failed()
    throw e
  })
  const { app, simPanel } = running
  const onSignal = () => done()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let keys: ((b: Buffer) => void) | null = null
  if (tty && process.stdin.isTTY) {
    process.stdin.setRawMode(true)
    process.stdin.resume()
    keys = (b: Buffer) => {
      const k = b.toString()
      if (k === '\u0003' || k === 'q') done()
      else if (k === 'b' && simPanel) simPanel.control('click')
      else if (k === 'm') {
        try {
          app.setManualBypass(app.status().state !== 'MANUAL_BYPASS', 'run screen')
        } catch {
          /* stopping */
        }
      }
    }
    process.stdin.on('data', keys)
  }
  const draw = () => {
    const lines = statusLines(app)
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${lines.join('\n')}\n\nkeys: ${simPanel ? 'b = panel button, ' : ''}m = manual bypass, q/Ctrl-C = quit\n`)
    else process.stdout.write(`${lines[1]} | ${lines[2]} | ${lines[5]}\n`)
  }
  if (!tty) process.stdout.write(`${statusLines(app).find((l) => l.startsWith('links'))}\n`)
  draw()
  const screen = setInterval(draw, tty ? o.refreshMs : 1000)
  const timer = deadline > 0 ? setTimeout(() => done(), Math.max(0, deadline - Date.now())) : null
  await finished
  clearInterval(screen)
  if (timer) clearTimeout(timer)
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (keys) {
    process.stdin.off('data', keys)
    process.stdin.setRawMode(false)
    process.stdin.pause()
  }
  const stateAtStop = app.status().state
  await running.stop()
  await durable.stopped(app, stateAtStop)
  const last = app.faults(1)[0]
  process.stdout.write(`${tty ? '\n' : ''}stopped: state ${app.status().state}${last ? ` (${last.cause})` : ''}, relay ${app.relay.state}\n`)
  return restart
}
