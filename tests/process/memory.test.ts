// Memory stays flat with the length of the recording: the peak RSS of a real `firmware process`
// child, analysers on, on 60 s and on 6 minutes of the same kind of audio. The analysers run in the
// engine's pass from its features; nothing holds the recording. (Before, 6 minutes of 4 channels
// meant the whole input and output as floats in memory, about 280 MB more than 60 s.)

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { circularArray, gaussian, rng } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
const mics = circularArray(4, 0.05)
/**
 * The bound on the growth from 60 s to 6 min (6x the audio). What still grows is the report
 * itself: the DOA track (94 estimates a second, about 34,000 more objects) and the class entries;
 * measured here 13 to 20 MB.
 */
const BOUND_MB = 40

/** Streams `seconds` of a 4-mic recording (a tone and noise) to disk, block by block. */
function record(path: string, seconds: number): void {
  const w = new WavWriter(path, { channels: 4, sampleRate: 48000, format: 'pcm16' })
  const noise = gaussian(rng(5))
  const block = new Float32Array(4800 * 4)
  for (let b = 0; b < (seconds * 48000) / 4800; b++) {
    for (let i = 0; i < 4800; i++) {
      const s = 0.1 * Math.sin((2 * Math.PI * 440 * (b * 4800 + i)) / 48000)
      for (let k = 0; k < 4; k++) block[i * 4 + k] = s + 0.02 * noise()
    }
    w.write(block)
  }
  w.close()
}

t.test('peak memory of firmware process on 6 minutes is within a bound of 60 s', async (t) => {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  // Reports the child's peak RSS (kB) when it exits.
  writeFileSync(join(dir, 'peak.mjs'), "process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'))\n")
  const run = (seconds: number) => {
    const input = join(dir, `in-${seconds}.wav`)
    record(input, seconds)
    const r = spawnSync(
      node,
      [
        '--import',
        join(dir, 'peak.mjs'),
        cli,
        'process',
        '--array',
        'array.json',
        '--in',
        input,
        '--out',
        `out-${seconds}.wav`,
        '--report',
        `r-${seconds}.json`,
      ],
      { cwd: dir, encoding: 'utf8', timeout: 120_000 },
    )
    t.equal(r.status, 0, `${seconds} s: exit 0 (${r.stderr.trim().split('\n')[0]})`)
    const kb = Number(/maxrss (\d+)/.exec(r.stderr)?.[1])
    const report = JSON.parse(readFileSync(join(dir, `r-${seconds}.json`), 'utf8')) as ProcessReport
    t.equal(report.analysisErrors, undefined, `${seconds} s: the analysers ran`)
    t.ok(report.classes.length > seconds * 3, `${seconds} s: classes all along (${report.classes.length})`)
    return kb / 1024
  }
  const short = run(60)
  const long = run(360)
  t.comment(`peak RSS: 60 s ${short.toFixed(0)} MB, 6 min ${long.toFixed(0)} MB`)
  t.ok(long - short < BOUND_MB, `6 min peaks at most ${BOUND_MB} MB above 60 s (${short.toFixed(0)} -> ${long.toFixed(0)} MB)`)
})
