// `firmware process --loop-gain` as a user runs it: the real CLI in a child process puts flite
// speech through the simulated acoustic loop; the report carries the feedback alarm (frequency,
// level, growth) and, with --suppress, the notches; a bad loop setting is refused with its code
// and leaves nothing behind.

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { writeWav } from '../../firmware/wav/wav.ts'
import { renderSpeech, TEXTS } from './programme.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

function firmware(cwd: string, ...args: string[]) {
  return spawnSync(node, [cli, 'process', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
}

t.test('process --loop-gain reports the howl the loop grows; --suppress notches it out', async (t) => {
  const dir = t.testdir()
  const speech = (await renderSpeech(dir, TEXTS.join(' '), 'awb')).subarray(0, 48000 * 6)
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, speech)
  const off = firmware(dir, '--in', 'show.wav', '--out', 'off.wav', '--report', 'off.json', '--loop-gain', '4', '--room', 'hall')
  t.equal(off.status, 0, `runs: ${off.stderr}`)
  t.match(off.stdout, /feedback alarm/, 'the summary line says so')
  const r = JSON.parse(readFileSync(join(dir, 'off.json'), 'utf8'))
  t.ok(r.feedback.alarms.length >= 1, 'an alarm in the report')
  const a = r.feedback.alarms[0]
  t.ok(
    a.hz > 100 && a.hz < 8000 && typeof a.levelDb === 'number' && typeof a.growthDbPerS === 'number',
    `with frequency, level and growth: ${JSON.stringify(a)}`,
  )
  t.ok(r.meters.loudspeakerRmsDb > r.meters.programmeRmsDb + 6, 'it howled')
  // The classifier's second opinion rode along: clean speech first, feedback once it howls.
  const trace: Array<{ t: number; p: number }> = r.feedback.classifier?.pFeedback ?? []
  t.ok(trace.length >= 20, `the classifier answered every 0.25 s (${trace.length} answers)`)
  t.ok((trace[0]?.p ?? 1) < 0.5, `p(feedback) low before the howl (${trace[0]?.p})`)
  t.ok(
    trace.slice(-4).every((e) => e.p >= 0.5),
    `p(feedback) high while it howls (${JSON.stringify(trace.slice(-4))})`,
  )
  const on = firmware(dir, '--in', 'show.wav', '--out', 'on.wav', '--report', 'on.json', '--loop-gain', '2', '--room', 'hall', '--suppress')
  t.equal(on.status, 0, `runs with --suppress: ${on.stderr}`)
  const s = JSON.parse(readFileSync(join(dir, 'on.json'), 'utf8'))
  t.ok(s.feedback.notches.length >= 1, `${s.feedback.notches.length} notch(es) in place`)
})

t.test('a bad loop setting is refused with FW_ERR_FEEDBACK_SETTINGS and nothing is written', async (t) => {
  const dir = t.testdir()
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'pcm16' }, new Float32Array(4800))
  for (const args of [
    ['--loop-gain', '99'],
    ['--loop-gain', '3', '--room', 'cathedral'],
  ]) {
    const r = firmware(dir, '--in', 'show.wav', '--out', 'o.wav', '--report', 'r.json', ...args)
    t.equal(r.status, 1, `${args.join(' ')}: exits 1`)
    t.match(r.stderr, /FW_ERR_FEEDBACK_SETTINGS/, 'with the code')
    t.same(readdirSync(dir), ['show.wav'], 'nothing written')
  }
})
