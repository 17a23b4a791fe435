// What happened: the watchdog's recent transitions and the firmware log.
import { spec } from '../types.ts'
import { countArg, iso, num } from './args.ts'

export const faults = spec({
  name: 'faults',
  summary: 'recent watchdog transitions with their causes and evidence, newest last',
  examples: ['faults', 'faults 50'],
  permission: 'observe',
  args: [countArg(10, 200, 'transitions')],
  handler: (args, { app }) => app.faults(num(args, 'count')).map((r) => ({ at: iso(r.at), from: r.from, to: r.to, cause: r.cause, evidence: r.evidence })),
  human: (v: Array<{ at: string; from: string; to: string; cause: string; evidence: string }>) =>
    v.length === 0 ? 'no transitions recorded' : v.map((r) => `${r.at}  ${r.from} -> ${r.to}  ${r.cause}: ${r.evidence}`).join('\n'),
})

export const logTail = spec({
  name: 'log tail',
  summary: 'the last lines of the firmware log',
  examples: ['log tail', 'log tail 50'],
  permission: 'observe',
  args: [countArg(20, 500, 'lines')],
  handler: (args, { app }) => app.logTail(num(args, 'count')).map((l) => ({ at: iso(l.at), level: l.level, source: l.source, message: l.message })),
  human: (v: Array<{ at: string; level: string; source: string; message: string }>) =>
    v.length === 0 ? 'log is empty' : v.map((l) => `${l.at} ${l.level.padEnd(5)} ${l.source}: ${l.message}`).join('\n'),
})
