// A plain TypeScript delay-and-sum (16-tap windowed-sinc fractional delays, like the native one) on
// the same 16-mic input, 4 beams, block 64, against the native delay-and-sum (dsp.beamform) and the
// native full chain. Shows what the C++ buys.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { loadNative } from '../../firmware/engine/native.ts'
import { readWav } from '../../firmware/wav/wav.ts'
import { type BenchRow, type BenchSection, boardArray, fixed, writeStageRecording } from './lib.ts'

const FS = 48000
const BLOCK = 64
const TAPS = 16
const C = 343
const BEAMS = [0, 90, 180, 270]

type Mics = Array<[number, number, number]>

/** Per-mic whole delay and taps that line a plane wave from `azDeg` up at the array origin. */
function design(mics: Mics, azDeg: number): { whole: Int32Array; taps: Float32Array[] } {
  const az = (azDeg * Math.PI) / 180
  const radius = Math.max(...mics.map((p) => Math.hypot(p[0], p[1], p[2])))
  const base = Math.ceil((radius / C) * FS) + TAPS / 2
  const whole = new Int32Array(mics.length)
  const taps = mics.map((p, k) => {
    // A mic nearer the source hears it early, so it is delayed more.
    const lead = ((Math.cos(az) * p[0] + Math.sin(az) * p[1]) / C) * FS
    const d = base + lead - (TAPS / 2 - 1)
    const w = Math.floor(d)
    const frac = d - w
    whole[k] = w
    const h = new Float32Array(TAPS)
    let sum = 0
    for (let j = 0; j < TAPS; j++) {
      const x = j - (TAPS / 2 - 1) - frac
      const win = 0.54 + 0.46 * Math.cos((Math.PI * x) / (TAPS / 2))
      h[j] = (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x)) * win
      sum += h[j]!
    }
    for (let j = 0; j < TAPS; j++) h[j]! /= sum
    return h
  })
  return { whole, taps }
}

/** Block-wise, one beam: out[n] = mean over mics of sum_j h[j] * x[n - whole - j]. */
function delayAndSum(channels: Float32Array[], mics: Mics, azDeg: number, out: Float32Array): void {
  const { whole, taps } = design(mics, azDeg)
  const m = channels.length
  const len = out.length
  const gain = 1 / m
  for (let start = 0; start < len; start += BLOCK) {
    const end = Math.min(len, start + BLOCK)
    out.fill(0, start, end)
    for (let k = 0; k < m; k++) {
      const x = channels[k]!
      const h = taps[k]!
      const w = whole[k]!
      for (let n = start; n < end; n++) {
        let acc = 0
        const i0 = n - w
        for (let j = 0; j < TAPS; j++) {
          const i = i0 - j
          if (i >= 0) acc += h[j]! * x[i]!
        }
        out[n]! += acc
      }
    }
    for (let n = start; n < end; n++) out[n]! *= gain
  }
}

const section: BenchSection = {
  name: 'ts vs native das',
  async run(ctx) {
    const array = boardArray('jetson-agx-rack')
    const seconds = ctx.quick ? 5 : 20
    const input = join(ctx.tmp, `chain-${array.mics.length}.wav`)
    if (!existsSync(input)) writeStageRecording(input, array.mics, seconds)
    const { info, data } = readWav(input)
    const m = info.channels
    const channels = Array.from({ length: m }, () => new Float32Array(info.frames))
    for (let i = 0; i < info.frames; i++) for (let k = 0; k < m; k++) channels[k]![i] = data[i * m + k]!
    const audioS = info.frames / FS
    ctx.log(`plain TypeScript delay-and-sum: ${m} mics, ${BEAMS.length} beams, ${fixed(audioS, 0)} s`)
    const out = new Float32Array(info.frames)
    let t0 = performance.now()
    for (const az of BEAMS) delayAndSum(channels, array.mics, az, out)
    const tsS = (performance.now() - t0) / 1000
    const dsp = loadNative().dsp as { beamform: (g: unknown, kind: string, az: number, el: number, ch: Float32Array[], block: number) => Float32Array }
    t0 = performance.now()
    for (const az of BEAMS) dsp.beamform(array, 'das', az, 0, channels, BLOCK)
    const nativeS = (performance.now() - t0) / 1000
    const rows: BenchRow[] = [
      {
        metric: `TypeScript DAS, ${m} mics x ${BEAMS.length} beams: CPU per second of audio`,
        value: fixed((tsS / audioS) * 100, 2),
        unit: '% core',
        note: 'one thread, wall time',
      },
      { metric: `native DAS (dsp.beamform), same work`, value: fixed((nativeS / audioS) * 100, 2), unit: '% core', note: 'includes the JS call and copies' },
      { metric: 'TypeScript / native DAS', value: fixed(tsS / nativeS, 1), unit: 'x' },
    ]
    return rows
  },
}
export default section
