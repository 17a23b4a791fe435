// Memory stays flat with the length of the show: a real `firmware process` child, analysers on,
// measured as its progress lines pass 1 minute and 4 minutes of show time: the JavaScript heap that
// survives a full collection (what the run keeps: before, the DOA track as one object per estimate
// grew it by about 2 MB here, 0.7 MB a minute; now 0.25 MB, the track at 32 bytes an estimate) and
// the RSS (loosely: V8's own heap sizing moves it by up to 17 MB on a busy machine, which made an
// RSS-only bound flaky). The 20-minute figures are in `npm run bench -- show`.

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
 * Growth allowed from 1 to 4 minutes of show of the heap that survives a full collection: what is
 * left is the report's own content (the DOA track at 32 bytes an estimate: 0.5 MB here; class
 * entries). Before, the track alone was about 2 MB here.
 */
const HEAP_BOUND_MB = 1.2
/**
 * RSS over the same span: a loose bound, because V8 sizes its heap by its own rules and on a busy
 * machine that alone moves RSS by 10 to 17 MB over these 3 minutes (before: 17 to 18 MB).
 */
const RSS_BOUND_MB = 30

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

t.test('memory at 4 minutes of show is within a bound of 1 minute', async (t) => {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  // In the child: as its progress lines pass 1 and 4 minutes of show time, a full collection, then
  // the heap that survives it and the RSS; printed at exit.
  writeFileSync(
    join(dir, 'sample.mjs'),
    [
      'const at = {}',
      'const write = process.stderr.write.bind(process.stderr)',
      'process.stderr.write = (s, ...a) => {',
      '  const m = /^progress (\\{.*\\})/.exec(String(s))',
      '  const p = m ? JSON.parse(m[1]).position : -1',
      '  for (const [k, from] of [["early", 60], ["late", 225]]) if (p >= from && !at[k]) { globalThis.gc(); const u = process.memoryUsage(); at[k] = { heap: u.heapUsed / 1048576, rss: u.rss / 1048576 } }',
      '  return write(s, ...a)',
      '}',
      "process.on('exit', () => write('memory ' + JSON.stringify(at) + '\\n'))",
      '',
    ].join('\n'),
  )
  record(join(dir, 'in.wav'), 240)
  const args = ['process', '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--beams', '1', '--progress-every', '0.2']
  const r = spawnSync(node, ['--expose-gc', '--import', join(dir, 'sample.mjs'), cli, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim().split('\n').at(-1)})`)
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport
  t.equal(report.analysisErrors, undefined, 'the analysers ran')
  t.ok(report.classes.length > 240 * 3, `classes all along (${report.classes.length})`)
  const at = JSON.parse(/memory (\{.*\})/.exec(r.stderr)?.[1] ?? '{}') as Record<'early' | 'late', { heap: number; rss: number } | undefined>
  t.ok(at.early && at.late, 'sampled at 1 and 4 minutes')
  const { early, late } = at as Record<'early' | 'late', { heap: number; rss: number }>
  t.comment(
    `at 1 min: heap ${early.heap.toFixed(2)} MB, RSS ${early.rss.toFixed(0)} MB; at 4 min: heap ${late.heap.toFixed(2)} MB, RSS ${late.rss.toFixed(0)} MB`,
  )
  t.ok(
    late.heap - early.heap < HEAP_BOUND_MB,
    `the heap that survives a collection grows less than ${HEAP_BOUND_MB} MB (${early.heap.toFixed(2)} -> ${late.heap.toFixed(2)} MB)`,
  )
  t.ok(late.rss - early.rss < RSS_BOUND_MB, `RSS grows less than ${RSS_BOUND_MB} MB (${early.rss.toFixed(0)} -> ${late.rss.toFixed(0)} MB)`)
})
