// The audio thread allocates nothing and takes no lock after start: the engine core, the DSP modules and the
// backends are linked into a small program (addons/tests/alloc_count.cc) whose malloc family and
// operator new/delete count calls made on the engine's audio thread. It runs the full chain for
// 4000 blocks while another thread fires every kind of command, crossfade and fault at it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../../firmware/board/profile.ts'

const src = join(repoRoot, 'addons', 'src')
const sources = [
  join(repoRoot, 'addons', 'tests', 'alloc_count.cc'),
  join(src, 'engine.cc'),
  join(src, 'rt.cc'),
  join(src, 'wav.cc'),
  ...readdirSync(join(src, 'backends')).filter((f) => f.endsWith('.cc')).map((f) => join(src, 'backends', f)),
  // The pure modules the engine links: every .cc of these folders except N-API bindings.
  ...['dsp', 'features'].flatMap((dir) => readdirSync(join(src, dir))
    .filter((f) => f.endsWith('.cc') && !f.includes('binding'))
    .map((f) => join(src, dir, f))),
]

interface Result { interposerWorks: boolean; blocks: number; audioThreadAllocs: number; audioThreadFrees: number; audioThreadLocks: number }

t.test('the audio thread makes no allocation and takes no lock once started', async (t) => {
  const dir = t.testdir()
  const bin = join(dir, 'alloc_count')
  const built = spawnSync('g++', ['-std=c++17', '-O1', '-pthread', `-I${src}`, ...sources, '-lasound', '-ldl', '-o', bin], { encoding: 'utf8' })
  t.equal(built.status, 0, `the counting build compiles${built.status ? `: ${built.stderr}` : ''}`)
  if (built.status !== 0) return
  for (const mode of ['sim', 'file']) {
    const r = spawnSync(bin, [mode, dir], { encoding: 'utf8', timeout: 60_000 })
    t.equal(r.status, 0, `${mode} backend run passes: ${r.stdout.trim()} ${r.stderr.trim()}`)
    const result = JSON.parse(r.stdout) as Result
    t.ok(result.interposerWorks, 'the counters see an allocation and a lock made on a marked thread')
    t.ok(result.blocks >= 4000, `${result.blocks} blocks ran`)
    t.equal(result.audioThreadAllocs, 0, `${mode}: no allocation on the audio thread`)
    t.equal(result.audioThreadFrees, 0, `${mode}: no free on the audio thread`)
    t.equal(result.audioThreadLocks, 0, `${mode}: no lock taken or waited on by the audio thread`)
  }
})
