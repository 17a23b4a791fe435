// The audit soak of issue 10 item 6, in real time: an operator changes the gain once, then an
// observer floods POST /api/<16,200 x "A"> (404s) at its rate limit for --seconds (default 600, the
// issue's ten minutes) over real TLS. Prints what was sent, what the audit files hold and whether the
// operator's record is still there. Figures, not pass/fail (the suite's 80-audit.test.ts proves the
// property on an injected clock).
//   node_modules/.bin/node tests/bench/audit-soak.ts [--seconds 600]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { bootSim, call, makeFixture } from '../api/helpers.ts'

export interface AuditSoakFigures {
  seconds: number
  sent: number
  statuses: Record<string, number>
  operatorRecordKept: boolean
  changeBytes: number
  refusedBytes: number
  refusedLines: number
  aggregates: number
  counted: number
}

function family(file: string): string[] {
  const dir = dirname(file)
  const base = file.slice(dir.length + 1)
  return readdirSync(dir)
    .filter((f) => f === base || f.startsWith(`${base}.`))
    .map((f) => join(dir, f))
}

export async function auditSoak(opts: { seconds: number; log?: (m: string) => void }): Promise<AuditSoakFigures> {
  const root = mkdtempSync(join(tmpdir(), 'audit-soak-'))
  const teardowns: Array<() => unknown> = []
  try {
    const fx = await makeFixture(root)
    const { api } = await bootSim({ teardown: (fn) => teardowns.push(fn) }, fx.dataDir)
    const op = fx.creds(fx.operator)
    const obs = fx.creds(fx.observer)
    await call(api.port, op, 'POST', '/api/gain', { output: 4, db: -1.25 })
    const path = `/api/${'A'.repeat(16_200)}`
    const statuses: Record<string, number> = {}
    let sent = 0
    const end = performance.now() + opts.seconds * 1000
    let nextLog = performance.now() + 60_000
    // Four clients in parallel: together faster than the limit, so the flood runs at the rate limit.
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (performance.now() < end) {
          const r = await call(api.port, obs, 'POST', path, {}).catch(() => ({ status: 0 }))
          sent++
          statuses[r.status] = (statuses[r.status] ?? 0) + 1
          if (r.status === 429) await new Promise((res) => setTimeout(res, 5))
          if (performance.now() > nextLog) {
            nextLog += 60_000
            opts.log?.(`${sent} sent: ${JSON.stringify(statuses)}`)
          }
        }
      }),
    )
    await api.stop()
    const changes = family(api.files.audit).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    )
    const refused = family(api.files.refused).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    )
    return {
      seconds: opts.seconds,
      sent,
      statuses,
      operatorRecordKept: changes.some((e) => e.who?.cn === 'operator-1' && e.args?.db === -1.25),
      changeBytes: family(api.files.audit).reduce((a, f) => a + statSync(f).size, 0),
      refusedBytes: family(api.files.refused).reduce((a, f) => a + statSync(f).size, 0),
      refusedLines: refused.length,
      aggregates: refused.filter((e) => e.kind === 'refusals').length,
      counted: refused.reduce((a, e) => a + (e.kind === 'refusals' ? e.count : 1), 0),
    }
  } finally {
    for (const fn of teardowns.reverse()) await fn()
    rmSync(root, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--seconds')
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 600
  const f = await auditSoak({ seconds, log: (m) => process.stderr.write(`audit-soak: ${m}\n`) })
  console.log(JSON.stringify(f, null, 2))
}
