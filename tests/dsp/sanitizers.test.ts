// Memory safety of the DSP modules: a harness (sanitize_harness.cc) drives every module through
// odd geometries (2 to 24 mics, lines, planes, 3D, coincident mics), 44.1/48/96 kHz, block sizes
// from 1 to 1024, steering and adaptation changes and absurd parameters, compiled with
// AddressSanitizer (plus leak checking) and UndefinedBehaviorSanitizer.

import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { basename, join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../../firmware/board/profile.ts'

const FLAGS = ['-std=c++17', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all']

function compile(src: string, obj: string, include: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('g++', [...FLAGS, `-I${include}`, '-c', src, '-o', obj], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    p.stderr.on('data', (d) => {
      stderr += d
    })
    p.on('close', (code) => resolve({ code: code ?? 1, stderr }))
  })
}

t.test('the DSP modules run clean under AddressSanitizer and UndefinedBehaviorSanitizer', async (t) => {
  const src = join(repoRoot, 'addons', 'src')
  const dir = t.testdir()
  const sources = [
    join(repoRoot, 'tests', 'dsp', 'sanitize_harness.cc'),
    ...readdirSync(join(src, 'dsp'))
      .filter((f) => f.endsWith('.cc'))
      .map((f) => join(src, 'dsp', f)),
  ]
  // Compile units in parallel (as many as there are cores), then link.
  const queue = [...sources]
  const objects: string[] = []
  const failures: string[] = []
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const obj = join(dir, `${basename(s)}.o`)
      objects.push(obj)
      const r = await compile(s, obj, src)
      if (r.code !== 0) failures.push(`${basename(s)}: ${r.stderr}`)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, availableParallelism()) }, worker))
  t.same(failures, [], 'every unit compiles with the sanitizers')
  if (failures.length) return
  const bin = join(dir, 'sanitize_harness')
  const linked = spawnSync('g++', [...FLAGS, ...objects, '-o', bin], { encoding: 'utf8' })
  t.equal(linked.status, 0, `the harness links${linked.status ? `: ${linked.stderr}` : ''}`)
  if (linked.status !== 0) return
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } })
  t.equal(r.status, 0, `the harness exits cleanly${r.status ? `: ${r.stderr.slice(0, 2000)}` : ''}`)
  t.match(r.stdout, /^ok \d/, 'and reports its run')
})
