// `firmware process --stems DIR` as a user runs it (the real CLI in a child process): a recording
// of two talkers on the sim board's 8-mic ring in, one WAV per tracked source plus the residual
// out, each talker's stem closer to that talker than to the other; a bad --stems refused with
// FW_ERR_STEMS and nothing written; Ctrl-C while the stems are made leaves none.
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import { writeStageRecording } from '../bench/lib.ts'
import { correlation, renderScene, ring, TEXTS } from './scene.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

function firmware(cwd: string, ...args: string[]) {
  const r = spawnSync(node, [cli, 'process', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const geometry = ring(8, 0.05)
const scene = renderScene(
  geometry,
  [
    { voice: 'en+m3', text: TEXTS[0]!, from: 30, to: 70 },
    { voice: 'en+f3', text: TEXTS[1]!, from: 200, to: 160 },
  ],
  3,
)

function recording(dir: string) {
  writeFileSync(join(dir, 'array.json'), JSON.stringify(geometry))
  const m = geometry.mics.length
  const len = scene.mics[0]!.length
  const data = new Float32Array(len * m)
  for (let c = 0; c < m; c++) for (let i = 0; i < len; i++) data[i * m + c] = scene.mics[c]![i]!
  writeWav(join(dir, 'in.wav'), { channels: m, sampleRate: 48000, format: 'float32' }, data)
}

t.test('--stems writes one WAV per track, each closest to its own talker, and the tracks in the report', async (t) => {
  const dir = t.testdir({})
  recording(dir)
  const r = firmware(dir, '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json', '--no-analysis', '--stems', 'stems')
  t.equal(r.status, 0, `exits 0 (${r.stderr.trim()})`)
  const files = readdirSync(join(dir, 'stems')).sort()
  t.ok(files.includes('residual.wav'), 'residual.wav written')
  t.notOk(
    files.some((f) => f.includes('partial')),
    'no staged file left',
  )
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as {
    tracks: Array<{ id: number; start: number; end: number; azimuth: Array<[number, number]> }>
  }
  t.same(files.filter((f) => f.startsWith('track-')).sort(), report.tracks.map((k) => `track-${k.id}.wav`).sort(), 'one WAV per track in the report')
  const stems = new Map(report.tracks.map((k) => [k.id, readWav(join(dir, 'stems', `track-${k.id}.wav`)).data as Float32Array]))
  // Each talker: the stem that correlates best with it, and how much better than with the other talker.
  const best = scene.references.map((ref, i) => {
    let id = -1
    let c = -1
    for (const [k, x] of stems) {
      const v = correlation(x, ref)
      if (v > c) {
        c = v
        id = k
      }
    }
    const other = correlation(stems.get(id)!, scene.references[1 - i]!)
    t.comment(`talker ${i}: track ${id}, correlation ${c.toFixed(2)} with it, ${other.toFixed(2)} with the other talker`)
    t.ok(c > other + 0.2, `talker ${i}: its stem (track ${id}) correlates ${c.toFixed(2)} with it, more than ${other.toFixed(2)} + 0.2 with the other`)
    const track = report.tracks.find((k) => k.id === id)!
    const mid = track.azimuth[track.azimuth.length >> 1]!
    t.ok(mid[1] >= 0 && mid[1] < 360 && mid[0] >= track.start && mid[0] <= track.end, `track ${id}: azimuth path inside its life`)
    return id
  })
  t.not(best[0], best[1], 'the two talkers are in different stems')
})

t.test('--stems with --from/--to: stems as long as the part, track times in show time', async (t) => {
  const dir = t.testdir({})
  recording(dir)
  const r = firmware(
    dir,
    '--array',
    'array.json',
    '--in',
    'in.wav',
    '--out',
    'out.wav',
    '--report',
    'report.json',
    '--no-analysis',
    '--stems',
    'part',
    '--from',
    '1',
    '--to',
    '2.5',
  )
  t.equal(r.status, 0, `exits 0 (${r.stderr.trim()})`)
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { tracks: Array<{ id: number; start: number; end: number }> }
  t.ok(report.tracks.length >= 1, `${report.tracks.length} tracks`)
  for (const k of report.tracks) {
    t.ok(k.start >= 1 && k.end <= 2.5, `track ${k.id}: ${k.start}-${k.end} s inside the part (show time)`)
    t.equal(readWav(join(dir, 'part', `track-${k.id}.wav`)).info.frames, 1.5 * 48000, `track ${k.id}: as long as the part`)
  }
})

t.test('a bad --stems is refused with FW_ERR_STEMS and nothing is written', async (t) => {
  const dir = t.testdir({ 'a-file': 'not a folder' })
  recording(dir)
  const before = readdirSync(dir).sort()
  for (const [stems, why] of [
    ['a-file', /is a file/],
    [join('a-file', 'sub'), /not writable \(ENOTDIR\)/],
    // Not yet there: the stems folder would be created where the output goes.
    ['out.wav', /--stems out.wav is --out; give a folder of its own/],
    ['in.wav', /is --in/],
  ] as const) {
    const r = firmware(dir, '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json', '--no-analysis', '--stems', stems)
    t.equal(r.status, 1, `--stems ${stems}: exits 1`)
    t.match(r.stderr.trim(), /\[FW_ERR_STEMS\]$/, `--stems ${stems}: carries FW_ERR_STEMS`)
    t.match(r.stderr, why)
    t.same(readdirSync(dir).sort(), before, 'no output, report or stems left behind')
  }
  // A 15-minute 16-mic recording (a sparse file: the header and the size, no audio on disk).
  const frames = 15 * 60 * 48000
  const header = Buffer.alloc(44)
  header.write('RIFF', 0)
  header.writeUInt32LE(36 + frames * 32, 4)
  header.write('WAVEfmt ', 8)
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20)
  header.writeUInt16LE(16, 22)
  header.writeUInt32LE(48000, 24)
  header.writeUInt32LE(48000 * 32, 28)
  header.writeUInt16LE(32, 32)
  header.writeUInt16LE(16, 34)
  header.write('data', 36)
  header.writeUInt32LE(frames * 32, 40)
  writeFileSync(join(dir, 'long16.wav'), header)
  truncateSync(join(dir, 'long16.wav'), 44 + frames * 32)
  writeFileSync(join(dir, 'array16.json'), JSON.stringify(ring(16, 0.1)))
  const long = firmware(
    dir,
    '--array',
    'array16.json',
    '--in',
    'long16.wav',
    '--out',
    'out.wav',
    '--report',
    'report.json',
    '--no-analysis',
    '--stems',
    'stems',
  )
  t.match(long.stderr, /--stems works on parts up to 14 minutes with 16 mics .*--from and --to \[FW_ERR_STEMS\]/, 'a part too long to hold: refused')
  t.same(readdirSync(dir).sort(), [...before, 'array16.json', 'long16.wav'].sort(), 'nothing written')
  rmSync(join(dir, 'long16.wav'))
  rmSync(join(dir, 'array16.json'))
  const loop = firmware(dir, '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json', '--loop-gain', '0', '--stems', 'stems')
  t.match(loop.stderr, /--stems does not go with --loop-gain.*\[FW_ERR_USAGE\]/, 'with --loop-gain: refused')
  const noArray = firmware(dir, '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json', '--no-analysis', '--stems', 'stems')
  t.match(noArray.stderr, /needs --array.*\[FW_ERR_STEMS\]/, 'without an array: refused')
  t.same(readdirSync(dir).sort(), before, 'nothing written')
})

t.test('Ctrl-C while the stems are made leaves no stem, output or report', async (t) => {
  const dir = t.testdir({})
  writeFileSync(join(dir, 'array.json'), JSON.stringify(geometry))
  writeStageRecording(join(dir, 'long.wav'), geometry.mics, 20, { format: 'pcm16' })
  const child = spawn(
    node,
    [
      cli,
      'process',
      '--array',
      'array.json',
      '--in',
      'long.wav',
      '--out',
      'out.wav',
      '--report',
      'r.json',
      '--no-analysis',
      '--stems',
      'stems',
      '--progress-every',
      '0.05',
    ],
    { cwd: dir },
  )
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  // The stems are made after the engine has run to the end (about 3 s for these 20 s; the engine
  // takes 0.1-0.3 s for its last 3 s): interrupt half a second after it passes 17 s.
  const atEnd = new Promise<boolean>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      for (const line of stderr.split('\n')) {
        const m = /^progress (\{.*\})$/.exec(line)
        if (m && (JSON.parse(m[1]!) as { position: number; end: number }).position >= 17) resolve(true)
      }
    })
    child.on('exit', () => resolve(false))
  })
  t.ok(await atEnd, 'the engine reached the end of the recording')
  await new Promise((r) => setTimeout(r, 500))
  child.kill('SIGINT')
  t.equal(await exited, 1, 'exits 1')
  t.match(
    stderr,
    /interrupted by SIGINT while making the stems; no output was written \[FW_ERR_INTERRUPTED\]/,
    'says it was interrupted while making the stems',
  )
  t.same(readdirSync(dir).sort(), ['array.json', 'long.wav', 'stems'], 'no output or report')
  t.same(readdirSync(join(dir, 'stems')), [], 'no stem, staged or final')
})
