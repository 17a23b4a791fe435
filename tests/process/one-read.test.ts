// `firmware process` reads a show once: the engine meters the input as it reads it and the output
// as it writes it, so the report's meters cost no second pass over the files (before, the input
// was read twice and OUT.wav once more: for a 2-hour 16-channel show, 33 GB read twice). Checked
// on a real child process by what the kernel counted it reading (/proc/self/io), and the meters
// against a separate read of the files.

import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { measureWav } from '../../firmware/process/process.ts'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { circularArray, gaussian, rng } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
const mics = circularArray(8, 0.1)

/** `seconds` of an 8-mic recording (a tone, noise, a few full-scale clicks), block by block. */
function record(path: string, seconds: number): void {
  const w = new WavWriter(path, { channels: 8, sampleRate: 48000, format: 'pcm24' })
  const noise = gaussian(rng(11))
  const block = new Float32Array(4800 * 8)
  for (let b = 0; b < (seconds * 48000) / 4800; b++) {
    for (let i = 0; i < 4800; i++) {
      const s = 0.2 * Math.sin((2 * Math.PI * 330 * (b * 4800 + i)) / 48000)
      for (let k = 0; k < 8; k++) block[i * 8 + k] = s + 0.05 * noise() + (i === 100 && k === b % 8 ? 0.7 : 0)
    }
    w.write(block)
  }
  w.close()
}

t.test('the input is read once and the meters equal a separate read of the files', async (t) => {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  // What the kernel counted this process reading, at exit.
  writeFileSync(
    join(dir, 'io.mjs'),
    "import { readFileSync } from 'node:fs'\nprocess.on('exit', () => process.stderr.write('rchar ' + /rchar: (\\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1] + '\\n'))\n",
  )
  const input = join(dir, 'in.wav')
  record(input, 12)
  const size = statSync(input).size
  const r = spawnSync(
    node,
    [
      '--import',
      join(dir, 'io.mjs'),
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
      '--format',
      'pcm16',
      '--from',
      '1.5',
      '--to',
      '10.25',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 60_000 },
  )
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim().split('\n')[0]})`)
  const rchar = Number(/rchar (\d+)/.exec(r.stderr)?.[1])
  const part = (size * 8.75) / 12
  // The part once, plus the program's own sources and the addon (a few MB); a second pass over
  // the input or a read of OUT.wav would add at least the part again.
  t.ok(rchar < part + 0.6 * part, `read ${(rchar / 1e6).toFixed(1)} MB for a ${(part / 1e6).toFixed(1)} MB part of the input`)
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport
  t.same(report.meters.input, measureWav(input, { from: 72000, to: 492000 }), 'input meters: the part, as a separate read measures it')
  t.same(report.meters.output, measureWav(join(dir, 'out.wav')), 'output meters: OUT.wav as stored (pcm16), as a separate read measures it')
  t.ok(
    report.meters.input.every((m) => m.peakDb !== null && m.rmsDb !== null && m.peakDb > m.rmsDb + 6),
    'the clicks set the input peaks',
  )
})
