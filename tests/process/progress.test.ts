// Long work that behaves like it: progress as a script and a person see it (a pipe, a real PTY via
// script(1)), and --from/--to processing one part of a show with the report in show time.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { readWav, wavInfo, writeWav } from '../../firmware/wav/wav.ts'
import { circularArray, planeWave } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
const mics = circularArray(8, 0.1)

function stage(t: Test, seconds: number) {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  writeWav(
    join(dir, 'in.wav'),
    { channels: 8, sampleRate: 48000, format: 'pcm24' },
    planeWave({ mics, sampleRate: 48000, seconds, azimuth: 60, level: 0.1, noise: 0.03, seed: 9 }),
  )
  return dir
}

function firmware(cwd: string, ...args: string[]) {
  const r = spawnSync(node, [cli, 'process', '--array', 'array.json', '--in', 'in.wav', '--no-analysis', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('not a terminal: one machine-readable progress line at a time, in show time', async (t) => {
  const dir = stage(t, 20)
  const r = firmware(dir, '--out', 'out.wav', '--report', 'r.json', '--progress-every', '0.02')
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim().split('\n').pop()})`)
  t.match(r.stdout, /^processed in\.wav/, 'the summary stays alone on stdout')
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  t.ok(lines.length >= 1, `progress lines (${lines.length})`)
  let last = -1
  for (const l of lines) {
    const m = /^progress (\{.*\})$/.exec(l)
    if (!m) {
      t.fail(`not a progress line: ${l}`)
      continue
    }
    const p = JSON.parse(m[1]!) as { position: number; end: number; start: number; speed: number; left: number | null }
    t.ok(p.position >= last && p.position <= 20 && p.end === 20 && p.start === 0 && p.speed >= 0, `a sane line: ${l}`)
    last = p.position
  }
  const quiet = firmware(dir, '--out', 'out2.wav', '--report', 'r2.json', '--progress-every', '0')
  t.equal(quiet.stderr, '', '--progress-every 0: no lines')
})

t.test('on a terminal: a bar redrawn in place with show time, speed and time left, cleared at the end', async (t) => {
  const dir = stage(t, 20)
  const cmd = [node, cli, 'process', '--array', 'array.json', '--in', 'in.wav', '--no-analysis', '--out', 'out.wav', '--report', 'r.json']
    .map((a) => `'${a}'`)
    .join(' ')
  // script(1) runs the command on a real PTY (so stderr.isTTY), and copies what it wrote.
  const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, 'exit 0')
  t.match(r.stdout, /\r0:\d\d\.\d \/ 0:20\.0 \[[#.]{24}\] \d+\.\dx real time, (\d+:\d\d|--) left\x1b\[K/, 'a bar: position / end, speed, time left')
  t.match(r.stdout, /\r\x1b\[Kprocessed in\.wav/, 'the bar is cleared before the summary')
  t.notMatch(r.stdout, /progress \{/, 'no machine lines on a terminal')
})

t.test('--from/--to process one part; the report speaks show time', async (t) => {
  const dir = stage(t, 10)
  const r = firmware(dir, '--out', 'out.wav', '--report', 'r.json', '--from', '0:02.5', '--to', '6')
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`)
  t.same(wavInfo(join(dir, 'out.wav')).frames, 3.5 * 48000, 'the output is the part: 3.5 s')
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport
  t.same(rep.input.part, { from: 2.5, to: 6 })
  t.equal(rep.input.seconds, 10, 'the recording is still described whole')
  t.ok(rep.doa.length > 20, 'a DOA track')
  t.ok(
    [...rep.doa].every((d) => d.t >= 2.5 && d.t <= 6),
    `DOA times in show time (${rep.doa.at(0)?.t} .. ${rep.doa.at(-1)?.t})`,
  )
  // The input meters are of the part: compare with the samples themselves.
  const { data } = readWav(join(dir, 'in.wav'))
  let peak = 0
  for (let i = 2.5 * 48000 * 8; i < 6 * 48000 * 8; i += 8) peak = Math.max(peak, Math.abs(data[i]!))
  t.equal(rep.meters.input[0]!.peakDb, Math.round(20 * Math.log10(peak) * 100) / 100, 'input meter of the part')

  const refused = (args: string[], pattern: RegExp) => {
    const x = firmware(dir, '--out', 'o.wav', '--report', 'o.json', ...args)
    t.equal(x.status, 1)
    t.match(x.stderr.trim(), pattern)
  }
  refused(['--from', '0:11'], /--from 0:11\.0 is past the end of in\.wav \(0:10\.0 long\) \[FW_ERR_BAD_OPTION\]$/)
  refused(['--from', '5', '--to', '4'], /--to 4 must come after --from 5 \[FW_ERR_BAD_OPTION\]$/)
  refused(['--from', '1:75'], /--from must be a time in seconds, M:SS or H:MM:SS, got "1:75" \[FW_ERR_BAD_OPTION\]$/)
})
