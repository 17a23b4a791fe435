// The benchmark's shared pieces. A section is one file `tests/bench/<area>.bench.ts` whose default
// export is a BenchSection; run.ts finds and runs them all and prints one table. Figures only:
// a section never passes or fails, it reports (and a target column says what we aim for).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type WavFormat, WavWriter } from '../../firmware/wav/wav.ts'
import { rng } from '../helpers/rng.ts'

export { rng }

export interface BenchRow {
  /** What was measured, e.g. "audio-thread CPU per second of audio". */
  metric: string
  /** The figure, already rounded for printing (a number or a short text). */
  value: number | string
  /** Unit after the value: "%", "ms", "samples", "x", "s". */
  unit?: string
  /** The target the issue sets, as text ("< 5 %"), if any. */
  target?: string
  /** One short note (conditions, caveats). */
  note?: string
}

export interface BenchContext {
  /** A scratch folder for this run, removed afterwards. */
  tmp: string
  repoRoot: string
  /** Shorter runs (BENCH_QUICK=1 or --quick): figures are noisier. */
  quick: boolean
  /** Writes a progress line to stderr (the table goes to stdout). */
  log(msg: string): void
}

export interface BenchSection {
  /** Short name shown in the table's first column and used to pick sections on the command line. */
  name: string
  run(ctx: BenchContext): Promise<BenchRow[]>
}

export const repoRoot = join(import.meta.dirname, '..', '..')

/** Array geometry of a board profile (sim: 8 mics, jetson-agx-rack: 16). */
export function boardArray(board: string): { sampleRate: number; mics: Array<[number, number, number]> } {
  const p = JSON.parse(readFileSync(join(repoRoot, 'board', board, 'profile.json'), 'utf8')) as {
    array: { sampleRate: number; mics: Array<[number, number, number]> }
  }
  return p.array
}

/**
 * Writes a stage recording block by block (so 60 s of 16 channels never sits in memory): a noise
 * source from `azimuth` (whole-sample delays, enough for load figures) plus sensor noise per mic.
 */
export function writeStageRecording(
  path: string,
  mics: Array<[number, number, number]>,
  seconds: number,
  opts: { azimuth?: number; format?: WavFormat; sampleRate?: number } = {},
): void {
  const fs = opts.sampleRate ?? 48000
  const m = mics.length
  const az = ((opts.azimuth ?? 60) * Math.PI) / 180
  const delays = mics.map((p) => Math.round((-(Math.cos(az) * p[0] + Math.sin(az) * p[1]) / 343) * fs) + 16)
  const rand = rng(42)
  const hist = new Float32Array(64)
  const block = 4800
  const w = new WavWriter(path, { channels: m, sampleRate: fs, format: opts.format ?? 'pcm24' })
  const buf = new Float32Array(block * m)
  const total = Math.round(seconds * fs)
  const src = new Float32Array(block + 64)
  try {
    for (let done = 0; done < total; done += block) {
      const n = Math.min(block, total - done)
      // src[0..63] carries the tail of the previous block, for the delays.
      src.set(hist, 0)
      for (let i = 0; i < n; i++) src[64 + i] = (rand() * 2 - 1) * 0.2
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < m; k++) buf[i * m + k] = src[64 + i - delays[k]!]! + (rand() * 2 - 1) * 0.01
      }
      hist.set(src.subarray(n, n + 64))
      w.write(n === block ? buf : buf.subarray(0, n * m))
    }
    w.close()
  } catch (e) {
    w.abort()
    throw e
  }
}

/** Nanoseconds of CPU a thread of this process has used (schedstat), or null when unavailable. */
export function threadCpuNs(tid: string): number | null {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0])
  } catch {
    return null
  }
}

export function threadIds(): string[] {
  return existsSync('/proc/self/task') ? readdirSync('/proc/self/task') : []
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export function fixed(v: number, places = 2): string {
  return Number.isFinite(v) ? v.toFixed(places) : String(v)
}
