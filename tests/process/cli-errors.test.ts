// `firmware process` refusing bad input the way a user sees it: the real CLI, one error line with a
// code, a non-zero exit, and no OUT.wav or REPORT.json left behind.

import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseProcessArgs } from '../../firmware/process/options.ts'
import { writeWav } from '../../firmware/wav/wav.ts'
import { buildWav } from '../wav/wavfile.ts'
import { circularArray } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

function firmware(cwd: string, ...args: string[]) {
  const r = spawnSync(node, [cli, 'process', ...args], { cwd, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Sets up a folder with a good 8-mic array, a matching recording, and the usual paths. */
function stage(t: Test) {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics: circularArray(8, 0.05) }) })
  writeWav(join(dir, 'in8.wav'), { channels: 8, sampleRate: 48000, format: 'pcm24' }, new Float32Array(8 * 4800))
  return dir
}

function refusedWith(t: Test, dir: string, args: string[], code: string, pattern: RegExp, before: string[]) {
  const r = firmware(dir, ...args)
  t.equal(r.status, 1, 'exits 1')
  const lines = r.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one error line (got: ${r.stderr.trim()})`)
  t.match(lines[0], new RegExp(`^firmware: .*\\[${code}\\]$`), `carries ${code}`)
  t.match(lines[0], pattern)
  t.notMatch(r.stderr, /\bat .*\.ts:\d+/, 'no stack trace')
  t.same(readdirSync(dir).sort(), before.slice().sort(), 'no output or report left behind')
}

const paths = ['--out', 'out.wav', '--report', 'report.json']

t.test('an unknown option is refused before anything runs', async (t) => {
  const dir = stage(t)
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'in8.wav', ...paths, '--loud'], 'FW_ERR_USAGE', /unknown option "--loud"/, ['array.json', 'in8.wav'])
  refusedWith(t, dir, ['--in', 'in8.wav', ...paths, 'extra'], 'FW_ERR_USAGE', /unexpected argument "extra"/, ['array.json', 'in8.wav'])
  refusedWith(t, dir, ['--in', 'in8.wav', '--out', 'out.wav'], 'FW_ERR_USAGE', /--report is required/, ['array.json', 'in8.wav'])
  refusedWith(t, dir, ['--in', 'in8.wav', ...paths, '--block'], 'FW_ERR_USAGE', /--block needs a value/, ['array.json', 'in8.wav'])
})

t.test('out-of-range values name the option and the allowed range', async (t) => {
  const dir = stage(t)
  const base = ['--array', 'array.json', '--in', 'in8.wav', ...paths]
  // One through the CLI for the whole path (message, code, exit, no files)...
  refusedWith(t, dir, [...base, '--steer', 'north'], 'FW_ERR_BAD_OPTION', /--steer azimuth must be a number of degrees, got "north"/, ['array.json', 'in8.wav'])
  // ...the rest through the same parser in-process, which is what the CLI runs.
  const cases: Array<[string[], string, RegExp]> = [
    [['--steer', '10,95'], 'FW_ERR_BAD_OPTION', /elevation must be from -90 to 90/],
    [['--steer', '1,2,3'], 'FW_ERR_BAD_OPTION', /--steer takes AZ or AZ,EL/],
    [['--beamformer', 'music'], 'FW_ERR_BAD_OPTION', /--beamformer must be das or mvdr, got "music"/],
    [['--block', '16'], 'FW_ERR_BAD_OPTION', /--block must be from 32 to 1024, got 16/],
    [['--block', '64.5'], 'FW_ERR_BAD_OPTION', /--block must be a whole number/],
    [['--beams', '17'], 'FW_ERR_BAD_OPTION', /--beams must be from 1 to 16/],
    [['--format', 'mp3'], 'FW_ERR_BAD_OPTION', /--format must be one of/],
    [['--report', 'again.json'], 'FW_ERR_USAGE', /--report is given twice/],
  ]
  for (const [extra, code, pattern] of cases) {
    t.throws(() => parseProcessArgs([...base, ...extra]), { code, message: pattern }, extra.join(' '))
  }
  t.throws(() => parseProcessArgs(['--in', 'in8.wav', ...paths, '--steer', '30']), { code: 'FW_ERR_USAGE', message: /--steer needs --array/ })
  t.same(parseProcessArgs([...base, '--steer=-90,10', '--block=128'])?.steer, { azimuth: 270, elevation: 10 }, 'azimuths wrap, --name=value works')
})

t.test('a missing or corrupt input file is refused with what is wrong', async (t) => {
  const dir = stage(t)
  writeFileSync(join(dir, 'cut.wav'), buildWav({ tag: 1, channels: 8, sampleRate: 48000, bits: 16, data: Buffer.alloc(12000), dataSize: 960000 }))
  writeFileSync(join(dir, 'notes.wav'), 'not audio')
  const before = ['array.json', 'in8.wav', 'cut.wav', 'notes.wav']
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'absent.wav', ...paths], 'FW_ERR_IO', /absent\.wav: no such file/, before)
  refusedWith(
    t,
    dir,
    ['--array', 'array.json', '--in', 'cut.wav', ...paths],
    'FW_ERR_BAD_WAV',
    /cut\.wav: data chunk says 960000 bytes but the file ends after 12000/,
    before,
  )
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'notes.wav', ...paths], 'FW_ERR_BAD_WAV', /notes\.wav: not a WAV file/, before)
  refusedWith(t, dir, ['--array', 'nowhere.json', '--in', 'in8.wav', ...paths], 'FW_ERR_IO', /nowhere\.json: no such file/, before)
})

t.test('a recording that does not fit the array is refused', async (t) => {
  const dir = stage(t)
  writeWav(join(dir, 'in6.wav'), { channels: 6, sampleRate: 48000 }, new Float32Array(6 * 480))
  writeWav(join(dir, 'in8-44k.wav'), { channels: 8, sampleRate: 44100 }, new Float32Array(8 * 441))
  writeWav(join(dir, 'in2-22k.wav'), { channels: 2, sampleRate: 22050 }, new Float32Array(2 * 441))
  writeWav(join(dir, 'empty.wav'), { channels: 8, sampleRate: 48000 }, new Float32Array(0))
  writeFileSync(
    join(dir, 'bad-array.json'),
    JSON.stringify({
      sampleRate: 48000,
      mics: [
        [0, 0, 0],
        [0, 0, 0],
      ],
    }),
  )
  writeFileSync(join(dir, 'broken.json'), '{"sampleRate": 48000, "mics": [')
  const before = readdirSync(dir)
  refusedWith(
    t,
    dir,
    ['--array', 'array.json', '--in', 'in6.wav', ...paths],
    'FW_ERR_CHANNELS',
    /in6\.wav has 6 channels but the array in array\.json has 8 mics/,
    before,
  )
  refusedWith(
    t,
    dir,
    ['--array', 'array.json', '--in', 'in8-44k.wav', ...paths],
    'FW_ERR_BAD_WAV',
    /is 44100 Hz but the array in array\.json says 48000 Hz/,
    before,
  )
  refusedWith(t, dir, ['--in', 'in2-22k.wav', ...paths], 'FW_ERR_BAD_WAV', /22050 Hz is not a rate the engine runs at/, before)
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'empty.wav', ...paths], 'FW_ERR_BAD_WAV', /empty\.wav: has no audio/, before)
  refusedWith(
    t,
    dir,
    ['--array', 'bad-array.json', '--in', 'in8.wav', ...paths],
    'FW_ERR_BAD_GEOMETRY',
    /mics\[0\] and mics\[1\] are at the same position/,
    before,
  )
  refusedWith(t, dir, ['--array', 'broken.json', '--in', 'in8.wav', ...paths], 'FW_ERR_BAD_GEOMETRY', /broken\.json: not valid JSON/, before)
})

t.test('outputs that cannot be written are refused before processing', async (t) => {
  const dir = stage(t)
  mkdirSync(join(dir, 'sub'))
  const before = ['array.json', 'in8.wav', 'sub']
  refusedWith(
    t,
    dir,
    ['--array', 'array.json', '--in', 'in8.wav', '--out', 'nofolder/out.wav', '--report', 'r.json'],
    'FW_ERR_IO',
    /nofolder\/out\.wav: the folder .* does not exist/,
    before,
  )
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'in8.wav', '--out', 'out.wav', '--report', 'sub'], 'FW_ERR_IO', /sub: is a folder/, before)
  refusedWith(t, dir, ['--array', 'array.json', '--in', 'in8.wav', '--out', 'in8.wav', '--report', 'r.json'], 'FW_ERR_USAGE', /is the input file/, before)
})
