// The offline pass hands each block to the DOA thread and waits for its estimates without busy
// waiting. Before, the audio thread spun on sched_yield() until the DOA thread caught up (once per
// hop and more) and the DOA thread napped 0.2 ms at a time; on a busy 2-core machine both cost
// wall time and CPU. Now each side sleeps on a futex the other wakes. Checked on a real child
// process by what the kernel saw it call (strace -f -c). That the threaded pass still gives the
// sequential engine's output and DOA track bit for bit: tests/engine/30.commands.test.ts.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { DoaEstimate } from '../../firmware/engine/types.ts'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { circularArray, planeWave } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

/** Syscall name -> calls, from `strace -c` output. */
function syscallCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line)
    if (m) counts.set(m[2]!, Number(m[1]))
  }
  return counts
}

// strace needs ptrace; a container without it cannot run this check (setup.sh installs strace).
const canTrace = spawnSync('strace', ['-f', '-o', '/dev/null', 'true']).status === 0

t.test('offline DOA: no yield loop and no naps between the audio and the DOA thread', { skip: canTrace ? false : 'strace cannot trace here' }, async (t) => {
  // A 4-mic array: a DOA hop of 512 samples (94 estimates a second), the most hand-offs per
  // second of show.
  const mics = circularArray(4, 0.05)
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  const seconds = 10
  const w = new WavWriter(join(dir, 'in.wav'), { channels: 4, sampleRate: 48000, format: 'pcm24' })
  w.write(planeWave({ mics, sampleRate: 48000, seconds, azimuth: 60, noise: 0.01, seed: 3 }))
  w.close()
  const r = spawnSync(
    'strace',
    [
      '-f',
      '-c',
      '-o',
      join(dir, 'strace.txt'),
      '-e',
      'trace=sched_yield,clock_nanosleep,nanosleep,futex',
      node,
      cli,
      'process',
      '--no-analysis',
      '--array',
      'array.json',
      '--in',
      'in.wav',
      '--out',
      'out.wav',
      '--report',
      'r.json',
      '--progress-every',
      '0',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 },
  )
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim().split('\n')[0]})`)
  const counts = syscallCounts(readFileSync(join(dir, 'strace.txt'), 'utf8'))
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport & { doa: DoaEstimate[] }
  const estimates = report.doa.length
  t.ok(estimates > 900, `${estimates} DOA estimates in ${seconds} s`)
  const yields = counts.get('sched_yield') ?? 0
  const naps = (counts.get('clock_nanosleep') ?? 0) + (counts.get('nanosleep') ?? 0)
  // The JS side's 5 ms poll sleeps in epoll, not nanosleep; the few naps left are Node's own.
  t.ok(yields < 50, `sched_yield: ${yields} calls (was about one per DOA estimate and more)`)
  t.ok(naps < 100, `nanosleep: ${naps} calls (was one per 0.2 ms the DOA thread waited)`)
  // A futex wait or wake per hand-off at most, not a storm.
  const futex = counts.get('futex') ?? 0
  t.ok(futex < 6 * estimates + 3000, `futex: ${futex} calls for ${estimates} estimates`)
  t.ok(
    report.doa.filter((d) => d.confidence > 0.3).every((d) => Math.abs(d.azimuth - 60) < 5),
    'the track points at the source',
  )
})
