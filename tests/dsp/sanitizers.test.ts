// Memory safety of the DSP modules: a harness (sanitize_harness.cc) drives every module through
// odd geometries (2 to 24 mics, lines, planes, 3D, coincident mics), 44.1/48/96 kHz, block sizes
// from 1 to 1024, steering and adaptation changes and absurd parameters, compiled with
// AddressSanitizer (plus leak checking) and UndefinedBehaviorSanitizer.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../../firmware/board/profile.ts'

t.test('the DSP modules run clean under AddressSanitizer and UndefinedBehaviorSanitizer', async (t) => {
  const src = join(repoRoot, 'addons', 'src')
  const dsp = readdirSync(join(src, 'dsp')).filter((f) => f.endsWith('.cc')).map((f) => join(src, 'dsp', f))
  const bin = join(t.testdir(), 'sanitize_harness')
  const built = spawnSync('g++', ['-std=c++17', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
    `-I${src}`, join(repoRoot, 'tests', 'dsp', 'sanitize_harness.cc'), ...dsp, '-o', bin], { encoding: 'utf8' })
  t.equal(built.status, 0, `the sanitizer build compiles${built.status ? `: ${built.stderr}` : ''}`)
  if (built.status !== 0) return
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } })
  t.equal(r.status, 0, `the harness exits cleanly${r.status ? `: ${r.stderr.slice(0, 2000)}` : ''}`)
  t.match(r.stdout, /^ok \d/, 'and reports its run')
})
