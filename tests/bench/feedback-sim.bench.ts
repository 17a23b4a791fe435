// Added stable gain on the sim board (issue 13, item 3): the unit with a feedback loop in its stage
// (audio.sim.loop, docs/feedback.md "On the sim board"), in real time. The engineer's fader on
// output 1 goes up 1 dB at a time from where the loop is stable, each step held long enough for the
// suppressor to act (8 s; 5 s quick); a step howls when output 1's median RMS over its last 2 s is
// 10 dB over the programme (its level at 0 dB plus the step: a loop just over its edge grows a few
// dB a second, and the speechlike programme's median moves 2-3 dB from step to step). Added stable gain = the last stable step with suppression minus the last without.
//   off                nothing placed (advisory)
//   live notches       the suppressor in auto (the unit's detector, fusion and planner)
//   5 Hz               the output's frequency shifter alone (`feedback shift 1 5`)
//   5 Hz + live        both
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { out1, simUnit } from '../feedback/sim-unit.ts'
import { eventually } from '../mix/unit.ts'
import { type BenchRow, type BenchSection, fixed } from './lib.ts'

const CONFIGS = [
  { name: 'off', mode: 'advisory', shiftHz: 0 },
  { name: 'live notches', mode: 'auto', shiftHz: 0 },
  { name: '5 Hz shift', mode: 'advisory', shiftHz: 5 },
  { name: '5 Hz + live notches', mode: 'auto', shiftHz: 5 },
] as const

const section: BenchSection = {
  name: 'feedback on the sim board',
  async run(ctx) {
    const rows: BenchRow[] = []
    const holdMs = ctx.quick ? 5000 : 8000
    const maxStep = 14
    const lastStable = new Map<string, number>()
    for (const c of CONFIGS) {
      const dataDir = mkdtempSync(join(ctx.tmp, 'sim-loop-'))
      const u = await simUnit({ mode: c.mode, healthyPeriodMs: 500, dataDir })
      try {
        await eventually(() => u.app.status().state === 'ACTIVE', 30_000)
        if (c.shiftHz) {
          // As `feedback shift 1 5` does: the engine's shifter (and its detector's thresholds), and the live fusion.
          u.app.engine.setShift?.(0, c.shiftHz)
          u.inf.live.setShift(0, c.shiftHz)
        }
        await new Promise((r) => setTimeout(r, 1000))
        const programme = await out1(u.app, 2000)
        let stable = Number.NaN
        const log: string[] = []
        for (let step = 0; step <= maxStep; step++) {
          u.app.setOutputGain(0, step, 'bench')
          await new Promise((r) => setTimeout(r, holdMs - 2000))
          const level = await out1(u.app, 2000)
          const howls = level > programme + step + 10
          log.push(`${step}:${fixed(level, 1)}${howls ? '!' : ''}`)
          if (howls) break
          stable = step
        }
        lastStable.set(c.name, stable)
        const notches = u.inf.feedback.notches().filter((n) => n.output === 0 && n.enabled)
        ctx.log(
          `${c.name}: programme ${fixed(programme, 1)} dBFS; fader step: median dBFS (! howls) ${log.join(' ')}; notches ${notches.map((n) => `${n.hz}/${n.gainDb}`).join(' ')}`,
        )
        rows.push({
          metric: `last stable fader step: ${c.name}`,
          value: Number.isNaN(stable) ? 'none' : stable === maxStep ? `>= ${maxStep}` : stable,
          unit: 'dB',
          note: `${notches.length} notches at the end; programme ${fixed(programme, 1)} dBFS at 0 dB`,
        })
      } finally {
        await u.stop()
        rmSync(dataDir, { recursive: true, force: true })
      }
    }
    const off = lastStable.get('off')!
    for (const c of CONFIGS.slice(1)) {
      const s = lastStable.get(c.name)!
      rows.push({
        metric: `added stable gain on the sim board: ${c.name}`,
        value: Number.isNaN(s) || Number.isNaN(off) ? 'n/a' : s - off,
        unit: 'dB',
        target: '>= 6 dB',
        note: `club room, speechlike programme, 1 dB fader steps held ${holdMs / 1000} s${s === maxStep ? ' (the scan reached its end)' : ''}`,
      })
    }
    return rows
  },
}

export default section
