// bin/firmware.js started by an older system Node hands over to the pinned Node 24 (a second
// process that starts anyway); for `firmware process` that hand-over also tells glibc to give freed
// memory back (issue 18, sixth round: MALLOC_ARENA_MAX=2, MALLOC_MMAP_THRESHOLD_=65536,
// MALLOC_TRIM_THRESHOLD_=1048576, read by glibc only at a process's start), keeping what the
// caller set. Checked in the real pinned process, through a hook that prints its environment.

import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { WavWriter } from '../../firmware/wav/wav.ts'

const repo = join(import.meta.dirname, '..', '..')
const cli = join(repo, 'bin', 'firmware.js')
const MALLOC = ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']

/** A system Node older than 24 (the machine's own), or null. */
function olderNode(): string | null {
  for (const p of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(p)) continue
    const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
    if (Number(v.split('.')[0]) < 24) return p
  }
  return null
}
const older = olderNode()

t.test(
  "an older Node hands `firmware process` to Node 24 with the allocator settings, keeping the caller's",
  { skip: older ? false : 'no system Node older than 24 here' },
  async (t) => {
    const dir = t.testdir({
      'array.json': JSON.stringify({
        sampleRate: 48000,
        mics: [
          [0.05, 0, 0],
          [-0.05, 0, 0],
        ],
      }),
    })
    // Prints the environment of the process that runs the firmware (Node 24), not of the launcher.
    writeFileSync(
      join(dir, 'env.mjs'),
      `if (Number(process.versions.node.split('.')[0]) >= 24) process.stderr.write('env ' + JSON.stringify(${JSON.stringify(MALLOC)}.map((k) => process.env[k] ?? null)) + '\\n')\n`,
    )
    const w = new WavWriter(join(dir, 'in.wav'), { channels: 2, sampleRate: 48000, format: 'pcm16' })
    w.write(new Float32Array(2 * 4800))
    w.close()
    const run = (args: string[], extra: Record<string, string> = {}) => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import ${join(dir, 'env.mjs')}`, ...extra }
      for (const k of MALLOC) if (!(k in extra)) delete env[k]
      const r = spawnSync(older!, [cli, ...args], { cwd: dir, encoding: 'utf8', env, timeout: 60_000 })
      return { status: r.status, stderr: r.stderr, env: JSON.parse(/^env (.*)$/m.exec(r.stderr)?.[1] ?? 'null') as Array<string | null> | null }
    }
    const proc = ['process', '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--no-analysis']
    const a = run(proc)
    t.equal(a.status, 0, `firmware process ran under ${older} (${a.stderr.trim().split('\n').at(-1)})`)
    t.same(a.env, ['2', '65536', '1048576'], 'the three allocator settings reach the Node 24 process')
    const b = run(proc, { MALLOC_ARENA_MAX: '4' })
    t.same(b.env, ['4', '65536', '1048576'], 'a setting the caller made is kept')
    const c = run(['--help'])
    t.same(c.env, [null, null, null], 'other commands are started without them')
  },
)
