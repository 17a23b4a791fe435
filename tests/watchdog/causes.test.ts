// The cause table in docs/watchdog.md and the FaultCause / StateCause union agree both ways, as
// tests/errors.test.ts does for error codes: every cause is documented with its level and the
// monitor that raises it, and every documented cause exists.

import { readFileSync } from 'node:fs'
import t from 'tap'
import { FAULT_CAUSES, isTransitionCause, STATE_CAUSES } from '../../firmware/watchdog/causes.ts'

/** Rows of the "Causes" table: | `cause` | level | raised by | cleared by |. */
function documented(): Map<string, { level: string; raisedBy: string; clearedBy: string }> {
  const doc = readFileSync('docs/watchdog.md', 'utf8')
  const at = doc.indexOf('\n## Causes')
  if (at < 0) throw new Error('docs/watchdog.md has no "## Causes" section')
  const next = doc.indexOf('\n## ', at + 1)
  const section = doc.slice(at + 1, next < 0 ? undefined : next)
  const rows = new Map<string, { level: string; raisedBy: string; clearedBy: string }>()
  for (const line of section.split('\n')) {
    const m = /^\| `([a-z-]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/.exec(line)
    if (m) rows.set(m[1]!, { level: m[2]!.trim(), raisedBy: m[3]!.trim(), clearedBy: m[4]!.trim() })
  }
  return rows
}

t.test('every fault cause is documented with its levels and its monitor', async (t) => {
  const rows = documented()
  for (const [cause, info] of Object.entries(FAULT_CAUSES)) {
    const row = rows.get(cause)
    if (!t.ok(row, `${cause} documented`) || !row) continue
    t.same(row.level.split(/\s*\/\s*/).sort(), [...info.levels].sort(), `${cause}: levels agree`)
    t.match(row.raisedBy, new RegExp(`\\b${info.monitor}\\b`), `${cause}: raised by ${info.monitor}`)
    t.ok(row.clearedBy.length > 3, `${cause}: says what clears it`)
  }
})

t.test('every state cause is documented as one', async (t) => {
  const rows = documented()
  for (const cause of Object.keys(STATE_CAUSES)) t.equal(rows.get(cause)?.level, '–', `${cause} documented, no level`)
})

t.test('every documented cause is in the union', async (t) => {
  const rows = documented()
  t.ok(rows.size >= Object.keys(FAULT_CAUSES).length, 'the table has rows')
  for (const cause of rows.keys()) t.ok(isTransitionCause(cause), `${cause} is a TransitionCause`)
})
