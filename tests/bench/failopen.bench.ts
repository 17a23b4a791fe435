// Fail-open figures (issue 11): how fast the hardware layer drops the relay when the audio thread
// stalls or the firmware process is killed or frozen, how jittery the sentinel's panel heartbeat
// is (idle and with `stress-ng --cpu 2`), an overrun streak to dry in blocks, and what a 2 s
// control-plane stall does (DEGRADED time, largest sample difference against the same run
// without the stall). The sim front-panel controller runs in its own process on a socat PTY pair.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import type { ControllerReport } from '../../board/sim/frontpanel-controller.ts'
import { type SimulatedPanel, startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { createEngineFromProfile } from '../../firmware/board/engine.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { DEFAULT_PANEL_TIMEOUT_MS } from '../../firmware/runtime/appliance.ts'
import { controlPlaneStallRun, overrunStreakRun } from '../watchdog/fixtures/scenarios.ts'
import type { BenchRow, BenchSection } from './lib.ts'
import { fixed, repoRoot } from './lib.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const wall = () => performance.timeOrigin + performance.now()

/** The panel timeout the firmware configures (firmware/runtime/appliance.ts panelTimeoutMs). */
const PANEL_TIMEOUT_MS = loadProfile('sim').uarts.panel.heartbeatTimeoutMs ?? DEFAULT_PANEL_TIMEOUT_MS

async function gapsOf(sim: SimulatedPanel): Promise<{ count: number; maxMs: number; over: Record<string, number> }> {
  const from = sim.reports.length
  sim.control('status')
  const r = await sim.waitFor((x) => x.event === 'status', 3000, from)
  return r.hbGaps as { count: number; maxMs: number; over: Record<string, number> }
}

function startStress(): ChildProcess | null {
  if (spawnSync('stress-ng', ['--version'], { stdio: 'ignore' }).status !== 0) return null
  return spawn('stress-ng', ['--cpu', '2', '--quiet'], { stdio: 'ignore' })
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const done = new Promise((r) => c.once('exit', r))
  c.kill('SIGKILL')
  await done
}

function firmwareChild(port: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, 'tests/watchdog/fixtures/sentinel-child.ts'), port], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('sentinel child did not start')), 15000)
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.includes('"ready"')) {
        clearTimeout(timer)
        res(child)
      }
    })
  })
}

const section: BenchSection = {
  name: 'fail-open',
  async run(ctx) {
    const rows: BenchRow[] = []
    const push = rows.push.bind(rows)
    rows.push = (...r: BenchRow[]) => {
      for (const x of r) ctx.log(`${x.metric}: ${x.value} ${x.unit ?? ''} (${x.note ?? ''})`)
      return push(...r)
    }
    const seconds = ctx.quick ? 3 : 10
    mkdirSync(join(ctx.tmp, 'failopen-pty'), { recursive: true })
    const pty = await openPtyPair(join(ctx.tmp, 'failopen-pty'))
    // A long controller timeout while jitter is measured, so nothing drops in between.
    const sim = await startSimulatedPanel({ port: pty.b, timeoutMs: 5000 })
    try {
      // ---- heartbeat jitter, idle and saturated ----
      const engine = createEngineFromProfile(loadProfile('sim'), { heartbeatIntervalMs: 10 })
      engine.start()
      engine.startSentinel({ panelPath: pty.a })
      for (const load of ['idle', 'stress-ng --cpu 2'] as const) {
        const stress = load === 'idle' ? null : startStress()
        if (load !== 'idle' && !stress) {
          rows.push({ metric: 'sentinel heartbeat jitter under stress-ng', value: 'n/a', note: 'stress-ng not installed (apt-get install stress-ng)' })
          continue
        }
        await sleep(300)
        engine.sentinelStats(true)
        sim.control('reset-gaps')
        await sleep(seconds * 1000)
        const st = engine.sentinelStats()!
        const g = await gapsOf(sim)
        if (stress) await stopChild(stress)
        rows.push({
          metric: `sentinel heartbeat gap, written (${load})`,
          value: `${fixed(st.meanGapMs, 2)} mean / ${fixed(st.maxGapMs, 2)} max`,
          unit: 'ms',
          note: `every 5 ms, ${seconds} s, ${st.lateGaps} gaps > 6 ms, SCHED_FIFO ${st.realtime}`,
        })
        rows.push({
          metric: `heartbeat gap at the controller (${load})`,
          value: fixed(g.maxMs, 2),
          unit: 'ms max',
          target: `< ${PANEL_TIMEOUT_MS} ms (panel timeout)`,
          note: `${g.count} gaps; over 10/20/30 ms: ${g.over['10'] ?? 0}/${g.over['20'] ?? 0}/${g.over['30'] ?? 0} (through socat, controller under chrt)`,
        })
      }

      // ---- audio-thread stall -> RELAY OFF at the controller ----
      const stallDrops: number[] = []
      for (let i = 0; i < (ctx.quick ? 3 : 6); i++) {
        engine.sentinelRelayOn()
        await sim.waitFor((r) => r.event === 'relay' && r.state === 'ON', 3000, Math.max(0, sim.reports.length - 3)).catch(() => {})
        await sleep(200)
        const from = sim.reports.length
        const t0 = wall()
        engine.injectAudioStall(300)
        const r = await sim.waitFor((x: ControllerReport) => x.event === 'relay' && x.state === 'OFF', 2000, from)
        stallDrops.push((r.wall as number) - t0)
        await sleep(400)
      }
      rows.push({
        metric: 'audio-thread stall -> relay dropped',
        value: `${fixed(Math.min(...stallDrops), 1)} .. ${fixed(Math.max(...stallDrops), 1)}`,
        unit: 'ms',
        target: '< 50 ms',
        note: `${stallDrops.length} stalls of 300 ms; sentinel audioStallMs 20`,
      })
      engine.stop()

      // ---- SIGKILL / SIGSTOP of the firmware process ----
      // The firmware configures the controller's timeout; here the bench does (a TIMEOUT line).
      const { encode } = await import('../../firmware/panel/protocol.ts')
      const { openSync, writeSync, closeSync } = await import('node:fs')
      // Held open for the whole loop, as the firmware's own serialport handle would be: when the
      // last opener of a pty closes (a killed child), socat ends the pair.
      const fd = openSync(pty.a, 'r+')
      writeSync(fd, encode(`TIMEOUT ${PANEL_TIMEOUT_MS}`))
      let falseDrops = 0
      const dropReasons: string[] = []
      for (const sig of ['SIGKILL', 'SIGSTOP'] as const) {
        const drops: number[] = []
        for (let i = 0; i < (ctx.quick ? 2 : 4); i++) {
          const fromSpawn = sim.reports.length
          const fw = await firmwareChild(pty.a)
          const on = await sim
            .waitFor((r) => r.event === 'relay' && r.state === 'ON', 5000, fromSpawn)
            .then(
              () => true,
              () => false,
            )
          await sleep(300)
          if (!on) {
            falseDrops++
            dropReasons.push('no RELAY ON')
            await stopChild(fw)
            continue
          }
          const from = sim.reports.length
          // A drop before the signal is a false drop (a heartbeat gap over the timeout): count it.
          const early = sim.reports.slice(fromSpawn).find((r) => r.event === 'relay' && r.state === 'OFF')
          if (early) {
            falseDrops++
            dropReasons.push(`${early.reason}${early.sinceHbMs ? ` ${Math.round(early.sinceHbMs as number)} ms` : ''}`)
            await stopChild(fw)
            continue
          }
          const t0 = wall()
          fw.kill(sig)
          const r = await sim.waitFor((x) => x.event === 'relay' && x.state === 'OFF', 3000, from).catch(() => null)
          if (r) drops.push((r.wall as number) - t0)
          if (sig === 'SIGSTOP') fw.kill('SIGCONT')
          await stopChild(fw)
          await sleep(100)
        }
        rows.push({
          metric: `${sig} of the firmware -> relay dropped`,
          value: drops.length ? `${fixed(Math.min(...drops), 1)} .. ${fixed(Math.max(...drops), 1)}` : 'n/a',
          unit: 'ms',
          target: '< 50 ms',
          note: `${drops.length} runs; panel timeout ${PANEL_TIMEOUT_MS} ms`,
        })
      }
      closeSync(fd)
      rows.push({
        metric: 'runs lost to a relay drop before the signal (heartbeat gap over the timeout)',
        value: falseDrops,
        target: '0',
        note: `panel timeout ${PANEL_TIMEOUT_MS} ms; ${dropReasons.join(', ')}`,
      })
    } catch (e) {
      rows.push({ metric: 'panel figures', value: 'error', note: (e as Error).message.slice(0, 160) })
    } finally {
      await sim.stop()
      await pty.close()
    }

    // ---- overrun streak -> dry, in blocks ----
    try {
      const ov = await overrunStreakRun()
      rows.push({
        metric: 'overrun streak -> dry',
        value: ov.blocksToDry,
        unit: 'blocks',
        target: `<= ${ov.k} (overrunBlocks)`,
        note: 'spin hook at 2x the block period',
      })
    } catch (e) {
      rows.push({ metric: 'overrun streak -> dry', value: 'error', note: (e as Error).message.slice(0, 120) })
    }

    // ---- 2 s control-plane stall ----
    try {
      const cp = await controlPlaneStallRun(join(ctx.tmp, 'cp'))
      rows.push({
        metric: '2 s control-plane stall -> DEGRADED on the panel',
        value: fixed(cp.degradedLedMs, 1),
        unit: 'ms',
        target: '< 200 ms',
        note: 'STATUS LED amber, sent by the sentinel while JS is blocked',
      })
      rows.push({
        metric: '2 s control-plane stall: max sample difference vs no stall',
        value: cp.maxDiff,
        target: '0',
        note: `${cp.frames} frames compared, ${cp.outputs} outputs; went dry: ${cp.wentDry}; relay drops ${cp.relayOffDuringStall}`,
      })
    } catch (e) {
      rows.push({ metric: '2 s control-plane stall', value: 'error', note: (e as Error).message.slice(0, 120) })
    }
    // ---- GC pauses of the control plane, with the default heap and a larger young generation ----
    for (const flags of [[], ['--max-semi-space-size=16']]) {
      const r = spawnSync(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', ...flags, join(repoRoot, 'tests/watchdog/fixtures/gc-run.ts'), String(ctx.quick ? 4 : 15)],
        { encoding: 'utf8', timeout: 60_000 },
      )
      try {
        const g = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
          count: number
          maxMs: number
          majorCount: number
          majorMaxMs: number
          loopP99Ms: number
          loopMaxMs: number
        }
        rows.push({
          metric: `worst GC pause, appliance on the sim board (${flags.join(' ') || 'default heap'})`,
          value: fixed(g.maxMs, 1),
          unit: 'ms',
          target: '< 100 ms (hold threshold)',
          note: `${g.count} GCs (${g.majorCount} major, worst ${fixed(g.majorMaxMs, 1)} ms); event-loop delay p99 ${fixed(g.loopP99Ms, 1)} ms, max ${fixed(g.loopMaxMs, 1)} ms`,
        })
      } catch {
        rows.push({ metric: `GC pauses (${flags.join(' ') || 'default heap'})`, value: 'error', note: (r.stderr || r.stdout).slice(-120) })
      }
    }
    return rows
  },
}
export default section
