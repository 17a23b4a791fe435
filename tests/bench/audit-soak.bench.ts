// The audit soak (tests/bench/audit-soak.ts) as a bench section: 30 s by default, 10 s with --quick,
// BENCH_AUDIT_SECONDS=600 for the ten minutes.

import { auditSoak } from './audit-soak.ts'
import type { BenchSection } from './lib.ts'

const section: BenchSection = {
  name: 'audit soak',
  async run(ctx) {
    const seconds = Number(process.env.BENCH_AUDIT_SECONDS ?? (ctx.quick ? 10 : 30))
    const f = await auditSoak({ seconds, log: ctx.log })
    const note = `observer floods 404s with 16,200-character paths at its rate limit, ${seconds} s`
    return [
      { metric: 'flood requests sent', value: f.sent, note: JSON.stringify(f.statuses) },
      { metric: 'operator change record kept', value: f.operatorRecordKept ? 'yes' : 'NO', target: 'yes', note },
      {
        metric: 'refusal log size',
        value: f.refusedBytes,
        unit: 'bytes',
        note: `${f.refusedLines} lines, ${f.aggregates} aggregates, ${f.counted} refusals counted`,
      },
      { metric: 'change log size', value: f.changeBytes, unit: 'bytes' },
    ]
  },
}
export default section
