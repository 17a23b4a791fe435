// The command/event/meter rings under two threads and ThreadSanitizer: a seeded producer and
// consumer with sequence numbers, checksums and canaries (addons/tests/ring_stress.cc), built
// here with g++ -fsanitize=thread. The same program built with deliberately relaxed index
// ordering must be caught, which proves the harness can fail.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../../firmware/board/profile.ts'
import { runTsan } from '../helpers/tsan.ts'

const src = join(repoRoot, 'addons', 'tests', 'ring_stress.cc')
const include = join(repoRoot, 'addons', 'src')

function build(out: string, extra: string[] = []): void {
  const r = spawnSync('g++', ['-std=c++17', '-O1', '-g', '-fsanitize=thread', '-pthread', ...extra, `-I${include}`, src, '-o', out], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`g++ failed: ${r.stderr}`)
}

t.test('the ring passes a seeded two-thread stress test under ThreadSanitizer', async (t) => {
  const dir = t.testdir()
  const bin = join(dir, 'ring_stress')
  build(bin)
  // [seed, records, capacity, start index]: small rings run full constantly; the last start
  // index makes the free-running uint32 indices wrap mid-run.
  const runs: Array<[number, number, number, number]> = [
    [1, 60_000, 16, 0],
    [2, 60_000, 1024, 0],
    [3, 60_000, 64, 4294967296 - 50_000],
    [4, 60_000, 2, 4294967296 - 7],
  ]
  for (const [seed, records, capacity, start] of runs) {
    const r = runTsan(bin, [seed, records, capacity, start].map(String))
    t.notMatch(r.stderr, /ThreadSanitizer/, `no TSan report (seed ${seed}, capacity ${capacity})`)
    t.equal(r.status, 0, `verifier passes (seed ${seed}, capacity ${capacity}): ${r.stdout.trim()}`)
    const result = JSON.parse(r.stdout) as { ok: boolean; received: number; bad: number; outOfOrder: number; guards: boolean }
    t.ok(result.received > 0, 'records crossed the ring')
    t.equal(result.bad, 0, 'every record arrived intact')
    t.equal(result.outOfOrder, 0, 'records arrived in order')
    t.ok(result.guards, 'canaries around the storage are intact')
  }
})

t.test('the stress test catches a ring whose indices do not order the copies', async (t) => {
  const dir = t.testdir()
  const bin = join(dir, 'ring_broken')
  build(bin, ['-DRING_TEST_BROKEN_ORDERING'])
  const r = runTsan(bin, ['1', '60000', '16', '0'])
  t.match(r.stderr, /ThreadSanitizer: data race/, 'TSan reports the race')
  t.equal(r.status, 66, 'and the run fails')
})
