// The transition log on disk after a power cut mid-append: the torn line must not hide the next
// record, and readers say how many lines they could not read.

import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { TransitionRecord } from '../../firmware/contract/appliance.ts'
import { readTransitionFile, readTransitionFileCounted, TransitionLog } from '../../firmware/watchdog/log.ts'

const rec = (n: number): TransitionRecord => ({ at: n, from: 'BOOT', to: 'ACTIVE', cause: 'recovered', evidence: `c${n}` })

t.test('a torn last line (power cut mid-append) does not swallow the next record', async (t) => {
  const dir = t.testdir({})
  const a = new TransitionLog({ dir })
  a.append(rec(1))
  a.append(rec(2))
  a.close()
  const file = join(dir, 'transitions.jsonl')
  appendFileSync(file, JSON.stringify(rec(3)).slice(0, 17)) // the power went mid-write
  const b = new TransitionLog({ dir }) // the next boot
  b.append(rec(4))
  b.close()
  t.same(
    readTransitionFile(file).map((r) => r.evidence),
    ['c1', 'c2', 'c4'],
    'the record after the torn line is readable',
  )
  t.equal(readTransitionFileCounted(file).skipped, 1, 'the torn line is counted')
  t.ok(readFileSync(file, 'utf8').endsWith('\n'))
})
