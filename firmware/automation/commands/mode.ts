// The automation mode and what it has to show: mode, recommendations.
import { type CommandSpec, spec } from '../../commands/types.ts'
import type { AutomationController } from '../controller.ts'
import type { AutomationMode } from '../machine.ts'

const fmtGains = (g: number[]) => g.map((v) => (v >= 0 ? '+' : '') + v.toFixed(1)).join(' ')

export function modeCommands(automation: AutomationController): CommandSpec[] {
  return [
    spec({
      name: 'mode',
      summary: 'automation mode: advisory (suggest), supervised (operator accepts), auto (applied within bounds)',
      examples: ['mode supervised', 'mode'],
      permission: 'operate',
      args: [
        { name: 'mode', type: 'enum', values: ['advisory', 'supervised', 'auto'], optional: true, help: 'advisory, supervised or auto; omit to show the mode' },
      ],
      handler: (args, { app, principal }) => {
        if (args.mode !== undefined && args.mode !== automation.mode) {
          automation.setMode(args.mode as AutomationMode, principal.name)
          app.publish?.({ type: 'change', change: { what: 'mode', target: {}, value: automation.mode, who: principal.name } })
        }
        const l = automation.state.limits
        return {
          mode: automation.mode,
          minConfidence: l.minConfidence,
          maxStepDbPerS: l.maxStepDbPerS,
          maxRangeDb: l.maxRangeDb,
          paused: !automation.state.enabled,
        }
      },
      human: (v: { mode: string; paused: boolean }) => `automation mode ${v.mode}${v.paused ? ' (paused: inference disabled by the watchdog)' : ''}`,
    }),
    spec({
      name: 'recommendations',
      summary: 'EQ recommendations waiting for an operator (supervised) or shown (advisory)',
      examples: ['recommendations'],
      permission: 'observe',
      mutates: false,
      args: [],
      handler: () =>
        automation.state.pending.map((r) => ({
          id: r.id,
          output: r.output + 1,
          confidence: Math.round(r.confidence * 100) / 100,
          bandsHz: automation.bandsHz,
          proposedDb: r.proposed,
          deltaDb: r.deltaDb.map((d) => Math.round(d * 10) / 10),
        })),
      human: (v: Array<{ id: number; output: number; confidence: number; bandsHz: number[]; proposedDb: number[] }>) =>
        v.length === 0
          ? 'no recommendations pending'
          : [
              `bands Hz: ${v[0]!.bandsHz.join(' ')}`,
              ...v.map((r) => `#${r.id} output ${r.output} confidence ${r.confidence.toFixed(2)}: ${fmtGains(r.proposedDb)} dB`),
            ].join('\n'),
    }),
  ]
}
