// Issue 10, item 6: no certificate — an observer's included — can erase the audit trail. An
// observer floods 404s with 16,200-character paths at its rate limit over real TLS (Node https); the
// operator's change stays. The 10-minute version runs here on an injected clock (the same writes,
// time compressed); the real-time run is tests/bench/audit-soak.ts.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { type AuditEntry, AuditLog } from '../../firmware/transport/audit.ts'
import { bootSim, call, type Fixture, makeFixture } from './helpers.ts'

function records(file: string): any[] {
  const dir = dirname(file)
  const base = file.slice(dir.length + 1)
  return readdirSync(dir)
    .filter((f) => f === base || f.startsWith(`${base}.`))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    )
}

function bytes(file: string): number {
  const dir = dirname(file)
  const base = file.slice(dir.length + 1)
  return readdirSync(dir)
    .filter((f) => f === base || f.startsWith(`${base}.`))
    .reduce((a, f) => a + statSync(join(dir, f)).size, 0)
}

t.test('an observer flooding long 404s at its rate limit removes no operator record (real TLS)', async (t) => {
  const fx: Fixture = await makeFixture(t.testdir())
  const { api } = await bootSim(t, fx.dataDir, { audit: { maxBytes: 64 * 1024, keep: 2, refusalWindowMs: 120_000 } })
  const op = fx.creds(fx.operator)
  const obs = fx.creds(fx.observer)
  const g = await call(api.port, op, 'POST', '/api/gain', { output: 4, db: -1.25 })
  t.equal(g.status, 200, g.text)
  const longPath = `/api/${'A'.repeat(16_200)}`
  const statuses = new Map<number, number>()
  const start = performance.now()
  for (let i = 0; i < 160; i++) {
    const r = await call(api.port, obs, 'POST', longPath, {})
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  }
  t.ok((statuses.get(404) ?? 0) >= 100, `the flood was answered (${JSON.stringify([...statuses])} in ${Math.round(performance.now() - start)} ms)`)
  const mine = records(api.files.audit).filter((e) => e.who?.cn === 'operator-1' && e.command === 'gain' && e.args?.db === -1.25)
  t.equal(mine.length, 1, "the operator's change is still in the audit log")
  t.equal(mine[0].status, 200)
  t.notOk(
    records(api.files.audit).some((e) => e.who?.cn === 'observer-1'),
    'refusals never share the change files',
  )
  t.ok(bytes(api.files.refused) < 16 * 1024, `the flood cost ${bytes(api.files.refused)} bytes of refusals, not megabytes`)
  const first = records(api.files.refused).find((e) => e.who?.cn === 'observer-1')
  t.equal(first.path.length, 256, 'the path is cut')
  t.equal(first.pathLength, longPath.length, 'its length is kept')
  // The API stops (or the window ends): the rest of the flood is written as one aggregate.
  await api.stop()
  const agg = records(api.files.refused).find((e) => e.kind === 'refusals' && e.who?.cn === 'observer-1')
  t.ok(agg, 'the rest of the flood is one aggregate line')
  t.equal(agg.count, 159, 'counting every refusal after the first')
  t.equal((agg.statuses['404'] ?? 0) + (agg.statuses['429'] ?? 0), 159)
})

const change = (who: string, at: number, db: number): AuditEntry => ({
  at: new Date(at).toISOString(),
  who: { cn: who, serial: who.toUpperCase(), role: 'operator' },
  remote: '127.0.0.1',
  method: 'POST',
  path: '/api/gain',
  command: 'gain',
  args: { output: 4, db },
  status: 200,
  result: 'ok',
})
const refusal = (at: number, path: string): AuditEntry => ({
  at: new Date(at).toISOString(),
  who: { cn: 'observer-1', serial: 'OBS', role: 'observer' },
  remote: '127.0.0.1',
  method: 'POST',
  path,
  command: null,
  args: null,
  status: 404,
  result: 'FW_ERR_API_NOT_FOUND',
})

t.test('ten minutes of an observer flooding at 50 requests/s (injected clock) remove no operator record', async (t) => {
  const dir = t.testdir()
  let now = Date.UTC(2026, 11, 7, 20, 0, 0)
  const log = new AuditLog(join(dir, 'audit.jsonl'), { now: () => now })
  log.write(change('operator-1', now, -1.25))
  const path = `/api/${'A'.repeat(16_200)}`
  for (let i = 0; i < 10 * 60 * 50; i++) {
    now += 20
    log.write(refusal(now, path))
  }
  log.close()
  const kept = records(log.file)
  t.equal(kept.length, 1)
  t.equal(kept[0].args.db, -1.25, "the operator's change survives 30,000 refusals")
  const refused = records(log.refusedFile)
  t.equal(refused.filter((e) => e.kind === 'refusals').length, 10, 'one aggregate line a minute')
  t.equal(refused.filter((e) => e.kind !== 'refusals').length, 10, 'one full refusal a minute')
  t.equal(
    refused.reduce((a, e) => a + (e.kind === 'refusals' ? e.count : 1), 0),
    30_000,
    'every refusal counted',
  )
  t.ok(bytes(log.refusedFile) < 20_000, `${bytes(log.refusedFile)} bytes for ten minutes of flood`)
})

t.test('change records are kept for the documented minimum (count and age), then rotate out', async (t) => {
  const dir = t.testdir()
  let now = Date.UTC(2026, 11, 7, 20, 0, 0)
  const log = new AuditLog(join(dir, 'audit.jsonl'), { maxBytes: 2000, keep: 2, minRecords: 100, minAgeMs: 86400_000, now: () => now })
  log.write(change('operator-1', now, -1.25))
  // Another principal writes many changes within a day: the first change is young, so it stays.
  for (let i = 0; i < 300; i++) log.write(change('operator-2', now, -i / 10))
  t.ok(
    records(log.file).some((e) => e.who.cn === 'operator-1'),
    'a change younger than minAgeMs is kept however many follow',
  )
  // A week later, with more than minRecords newer records, it may go.
  now += 7 * 86400_000
  for (let i = 0; i < 300; i++) log.write(change('operator-2', now, -i / 10))
  t.notOk(
    records(log.file).some((e) => e.who.cn === 'operator-1'),
    'an old change past minRecords rotates out',
  )
  t.ok(records(log.file).length >= 100, 'at least minRecords are kept')
  const old = records(log.file).filter((e) => Date.parse(e.at) < now)
  t.ok(old.length <= Math.floor(2000 / 200), `of the week-old records at most one file's worth is left (${old.length})`)
})

t.test('the hard size limit guards the disk even against a flood of accepted changes', async (t) => {
  const dir = t.testdir()
  const now = Date.UTC(2026, 11, 7, 20, 0, 0)
  const log = new AuditLog(join(dir, 'audit.jsonl'), { maxBytes: 2000, keep: 2, hardMaxBytes: 20_000, now: () => now })
  for (let i = 0; i < 1000; i++) log.write(change('operator-2', now, -i / 10))
  t.ok(bytes(log.file) <= 20_000 + 2000, `${bytes(log.file)} bytes`)
  t.ok(existsSync(log.file))
})
