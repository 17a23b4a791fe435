// A show as it is recorded: one mono file per channel in a folder (or named in a map), or one
// polyphonic file split by the recorder at its size limit. Through the real CLI, each gives the same
// beams, bit for bit, and the same report as the one multichannel file; files that do not belong
// together are refused naming the file, with nothing left behind.

import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import { circularArray, planeWave } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
// Ten mics, so file-name order matters: "mic 10" must come after "mic 9", not after "mic 1".
const mics = circularArray(10, 0.1)
const frames = 48000 + 357

function firmware(cwd: string, ...args: string[]) {
  const r = spawnSync(node, [cli, 'process', '--array', 'array.json', '--no-analysis', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function stage(t: Test) {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  const audio = planeWave({ mics, sampleRate: 48000, seconds: frames / 48000, azimuth: 60, level: 0.1, noise: 0.03, seed: 3 })
  const spec = { sampleRate: 48000, format: 'pcm24' as const }
  writeWav(join(dir, 'show.wav'), { ...spec, channels: 10 }, audio)
  const { data } = readWav(join(dir, 'show.wav'))
  mkdirSync(join(dir, 'mics'))
  for (let k = 0; k < 10; k++) {
    const mono = new Float32Array(frames)
    for (let i = 0; i < frames; i++) mono[i] = data[i * 10 + k]!
    writeWav(join(dir, 'mics', `mic ${k + 1}.wav`), { ...spec, channels: 1 }, mono)
  }
  // The recorder's split, at arbitrary frames.
  mkdirSync(join(dir, 'split'))
  const cuts = [0, 12_345, 12_346, 40_001, frames]
  for (let p = 0; p + 1 < cuts.length; p++) {
    writeWav(join(dir, 'split', `SHOW_${String(p + 1).padStart(4, '0')}.WAV`), { ...spec, channels: 10 }, data.subarray(cuts[p]! * 10, cuts[p + 1]! * 10))
  }
  return dir
}

/** What must be the same whichever way the show came in. */
function essence(dir: string, out: string, report: string) {
  const r = JSON.parse(readFileSync(join(dir, report), 'utf8')) as ProcessReport
  return {
    audio: Buffer.from(readWav(join(dir, out)).data.buffer),
    report: { channels: r.input.channels, frames: r.input.frames, doa: r.doa, meters: r.meters, watchdog: r.watchdog, latency: r.engine.latencySamples },
  }
}

t.test('a folder of mono files, a map, and a split recording give the same beams and report as the one file', async (t) => {
  const dir = stage(t)
  const ran = (what: string, ...args: string[]) => {
    const r = firmware(dir, ...args)
    t.equal(r.status, 0, `${what}: exit 0 (stderr: ${r.stderr.trim()})`)
  }
  ran('one file', '--in', 'show.wav', '--out', 'one.wav', '--report', 'one.json')
  const one = essence(dir, 'one.wav', 'one.json')
  t.ok(one.report.doa.length > 50, 'a DOA track')

  ran('folder', '--in', 'mics', '--out', 'folder.wav', '--report', 'folder.json')
  const folder = essence(dir, 'folder.wav', 'folder.json')
  t.ok(folder.audio.equals(one.audio), 'folder of mono files: the same beams, bit for bit')
  t.same(folder.report, one.report, 'folder: the same report')
  const rep = JSON.parse(readFileSync(join(dir, 'folder.json'), 'utf8')) as ProcessReport
  t.same(
    rep.input.files?.map((c) => c.map((f) => f.replace(/^.*\//, ''))),
    Array.from({ length: 10 }, (_, k) => [`mic ${k + 1}.wav`]),
    'the report lists the channels in natural file-name order',
  )

  // A map naming the files, one of them split in two at a frame of its own.
  const m1 = readWav(join(dir, 'mics', 'mic 1.wav')).data
  writeWav(join(dir, 'mics-1a.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, m1.subarray(0, 777))
  writeWav(join(dir, 'mics-1b.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, m1.subarray(777))
  const channels = [['mics-1a.wav', 'mics-1b.wav'], ...Array.from({ length: 9 }, (_, k) => `mics/mic ${k + 2}.wav`)]
  writeFileSync(join(dir, 'map.json'), JSON.stringify({ channels }))
  ran('map', '--in', 'map.json', '--out', 'map.wav', '--report', 'map.json.out')
  const map = essence(dir, 'map.wav', 'map.json.out')
  t.ok(map.audio.equals(one.audio), 'map: the same beams, bit for bit')
  t.same(map.report, one.report, 'map: the same report')

  ran('split', '--join', '--in', 'split', '--out', 'split.wav', '--report', 'split.json')
  const split = essence(dir, 'split.wav', 'split.json')
  t.ok(split.audio.equals(one.audio), 'split at the recorder limit, joined: the same beams, bit for bit (no gap, no click)')
  t.same(split.report, one.report, 'split: the same report')

  // Several --in given in order are the channels too.
  const list = Array.from({ length: 10 }, (_, k) => ['--in', `mics/mic ${k + 1}.wav`]).flat()
  ran('list', ...list, '--out', 'list.wav', '--report', 'list.json')
  t.ok(essence(dir, 'list.wav', 'list.json').audio.equals(one.audio), 'a list of --in: the same beams')
})

t.test('a channel that does not match is refused naming the file; nothing is written', async (t) => {
  const dir = stage(t)
  writeWav(join(dir, 'mics', 'mic 7.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, new Float32Array(frames - 1))
  const before = readdirSync(dir).sort()
  const r = firmware(dir, '--in', 'mics', '--out', 'out.wav', '--report', 'report.json')
  t.equal(r.status, 1, 'exits 1')
  t.match(
    r.stderr.trim(),
    /^firmware: mics\/mic 7\.wav: 48356 frames but mics\/mic 1\.wav has 48357; the channels of a show must have the same length \[FW_ERR_BAD_WAV\]$/,
  )
  t.same(readdirSync(dir).sort(), before, 'no output or report left behind')
  writeWav(join(dir, 'mics', 'mic 7.wav'), { channels: 1, sampleRate: 48000, format: 'pcm16' }, new Float32Array(frames))
  t.match(
    firmware(dir, '--in', 'mics', '--out', 'out.wav', '--report', 'report.json').stderr,
    /mic 7\.wav: pcm16 samples but mics\/mic 1\.wav has pcm24.*\[FW_ERR_BAD_WAV\]/,
  )
  t.match(
    firmware(dir, '--join', '--in', 'show.wav', '--out', 'out.wav', '--report', 'report.json').stderr,
    /--join needs the parts of the recording.*\[FW_ERR_USAGE\]/,
  )
  writeFileSync(join(dir, 'bad-map.json'), JSON.stringify({ channels: [1, 2] }))
  t.match(
    firmware(dir, '--in', 'bad-map.json', '--out', 'out.wav', '--report', 'report.json').stderr,
    /bad-map\.json: a channel map is .*\[FW_ERR_BAD_OPTION\]/,
  )
  t.same(readdirSync(dir).sort(), [...before, 'bad-map.json'].sort(), 'still nothing written')
})
