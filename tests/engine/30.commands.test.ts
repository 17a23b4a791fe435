// Commands take effect on the audio: file-backend runs (unpaced, exact) measured in the output.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { EngineOptions } from '../../firmware/engine/engine.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'

const sr = 48000

/** Two line feeds: a 1 kHz sine on input 0, a 440 Hz sine on input 1, both at 0.25 peak. */
function writeInput(path: string, seconds: number): void {
  const frames = Math.round(seconds * sr)
  const data = new Float32Array(frames * 2)
  for (let i = 0; i < frames; i++) {
    data[2 * i] = 0.25 * Math.sin((2 * Math.PI * 1000 * i) / sr)
    data[2 * i + 1] = 0.25 * Math.sin((2 * Math.PI * 440 * i) / sr)
  }
  writeWav(path, { channels: 2, sampleRate: sr }, data)
}

function channel(data: Float32Array | Float64Array, channels: number, ch: number, from: number, to: number): number[] {
  const out: number[] = []
  for (let i = from; i < to; i++) out.push(data[i * channels + ch]!)
  return out
}

const rmsDb = (x: number[]) => 10 * Math.log10(x.reduce((s, v) => s + v * v, 0) / x.length)

/** Runs the file backend over `input` with `setup` applied before the first block. */
async function run(dir: string, name: string, setup: (e: Engine) => void, extra: Partial<EngineOptions> = {}) {
  const input = join(dir, 'in.wav')
  const out = join(dir, `${name}.wav`)
  const e = new Engine({ backend: 'file', inputs: 2, outputs: 2, heartbeatTimeoutMs: 0, overrunBlocks: 0, file: { in: input, out }, ...extra })
  setup(e)
  e.start()
  await e.finished()
  const events = e.poll().events
  e.stop()
  return { ...readWav(out), events }
}

t.test('output gain and input trim change the measured output level', async (t) => {
  const dir = t.testdir()
  writeInput(join(dir, 'in.wav'), 1)
  const plain = await run(dir, 'plain', () => {})
  const gained = await run(dir, 'gained', (e) => {
    e.setOutputGain(0, -6)
    e.setInputTrim(1, -12)
  })
  t.equal(gained.info.frames, 48000, 'the output is as long as the input')
  t.ok(
    gained.events.some((ev) => ev.type === 'end-of-input'),
    'end-of-input is reported',
  )
  const late = [24000, 48000] as const
  const p0 = rmsDb(channel(plain.data, 2, 0, ...late)),
    g0 = rmsDb(channel(gained.data, 2, 0, ...late))
  const p1 = rmsDb(channel(plain.data, 2, 1, ...late)),
    g1 = rmsDb(channel(gained.data, 2, 1, ...late))
  t.ok(Math.abs(p0 - rmsDb(Array(100).fill(0.25 / Math.SQRT2))) < 0.05, `unity path keeps the level (${p0.toFixed(2)} dB)`)
  t.ok(Math.abs(g0 - p0 + 6) < 0.05, `output 0 is 6 dB down (${(g0 - p0).toFixed(3)} dB)`)
  t.ok(Math.abs(g1 - p1 + 12) < 0.05, `input 1 trimmed 12 dB shows on output 1 (${(g1 - p1).toFixed(3)} dB)`)
})

t.test('a gain change mid-stream is smoothed, not stepped', async (t) => {
  const dir = t.testdir()
  writeInput(join(dir, 'in.wav'), 0.5)
  // -40 dB applied before the first block: the first samples glide down instead of jumping.
  const r = await run(dir, 'glide', (e) => e.setOutputGain(0, -40))
  const x = channel(r.data, 2, 0, 0, 24000)
  const early = Math.max(...x.slice(0, 48).map(Math.abs))
  const late = Math.max(...x.slice(12000).map(Math.abs))
  t.ok(early > late * 5, `the level glides (first ms peak ${early.toFixed(4)}, settled ${late.toFixed(4)})`)
  t.ok(Math.abs(20 * Math.log10(late / 0.25) + 40) < 0.2, 'and settles at -40 dB')
})

t.test('EQ and compressor commands shape the output', async (t) => {
  const dir = t.testdir()
  writeInput(join(dir, 'in.wav'), 1)
  const plain = await run(dir, 'plain', () => {})
  const shaped = await run(dir, 'shaped', (e) => {
    e.setEq(0, 0, { type: 'highpass', freqHz: 4000, gainDb: 0, q: 0.7071, enabled: true })
    e.setCompressor(1, { thresholdDb: -30, ratio: 1000, kneeDb: 0, attackMs: 1, releaseMs: 50, makeupDb: 0, enabled: true })
  })
  const late = [24000, 48000] as const
  const hp = rmsDb(channel(shaped.data, 2, 0, ...late)) - rmsDb(channel(plain.data, 2, 0, ...late))
  t.ok(hp < -15, `a 4 kHz high-pass takes a 1 kHz tone down (${hp.toFixed(1)} dB)`)
  const peak = Math.max(...channel(shaped.data, 2, 1, ...late).map(Math.abs))
  t.ok(20 * Math.log10(peak) < -27, `a -30 dB limiter holds a -12 dBFS tone near -30 dBFS (peak ${(20 * Math.log10(peak)).toFixed(1)} dBFS)`)
})

t.test('a run stopped before the end leaves no output file', async (t) => {
  const dir = t.testdir()
  writeInput(join(dir, 'in.wav'), 1)
  const out = join(dir, 'partial.wav')
  // maxBlocks ends the audio thread after 10 of the file's 750 blocks, as a stop() would.
  const e = new Engine({
    backend: 'file',
    inputs: 2,
    outputs: 2,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
    maxBlocks: 10,
    file: { in: join(dir, 'in.wav'), out },
  })
  e.start()
  await e.finished()
  t.equal(e.blockCounter(), 10, 'the run ended early')
  e.stop()
  t.notOk(existsSync(out), 'no partial output')
})

t.test('every block size and rate runs, and a file that is not a whole number of blocks comes out whole', async (t) => {
  const dir = t.testdir()
  for (const [rate, block] of [
    [44100, 1024],
    [96000, 32],
    [48000, 100],
  ] as const) {
    const frames = Math.round(rate * 0.37)
    const data = new Float32Array(frames * 2)
    for (let i = 0; i < data.length; i++) data[i] = 0.5 * Math.sin(i * 0.01)
    const input = join(dir, `in-${rate}-${block}.wav`),
      out = join(dir, `out-${rate}-${block}.wav`)
    writeWav(input, { channels: 2, sampleRate: rate }, data)
    const e = new Engine({
      backend: 'file',
      sampleRate: rate,
      blockSize: block,
      inputs: 2,
      outputs: 2,
      heartbeatTimeoutMs: 0,
      overrunBlocks: 0,
      file: { in: input, out },
    })
    e.start()
    await e.finished()
    const s = e.stats()
    e.stop()
    t.equal(s.blocks, Math.ceil(frames / block), `${rate} Hz, ${block}-frame blocks: ${s.blocks} blocks`)
    t.ok(Math.abs(s.blockPeriodUs - (1e6 * block) / rate) < 1e-6, 'the block period follows rate and size')
    const got = readWav(out)
    t.equal(got.info.frames, frames, 'the output is exactly as long as the input')
    let worst = 0
    for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - data[i]!))
    t.ok(worst < 1e-6, `a flat chain passes the input through (worst error ${worst.toExponential(1)})`)
  }
})

t.test('sequential mode runs the same chain as the audio thread, sample for sample', async (t) => {
  const dir = t.testdir()
  const mics = Array.from({ length: 4 }, (_, m) => [0.05 * Math.cos((m * Math.PI) / 2), 0.05 * Math.sin((m * Math.PI) / 2), 0] as [number, number, number])
  const frames = 24000
  const data = new Float32Array(frames * 4)
  let seed = 1
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0
    data[i] = 0.2 * (seed / 2 ** 32 - 0.5) + 0.1 * Math.sin(i * 0.003)
  }
  writeWav(join(dir, 'array.wav'), { channels: 4, sampleRate: sr }, data)
  const opts = (out: string): Partial<EngineOptions> => ({
    backend: 'file',
    array: { sampleRate: sr, mics },
    outputs: 4,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
    beams: [{ auto: true }, { kind: 'mvdr', azimuth: 45 }, { azimuth: 180 }, { azimuth: 270 }],
    file: { in: join(dir, 'array.wav'), out: join(dir, out) },
  })
  const setup = (e: Engine) => {
    e.setEq(0, 0, { type: 'peak', freqHz: 2000, gainDb: 6, q: 1, enabled: true })
    e.setCompressor(1, { thresholdDb: -30, ratio: 4, kneeDb: 6, attackMs: 5, releaseMs: 100, makeupDb: 2, enabled: true })
  }
  const threaded = new Engine(opts('threaded.wav'))
  setup(threaded)
  threaded.start()
  await threaded.finished()
  const threadedDoa = threaded.poll().doa
  threaded.stop()
  const sequential = new Engine(opts('sequential.wav'))
  setup(sequential)
  let ran = 0,
    step
  while ((step = sequential.runSequential(100)) > 0) ran += step
  const sequentialDoa = sequential.poll().doa
  sequential.stop()
  t.equal(ran, Math.ceil(frames / 64), 'sequential mode ran every block')
  const a = readWav(join(dir, 'threaded.wav')).data,
    b = readWav(join(dir, 'sequential.wav')).data
  t.equal(a.length, b.length, 'same length')
  let same = true
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i]) {
      same = false
      break
    }
  t.ok(same, 'bit-identical outputs')
  t.same(sequentialDoa, threadedDoa, 'and the same DOA track')
  t.throws(() => sequential.start(), { code: 'FW_ERR_ENGINE' }, 'a sequential engine is not started afterwards')
})

t.test('switching a beam between delay-and-sum and MVDR mid-stream does not click', async (t) => {
  const dir = t.testdir()
  const mics = Array.from({ length: 4 }, (_, m) => [0.05 * Math.cos((m * Math.PI) / 2), 0.05 * Math.sin((m * Math.PI) / 2), 0] as [number, number, number])
  const frames = 48000,
    amp = 0.3,
    f = 300
  const data = new Float32Array(frames * 4)
  // A plane wave from azimuth 0: mic c hears it x_c / c earlier.
  for (let i = 0; i < frames; i++) for (let c = 0; c < 4; c++) data[i * 4 + c] = amp * Math.sin((2 * Math.PI * f * (i + (mics[c]![0] / 343) * sr)) / sr)
  writeWav(join(dir, 'wave.wav'), { channels: 4, sampleRate: sr }, data)
  const out = join(dir, 'switched.wav')
  const e = new Engine({
    backend: 'file',
    array: { sampleRate: sr, mics },
    outputs: 1,
    beams: [{ azimuth: 0 }],
    doa: false,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
    file: { in: join(dir, 'wave.wav'), out },
  })
  e.runSequential(200)
  e.setBeamformer(0, 'mvdr')
  e.runSequential(200)
  e.setBeamformer(0, 'das')
  while (e.runSequential(100) > 0) {
    /* to the end */
  }
  e.stop()
  const y = readWav(out).data
  let worst = 0
  for (let i = 2000; i < frames; i++) worst = Math.max(worst, Math.abs(y[i]! - y[i - 1]!))
  const own = (amp * 2 * Math.PI * f) / sr
  // The two beamformers' outputs differ by MVDR's 512-sample frame delay, so the fade blends two
  // phases of the tone: a few percent over the tone's own slope, far from a click.
  t.ok(worst < own * 1.1, `largest step ${worst.toFixed(4)} against the tone's own ${own.toFixed(4)}`)
  let run = 0,
    longest = 0
  for (let i = 2000; i < frames; i++) {
    run = Math.abs(y[i]!) < 1e-3 ? run + 1 : 0
    longest = Math.max(longest, run)
  }
  t.ok(longest < 10, `and no gap while the new beamformer fills its pipeline (longest near-silent run ${longest} samples)`)
})
