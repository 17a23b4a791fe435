// The unit on the sim board with a feedback loop in its stage (audio.sim.loop: output 1 back into
// the array through a simulated room), as `firmware run` starts it with live inference attached:
// for tests/feedback/sim-board.test.ts and the feedback-sim bench.

import type { Test } from 'tap'
import type { AutomationMode } from '../../firmware/automation/machine.ts'
import type { AttachedInference } from '../../firmware/automation/service.ts'
import { attachInference } from '../../firmware/automation/service.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { InferenceReport } from '../../firmware/contract/appliance.ts'
import type { Appliance } from '../../firmware/runtime/appliance.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

export interface SimUnit {
  app: Appliance
  inf: AttachedInference
  reports: InferenceReport[]
  stop: () => Promise<void>
}

/** The sim board with the loop (room `room`, its gain `loopDb`, default club at 0 dB) from output 1 into every capsule; one speechlike source at -20 dBFS. */
export async function simUnit(opts: { mode: AutomationMode; healthyPeriodMs: number; dataDir: string; room?: string; loopDb?: number }): Promise<SimUnit> {
  const p = loadProfile('sim')
  const profile = {
    ...p,
    dataDir: opts.dataDir,
    audio: {
      ...p.audio,
      sim: {
        ...p.audio.sim!,
        sources: [{ azimuth: 60, elevation: 0, kind: 'speechlike' as const, freqHz: 220, levelDb: -20 }],
        loop: { output: 1, gainDb: opts.loopDb ?? 0, room: opts.room ?? 'club' },
      },
    },
  }
  let inf: AttachedInference | null = null
  const run = await startAppliance(profile, {
    panelPort: null,
    logDir: null,
    hardwareWatchdogs: [],
    watchdog: { healthyPeriodMs: opts.healthyPeriodMs, degradedPeriodMs: 500 },
    services: [async (app) => (inf = await attachInference(app, { feedbackMode: opts.mode, notchSink: { setNotch: (n) => app.engine.setNotch?.(n) } }))],
  })
  const reports: InferenceReport[] = []
  run.app.subscribe((ev) => {
    if (ev.type === 'inference') reports.push(ev.report)
  })
  return { app: run.app, inf: inf!, reports, stop: () => run.stop() }
}

/** simUnit, stopped at the test's end. */
export async function unitWithLoop(t: Test, mode: AutomationMode, healthyPeriodMs: number): Promise<SimUnit> {
  const u = await simUnit({ mode, healthyPeriodMs, dataDir: t.testdir({}) })
  t.teardown(() => u.stop())
  return u
}

/** Output 1's RMS (dBFS) from the unit's meters, read every 100 ms for `ms`: the median. */
export async function out1(app: { meters(): { outputRmsDb: number[] } | null }, ms: number): Promise<number> {
  const v: number[] = []
  for (let k = 0; k < ms / 100; k++) {
    await new Promise((r) => setTimeout(r, 100))
    v.push(app.meters()?.outputRmsDb[0] ?? -200)
  }
  return v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!
}
