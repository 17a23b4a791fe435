// Memory stays flat with the length of the show: a real `firmware process` child, analysers on,
// measured over two windows of show time (30 to 90 s and 170 to 230 s): a full collection at
// progress lines there and, 30 ms later (array buffers are freed behind the collection), what the
// JavaScript side holds (the heap plus the array buffers, where the DOA track's chunks live), the
// least of each window (a window's other samples also hold the feature frames and model requests
// in flight), and the RSS. The held memory may grow by no more than the report the run writes
// grows over the same span of show (issue 18, fifth round: the report's text is the upper bound of
// what a run must keep; in memory the DOA track is 20 bytes an estimate against about 70 of text),
// plus what moves by itself (IN_FLIGHT_MB). The RSS is bounded loosely (V8's own heap sizing and
// the allocator's arenas on a busy machine). The 2-hour figures: `npm run bench -- show`.
//
// The same run counts the garbage at its source (issue 18, sixth round): the external bytes (array
// buffers, outside V8's heap) made between 30 and 230 s of show by the feature polls, by the
// analysers' typed arrays and by the requests copied to the inference thread. That garbage is what
// raised the RSS of a fast 2-hour run in steps (V8 frees it late, glibc keeps the chunks); before
// this round about 60 MB a minute of show here.

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
const garbageHook = join(import.meta.dirname, 'fixtures', 'garbage-hook.mjs')
const mics = circularArray(4, 0.05)
/**
 * Beside the report's growth: what moves the least held memory of a window by itself, run to run
 * (measured 0.9 to 3.7 MB on a 4-minute run with no growth of its own: V8's compiled code and
 * the feature poll in flight, whose size depends on how busy the machine is; a heap snapshot at
 * 1 and at 7 minutes differs by the DOA track's chunks and the class entries only).
 */
const IN_FLIGHT_MB = 5
/**
 * RSS over the same span: a loose bound, because V8 sizes its heap by its own rules and on a busy
 * machine that alone moves RSS by 10 to 17 MB over these minutes (before: 17 to 18 MB).
 */
const RSS_BOUND_MB = 30

/**
 * External bytes a minute of show may allocate, all sources together: what is left per poll (a few
 * small result arrays, the model answers) is about 0.2 MB a minute; the kept buffers growing to a
 * larger poll once add at most 1 to 2 MB over the window. Before: about 60 MB a minute.
 */
const GARBAGE_MB_PER_MIN = 2

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

t.test('what a run holds grows no faster than the report it writes (1 to 4 minutes of show)', async (t) => {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  // In the child: as its progress lines pass 1 and 4 minutes of show time, a full collection, then
  // the heap that survives it and the RSS; printed at exit.
  writeFileSync(
    join(dir, 'sample.mjs'),
    [
      'const at = {}',
      'let busy = false',
      'const write = process.stderr.write.bind(process.stderr)',
      'process.stderr.write = (s, ...a) => {',
      '  const m = /^progress (\\{.*\\})/.exec(String(s))',
      '  const p = m ? JSON.parse(m[1]).position : -1',
      '  for (const [k, from, to] of [["early", 30, 90], ["late", 170, 230]]) if (p >= from && p <= to && !busy) {',
      '    busy = true',
      '    globalThis.gc()',
      '    setTimeout(() => {',
      '      busy = false',
      '      const u = process.memoryUsage()',
      '      const held = (u.heapUsed + u.arrayBuffers) / 1048576',
      '      if (!at[k] || held < at[k].held) at[k] = { held, rss: u.rss / 1048576 }',
      '    }, 30)',
      '  }',
      '  return write(s, ...a)',
      '}',
      "process.on('exit', () => write('memory ' + JSON.stringify(at) + '\\n'))",
      '',
    ].join('\n'),
  )
  record(join(dir, 'in.wav'), 240)
  const args = ['process', '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--beams', '1', '--progress-every', '0.2']
  // The garbage hook counts the external bytes made while the show passes 30 to 230 s (changes nothing).
  const r = spawnSync(node, ['--expose-gc', '--import', join(dir, 'sample.mjs'), '--import', garbageHook, cli, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, GARBAGE_FROM: '30', GARBAGE_TO: '230' },
  })
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim().split('\n').at(-1)})`)
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport
  t.equal(report.analysisErrors, undefined, 'the analysers ran')
  t.ok(report.classes.length > 240 * 3, `classes all along (${report.classes.length})`)
  const at = JSON.parse(/memory (\{.*\})/.exec(r.stderr)?.[1] ?? '{}') as Record<'early' | 'late', { held: number; rss: number } | undefined>
  t.ok(at.early && at.late, 'sampled in both windows')
  const { early, late } = at as Record<'early' | 'late', { held: number; rss: number }>
  // The report's bytes per minute of show, and the memory it allows from the first window's start to the last one's end.
  const reportMbPerMin = readFileSync(join(dir, 'r.json')).length / 1048576 / 4
  const bound = ((230 - 30) / 60) * reportMbPerMin + IN_FLIGHT_MB
  t.comment(
    `report ${reportMbPerMin.toFixed(3)} MB a minute (${report.doa.length} DOA estimates); held ${early.held.toFixed(2)} -> ${late.held.toFixed(2)} MB, RSS ${early.rss.toFixed(0)} -> ${late.rss.toFixed(0)} MB`,
  )
  t.ok(
    late.held - early.held < bound,
    `what the run holds grows less than its report over the same span and the in-flight allowance (${bound.toFixed(2)} MB): ${early.held.toFixed(2)} -> ${late.held.toFixed(2)} MB`,
  )
  t.ok(late.rss - early.rss < RSS_BOUND_MB, `RSS grows less than ${RSS_BOUND_MB} MB (${early.rss.toFixed(0)} -> ${late.rss.toFixed(0)} MB)`)

  const g = JSON.parse(/garbage (\{.*\})/.exec(r.stderr)?.[1] ?? '{}') as { from: number; to: number; bytes: Record<'poll' | 'js' | 'messages', number> }
  t.ok(g.from >= 30 && g.to > g.from, `counted from ${g.from} to ${g.to} s of show`)
  const minutes = (g.to - g.from) / 60
  const perMin = (n: number) => n / 1048576 / minutes
  const total = perMin(g.bytes.poll + g.bytes.js + g.bytes.messages)
  t.ok(
    total < GARBAGE_MB_PER_MIN,
    `external bytes allocated per minute of show under ${GARBAGE_MB_PER_MIN} MB: ${total.toFixed(2)} MB (feature polls ${perMin(g.bytes.poll).toFixed(2)}, analysers' typed arrays ${perMin(g.bytes.js).toFixed(2)}, copied to the inference thread ${perMin(g.bytes.messages).toFixed(2)})`,
  )
})
