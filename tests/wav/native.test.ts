// The native WAV code on its own, under AddressSanitizer and UndefinedBehaviorSanitizer
// (tests/wav/wav_fuzz.cc built here with g++): exact round trips in every format through uneven
// chunk sizes, and thousands of damaged files that are each read or refused, never crash.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../../firmware/board/profile.ts'

const haveGxx = spawnSync('g++', ['--version']).status === 0

t.test('damaged WAV files never crash the native reader (ASan + UBSan)', { skip: !haveGxx && 'g++ is not installed' }, async (t) => {
  const dir = t.testdir({})
  const bin = join(dir, 'wav_fuzz')
  const build = spawnSync(
    'g++',
    [
      '-std=c++17',
      '-O1',
      '-g',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=undefined',
      `-I${join(repoRoot, 'addons', 'src')}`,
      join(import.meta.dirname, 'wav_fuzz.cc'),
      join(repoRoot, 'addons', 'src', 'wav.cc'),
      '-o',
      bin,
    ],
    { encoding: 'utf8' },
  )
  t.equal(build.status, 0, `builds (${build.stderr.trim().split('\n')[0] ?? ''})`)
  for (const seed of [1, 2]) {
    const r = spawnSync(bin, [dir, String(seed), '2000'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } })
    t.notMatch(r.stderr, /Sanitizer|runtime error/, `no sanitizer report (seed ${seed})`)
    t.equal(r.status, 0, `exits 0 (seed ${seed})`)
    const result = JSON.parse(r.stdout) as { roundTrips: number; mismatches: number; readable: number; refused: number }
    t.equal(result.roundTrips, 12, 'every format and channel count round-tripped')
    t.equal(result.mismatches, 0, 'bit for bit (32-bit PCM through double)')
    t.ok(result.refused > 0 && result.readable > 0, `${result.readable} damaged files still readable, ${result.refused} refused`)
  }
})
