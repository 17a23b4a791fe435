// `firmware process` doing its job: a recording of a source at a known direction goes through the
// real engine; the beams land in OUT.wav and the DOA track and meters in REPORT.json.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { FirmwareError } from '../../firmware/errors.ts'
import { parseProcessArgs } from '../../firmware/process/options.ts'
import { type OfflineRunner, processRecording } from '../../firmware/process/process.ts'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { registerReportContributor } from '../../firmware/process/report.ts'
import { readWav, wavInfo, writeWav } from '../../firmware/wav/wav.ts'
import { channelRms, circularArray, planeWave } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

function firmware(cwd: string, ...args: string[]) {
  return spawnSync(node, [cli, 'process', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s[s.length >> 1]!
}

function angleError(a: number, b: number): number {
  const d = Math.abs(a - b) % 360
  return d > 180 ? 360 - d : d
}

const mics8 = circularArray(8, 0.1)

function stage(t: Test, azimuth: number, seconds = 2) {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics: mics8 }) })
  writeWav(
    join(dir, 'in.wav'),
    { channels: 8, sampleRate: 48000, format: 'pcm24' },
    planeWave({ mics: mics8, sampleRate: 48000, seconds, azimuth, level: 0.1, noise: 0.03, seed: 7 }),
  )
  return dir
}

t.test('beam 0 follows a source at 60 degrees; OUT holds 4 beams, the report its DOA track and meters', async (t) => {
  const dir = stage(t, 60)
  const r = firmware(dir, '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json')
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
  t.same(
    r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('progress {')),
    [],
    'nothing on stderr but progress lines',
  )
  t.match(r.stdout.trim(), /^processed in\.wav \(2\.0 s, 8 ch\) -> out\.wav \(4 beams, \d+ DOA estimates\), report report\.json, in [\d.]+ s$/)
  t.same(wavInfo(join(dir, 'out.wav')), { channels: 4, sampleRate: 48000, format: 'float32', frames: 96000 })
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ProcessReport
  t.ok(report.doa.length > 100, `a DOA track (${report.doa.length} estimates)`)
  for (const d of report.doa) {
    if (!(d.t >= 0 && d.t <= 2 && d.confidence >= 0 && d.confidence <= 1 && d.elevation >= -90 && d.elevation <= 90)) {
      t.fail(`DOA record out of range: ${JSON.stringify(d)}`)
      break
    }
  }
  const settled = [...report.doa].filter((d) => d.t > 0.25)
  const err = median(settled.map((d) => angleError(d.azimuth, 60)))
  t.ok(err < 2, `median azimuth error ${err.toFixed(2)} deg`)
  t.equal(report.meters.input.length, 8)
  t.equal(report.meters.output.length, 4)
  t.ok(
    report.meters.input.every((m) => m.rmsDb !== null && m.rmsDb > -25 && m.rmsDb < -15),
    'input RMS near -19 dBFS',
  )
  t.same(report.output.beams[0], { index: 0, beamformer: 'das', steer: 'doa' })
  t.same(report.output.beams[2], { index: 2, beamformer: 'das', steer: { azimuth: 180, elevation: 0 } })
  t.ok([report.classes, report.vad, report.recommendations].every(Array.isArray), "the analysers' sections are there")
  t.equal(report.analysisErrors, undefined, 'and every analyser ran')
  t.equal(report.engine.blocks, 96000 / 64)
  // The beam that follows the source is the loudest of the four.
  const rms = channelRms(readWav(join(dir, 'out.wav')).data, 4)
  t.ok(rms[0]! > Math.max(rms[1]!, rms[2]!, rms[3]!), `beam 0 is the loudest (${rms.map((v) => v.toFixed(4)).join(', ')})`)
  t.same(readdirSync(dir).sort(), ['array.json', 'in.wav', 'out.wav', 'report.json', 'report.labels.txt'], 'no temp files; the label track beside the report')
})

t.test('--steer at the source gives a louder beam than steered away from it', async (t) => {
  const dir = stage(t, 120, 1)
  const level = (steer: string, name: string) => {
    const r = firmware(
      dir,
      '--array',
      'array.json',
      '--in',
      'in.wav',
      '--out',
      `${name}.wav`,
      '--report',
      `${name}.json`,
      '--steer',
      steer,
      '--beams',
      '1',
      '--no-analysis',
    )
    t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
    const report = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as ProcessReport
    t.same(report.output.beams, [
      { index: 0, beamformer: 'das', steer: { azimuth: Number(steer.split(',')[0]) % 360, elevation: Number(steer.split(',')[1] ?? 0) } },
    ])
    return channelRms(readWav(join(dir, `${name}.wav`)).data, 1)[0]!
  }
  const at = level('120', 'at')
  const away = level('300,0', 'away')
  const gainDb = 20 * Math.log10(at / away)
  t.ok(gainDb > 2, `steered at the source it is ${gainDb.toFixed(1)} dB louder than steered away`)
})

t.test('--beamformer mvdr, --block 256 and --format pcm16 are honoured', async (t) => {
  const dir = stage(t, 200, 1)
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
    '--beamformer',
    'mvdr',
    '--block',
    '256',
    '--format',
    'pcm16',
    '--beams',
    '2',
    '--no-analysis',
  )
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
  t.same(wavInfo(join(dir, 'out.wav')), { channels: 2, sampleRate: 48000, format: 'pcm16', frames: 48000 })
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ProcessReport
  t.equal(report.blockSize, 256)
  t.equal(report.output.beams[0]!.beamformer, 'mvdr')
  t.equal(report.engine.blocks, Math.ceil(48000 / 256))
  const err = median([...report.doa].filter((d) => d.t > 0.25).map((d) => angleError(d.azimuth, 200)))
  t.ok(err < 2, `DOA still finds the source (median error ${err.toFixed(2)} deg)`)
})

t.test('without --array the channels are line feeds: passed through, no beams, no DOA', async (t) => {
  const dir = t.testdir({})
  const frames = 48000
  const data = new Float32Array(frames * 2)
  for (let i = 0; i < frames; i++) {
    data[2 * i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 48000)
    data[2 * i + 1] = 0.25 * Math.sin((2 * Math.PI * 1000 * i) / 48000)
  }
  writeWav(join(dir, 'feeds.wav'), { channels: 2, sampleRate: 48000, format: 'pcm16' }, data)
  const r = firmware(dir, '--in', 'feeds.wav', '--out', 'out.wav', '--report', 'report.json', '--no-analysis')
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
  t.match(r.stdout, /2 line feeds/)
  const out = readWav(join(dir, 'out.wav'))
  t.same(out.info, { channels: 2, sampleRate: 48000, format: 'float32', frames })
  const input = readWav(join(dir, 'feeds.wav')).data
  let worst = 0
  for (let i = 0; i < input.length; i++) worst = Math.max(worst, Math.abs(out.data[i]! - input[i]!))
  t.ok(worst < 1e-4, `the flat chain leaves the feeds as they were (largest difference ${worst.toExponential(1)})`)
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ProcessReport
  t.equal(report.array, null)
  t.same(report.doa, [])
  t.same(report.output.beams, [])
  t.ok(Math.abs(report.meters.output[0]!.peakDb! - 20 * Math.log10(0.5)) < 0.1, 'output meter reads the 0.5 peak')
})

t.test('a board profile, or a board name, can stand in for the array file', async (t) => {
  const dir = t.testdir({})
  const profile = JSON.parse(readFileSync(join(repo, 'board', 'sim', 'profile.json'), 'utf8')) as { array: { mics: Array<[number, number, number]> } }
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(profile))
  writeWav(join(dir, 'in.wav'), { channels: 8, sampleRate: 48000 }, planeWave({ mics: profile.array.mics, sampleRate: 48000, seconds: 0.5, azimuth: 30 }))
  const r = firmware(dir, '--array', 'profile.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'report.json', '--no-analysis')
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
  const byName = firmware(dir, '--array', 'sim', '--in', 'in.wav', '--out', 'out2.wav', '--report', 'report2.json', '--no-analysis')
  t.equal(byName.status, 0, `a board name works too (stderr: ${byName.stderr.trim()})`)
  t.equal((JSON.parse(readFileSync(join(dir, 'report2.json'), 'utf8')) as ProcessReport).array?.mics, 8)
})

t.test('analysers add their sections through a report contributor; a failing one does not fail the run', async (t) => {
  const dir = stage(t, 60, 0.5)
  const seen: boolean[] = []
  registerReportContributor('test-classes', async (ctx) => {
    // Analysers read the finished output, which becomes OUT.wav only once the report is written.
    seen.push(existsSync(ctx.outPath), existsSync(join(dir, 'out.wav')))
    return { classes: [{ t: 0, label: 'noise', confidence: ctx.input.channels / 10 }] }
  })
  registerReportContributor('test-broken', async () => {
    throw new Error('model missing\nsecond line')
  })
  const opts = parseProcessArgs([
    '--array',
    join(dir, 'array.json'),
    '--in',
    join(dir, 'in.wav'),
    '--out',
    join(dir, 'out.wav'),
    '--report',
    join(dir, 'report.json'),
  ])!
  const { report } = await processRecording(opts)
  t.same(report.classes, [{ t: 0, label: 'noise', confidence: 0.8 }])
  const skipped = await processRecording({ ...opts, analysis: false, report: join(dir, 'report-quick.json'), out: join(dir, 'out-quick.wav') })
  t.same([skipped.report.classes, skipped.report.analysisErrors], [[], undefined], '--no-analysis skips the contributors')
  rmSync(join(dir, 'report-quick.json'))
  rmSync(join(dir, 'out-quick.wav'))
  t.same(report.analysisErrors, [{ contributor: 'test-broken', message: 'model missing' }])
  t.same(seen, [true, false], 'the output is staged while the analysers run')
  t.same(readdirSync(dir).sort(), ['array.json', 'in.wav', 'out.wav', 'report.json', 'report.labels.txt'])
  const onDisk = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ProcessReport
  t.same(onDisk.classes, report.classes)
})

t.test('when the run fails after the audio is written, the output is taken back', async (t) => {
  const dir = stage(t, 60, 0.2)
  mkdirSync(join(dir, 'reports'))
  const opts = parseProcessArgs([
    '--array',
    join(dir, 'array.json'),
    '--in',
    join(dir, 'in.wav'),
    '--out',
    join(dir, 'out.wav'),
    '--report',
    join(dir, 'reports', 'r.json'),
  ])!
  // The engine finishes, then the report's folder disappears under us.
  const runner: OfflineRunner = async (job) => {
    writeWav(job.outPath, { channels: job.outputs, sampleRate: job.sampleRate }, new Float32Array(job.outputs * 10))
    rmSync(join(dir, 'reports'), { recursive: true })
    return { blocks: 1, doa: [], latencySamples: 0, blockTimeUs: { p50: 0, p99: 0, max: 0 }, overruns: 0, droppedDoa: 0, droppedMeters: 0, events: [] }
  }
  await t.rejects(processRecording(opts, { runner }), { code: 'FW_ERR_IO', message: /cannot write the report/ })
  t.same(readdirSync(dir).sort(), ['array.json', 'in.wav'], 'no OUT.wav, no report')
  const failing: OfflineRunner = async () => {
    throw new FirmwareError('FW_ERR_ENGINE', 'the engine stopped')
  }
  mkdirSync(join(dir, 'reports'))
  await t.rejects(processRecording(opts, { runner: failing }), { code: 'FW_ERR_ENGINE' })
  t.same(readdirSync(dir).sort(), ['array.json', 'in.wav', 'reports'])
  t.same(readdirSync(join(dir, 'reports')), [])
})
