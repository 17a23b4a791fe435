// The engineer's loop (issue 13): `firmware process` writes its class timeline and alarms as an
// Audacity label track beside the report; the track reads back to the same timeline; a corrected
// track is accepted, and a bad one is refused with FW_ERR_LABELS naming the file and the line, both
// here and by models/train.py --labels (which imports the track as training labels).

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { classLabels, formatLabelTrack, parseLabelTrack } from '../../firmware/process/labels.ts'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { writeWav } from '../../firmware/wav/wav.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

/** 4 s of line feed: quiet room, then a ringing tone that grows (a howl), then quiet again. */
function recording(): Float32Array {
  const sr = 48000
  const x = new Float32Array(4 * sr)
  let seed = 7
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1
  for (let i = 0; i < x.length; i++) {
    const t = i / sr
    const howl = t >= 1 && t < 3 ? 0.3 * 10 ** ((-30 + 30 * (t - 1)) / 20) * Math.sin(2 * Math.PI * 2150 * t) : 0
    x[i] = 0.0003 * rand() + howl
  }
  return x
}

t.test('firmware process writes the class timeline as an Audacity label track that reads back', async (t) => {
  const dir = t.testdir({})
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'float32' }, recording())
  const r = spawnSync(node, [cli, 'process', '--in', 'show.wav', '--out', 'out.wav', '--report', 'show.json', '--progress-every', '0'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.equal(r.status, 0, `process exits 0 (${r.stderr.trim()})`)
  const report = JSON.parse(readFileSync(join(dir, 'show.json'), 'utf8')) as ProcessReport
  t.equal(report.labelTrack, 'show.labels.txt', 'the report names its label track')
  const text = readFileSync(join(dir, 'show.labels.txt'), 'utf8')
  t.ok(report.classes.length >= 10, `classes all along (${report.classes.length})`)
  for (const line of text.trim().split('\n')) t.match(line, /^\d+\.\d{6}\t\d+\.\d{6}\t[a-z ]+$/, 'start TAB end TAB label, as Audacity writes')
  const labels = parseLabelTrack(text, 'show.labels.txt')
  t.same(labels, parseLabelTrack(formatLabelTrack(classLabels(report.classes))), 'the track is the timeline')
  // Every class entry lies in a region of its own label; an alarm region covers each feedback run.
  for (const c of report.classes) {
    t.ok(
      labels.some((l) => l.label === c.label && l.start <= c.t && c.t <= l.end),
      `${c.label} at ${c.t} s is in the track`,
    )
  }
  const feedback = report.classes.filter((c) => c.label === 'feedback')
  for (const c of feedback)
    t.ok(
      labels.some((l) => l.label === 'alarm feedback' && l.start <= c.t && c.t <= l.end),
      `alarm at ${c.t} s`,
    )
  // An engineer's correction (relabel a region, add one) is read as given.
  const corrected = `${text}2.000000\t2.500000\tspeech\n\\\t100.0\t2000.0\n`
  t.same(parseLabelTrack(corrected).at(-1), { start: 2, end: 2.5, label: 'speech' }, 'a corrected track parses; spectral lines skipped')
})

t.test('--no-analysis writes no label track', async (t) => {
  const dir = t.testdir({})
  writeWav(join(dir, 'in.wav'), { channels: 1, sampleRate: 48000, format: 'pcm16' }, new Float32Array(48000))
  const r = spawnSync(node, [cli, 'process', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--no-analysis', '--progress-every', '0'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30_000,
  })
  t.equal(r.status, 0, r.stderr)
  t.throws(() => readFileSync(join(dir, 'r.labels.txt')), 'no track')
})

const bad: Array<[string, string, RegExp]> = [
  ['0.0\t1.0\tspeech\n1.0\t2.0\n', 'a missing label', /line 2: expected start<TAB>end<TAB>label/],
  ['0.0\t1.0\tspeech\n1.0\tabc\tmusic\n', 'a time that is not a number', /line 2: start and end must be numbers/],
  ['0.0\t1.0\tmusic\n\n3.0\t2.0\tmusic\n', 'end before start', /line 3: end 2 is before start 3/],
  ['-1\t1.0\tmusic\n', 'a negative time', /line 1: start -1 is before the recording/],
  ['0\t1\tmusci\n', 'an unknown label', /line 1: unknown label "musci"/],
]

t.test('a bad label track is refused with FW_ERR_LABELS naming the line', async (t) => {
  for (const [text, what, msg] of bad) {
    t.throws(() => parseLabelTrack(text, 'edit.txt'), { code: 'FW_ERR_LABELS', message: msg }, what)
    t.throws(() => parseLabelTrack(text, 'edit.txt'), { message: /^edit\.txt line \d+: .*nothing was imported$/ }, `${what}: names the file`)
  }
})

t.test('models/train.py --labels refuses a bad track the same way, before training anything', async (t) => {
  const dir = t.testdir({})
  writeWav(join(dir, 'rec.wav'), { channels: 1, sampleRate: 16000, format: 'pcm16' }, new Float32Array(16000))
  for (const [text, what, msg] of [bad[0]!, bad[2]!]) {
    writeFileSync(join(dir, 'edit.txt'), text)
    const r = spawnSync('/usr/bin/python3', [join(repo, 'models', 'train.py'), '--labels', join(dir, 'rec.wav'), join(dir, 'edit.txt'), '--out', dir], {
      encoding: 'utf8',
      timeout: 30_000,
    })
    t.equal(r.status, 2, `${what}: exits 2`)
    t.match(r.stderr, /FW_ERR_LABELS/, `${what}: carries the code`)
    t.match(r.stderr, msg, `${what}: names the line`)
  }
})

t.test('a report path whose label track would overwrite the input is refused before anything runs', async (t) => {
  const dir = t.testdir({})
  writeWav(join(dir, 'show.labels.txt'), { channels: 1, sampleRate: 48000, format: 'pcm16' }, new Float32Array(4800))
  const r = spawnSync(node, [cli, 'process', '--in', 'show.labels.txt', '--out', 'out.wav', '--report', 'show.json'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 30_000,
  })
  t.equal(r.status, 1, 'exits 1')
  t.match(r.stderr, /label track show\.labels\.txt .* would overwrite an input.*\[FW_ERR_USAGE\]/)
  t.equal(readFileSync(join(dir, 'show.labels.txt')).subarray(0, 4).toString(), 'RIFF', 'the input is untouched')
})
