// `rehearse <fault> [ms]`: the rehearsal as a command in the one registry, so the console and the
// API have it (OSC refuses it, as it refuses every destructive command). Operator rights and the
// registry's one-time confirm token, like the other commands that can take the sound away.
import type { CommandRegistry } from '../commands/registry.ts'
import type { CommandSpec } from '../commands/types.ts'
import { FAULT_CLASSES, FAULTS, type FaultClass } from './faults.ts'
import { Rehearsal, type RehearsalAppliance, type RehearsalOptions, type RehearsalReport } from './rehearsal.ts'

export type { EngineFaultHooks, FaultClass, InferenceStallHook, PanelControllerHook } from './faults.ts'
export { FAULT_CLASSES, FAULTS, panelControllerOf, setPanelController } from './faults.ts'
export type { RehearsalAppliance, RehearsalOptions, RehearsalReport } from './rehearsal.ts'
export { Rehearsal } from './rehearsal.ts'

function human(r: RehearsalReport): string {
  const lines = [
    `rehearse ${r.fault} (${r.faultMs} ms): ${r.what}`,
    r.detected
      ? `  detected   ${r.detectedAs} after ${r.detectMs} ms: ${r.cause} (${r.evidence})${r.detectedAfterRestore ? ' -- only after the fault was undone' : ''}`
      : `  detected   NO`,
    r.recovered ? `  recovered  ACTIVE after ${r.recoverMs} ms` : `  recovered  NO`,
    `  now        ${r.endState}${r.note ? `  (${r.note})` : ''}`,
  ]
  return lines.join('\n')
}

/** The command, over one Rehearsal (one at a time per unit). */
export function rehearseCommand(rehearsal: Rehearsal): CommandSpec<Record<string, unknown>> {
  const details = FAULT_CLASSES.map((f) => `${f}: ${FAULTS[f].what} (default ${FAULTS[f].defaultMs} ms; expect ${FAULTS[f].expect})`).join('; ')
  return {
    name: 'rehearse',
    summary: 'inject a fault on the live unit and report the time to bypass (or DEGRADED) and to recovery',
    details: `Fault classes: ${details}. Refused unless the unit is ACTIVE (never in manual bypass), while another rehearsal runs, or when it would latch the escalation. The fault is undone when its time is up; the reply comes once the unit is ACTIVE again (or the time limit passed).`,
    examples: ['rehearse overrun', 'rehearse control-stall 400', 'rehearse panel-silent ms=1000'],
    permission: 'operate',
    destructive: true,
    args: [
      { name: 'fault', type: 'enum', values: FAULT_CLASSES, help: FAULT_CLASSES.join(', ') },
      { name: 'ms', type: 'int', min: 50, max: 5000, unit: 'ms', optional: true, help: 'how long the fault lasts, 50 to 5000 ms (default: per fault)' },
    ],
    // The longest rehearsal: 5 s of fault, detection grace, both watchdog periods, a margin.
    timeoutMs: 120_000,
    handler: async (args, { principal }) => {
      const fault = args.fault as FaultClass
      const report = await rehearsal.run(fault, args.ms as number | undefined, principal.name)
      return {
        fault: report.fault,
        fault_ms: report.faultMs,
        expect: report.expect,
        detected: report.detected,
        detect_ms: report.detectMs,
        state: report.detectedAs,
        cause: report.cause,
        evidence: report.evidence,
        late: report.detectedAfterRestore,
        recovered: report.recovered,
        recover_ms: report.recoverMs,
        now: report.endState,
        transitions: report.transitions.length,
        unrelated: report.unrelated.length,
        note: report.note,
      }
    },
    human: (v) =>
      human({
        fault: v.fault,
        faultMs: v.fault_ms,
        what: FAULTS[v.fault as FaultClass].what,
        detected: v.detected,
        detectedAs: v.state,
        detectMs: v.detect_ms,
        cause: v.cause,
        evidence: v.evidence,
        detectedAfterRestore: v.late,
        recovered: v.recovered,
        recoverMs: v.recover_ms,
        endState: v.now,
        note: v.note,
      } as unknown as RehearsalReport),
  }
}

/** Registers `rehearse` on the registry; returns the Rehearsal (the soak benchmark drives it too). */
export function registerRehearsal(registry: CommandRegistry, app: RehearsalAppliance, options: Partial<RehearsalOptions> = {}): Rehearsal {
  const rehearsal = new Rehearsal(app, options)
  registry.register(rehearseCommand(rehearsal))
  return rehearsal
}
