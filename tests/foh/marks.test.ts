// Marks on disk (firmware/store/marks.ts): a mark is on disk (0600) before `mark add` answers, ids
// go on after a restart, a line torn by a power cut is skipped without losing the marks before it,
// and a process killed with SIGKILL right after its mark was answered keeps it.
import { spawnSync } from 'node:child_process'
import { appendFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { MarkLog } from '../../firmware/store/marks.ts'

const app = {
  status: () => ({ state: 'ACTIVE', automationMode: 'supervised' }),
  doa: () => ({ t: 1, azimuth: 60.04, elevation: 5, confidence: 0.7 }),
  meters: () => ({ outputPeakDb: [-12.34, -20], inputPeakDb: [], inputRmsDb: [], outputRmsDb: [], gainReductionDb: [] }),
} as unknown as ApplianceApi

t.test('marks survive a restart and a torn last line', async (t) => {
  const dir = t.testdir()
  const log = new MarkLog(dir)
  const a = log.add('feedback', 'howl at 2k', 'api:CN=operator-1,serial=AB', app)
  t.match(a, {
    id: 1,
    kind: 'feedback',
    who: 'api:CN=operator-1,serial=AB',
    context: { state: 'ACTIVE', mode: 'supervised', doaAzimuth: 60, outputPeakDb: [-12.3, -20] },
  })
  t.equal(statSync(log.file).mode & 0o777, 0o600, 'only the firmware reads them')
  appendFileSync(log.file, '{"id":2,"at":"2026-') // power lost mid-write
  const again = new MarkLog(dir)
  t.same(
    again.list().map((m) => m.id),
    [1],
    'the torn line is skipped, the whole one kept',
  )
  t.equal(again.add('wrong', '', 'console:/dev/ttyS0', app).id, 2, 'ids go on')
  t.same(
    new MarkLog(dir).list(1).map((m) => m.kind),
    ['wrong'],
    'list after an id',
  )
})

t.test('a mark answered before SIGKILL is on disk', async (t) => {
  const dir = t.testdir()
  const src = `import { MarkLog } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'firmware', 'store', 'marks.ts'))}
const app = { status: () => ({ state: 'BYPASS', automationMode: 'auto' }), doa: () => null, meters: () => null }
const m = new MarkLog(${JSON.stringify(dir)}).add('feedback', '', 'api:CN=fohtab', app)
process.stdout.write('answered ' + m.id + '\\n')
process.kill(process.pid, 'SIGKILL')`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8' })
  t.equal(r.signal, 'SIGKILL')
  t.match(r.stdout, /answered 1/)
  t.match(JSON.parse(readFileSync(join(dir, 'marks.jsonl'), 'utf8').trim()), { id: 1, who: 'api:CN=fohtab', context: { state: 'BYPASS' } })
})
