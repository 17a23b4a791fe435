// `firmware process --stems DIR` (issue 17 item 1): the localiser, the tracker and a beam +
// post-filter per tracked source over the recording (firmware/mix/separation.ts), written as one
// WAV per track id (track-<id>.wav) plus residual.wav, and the tracks for the report. The stems
// are staged beside their final names and moved into place only when the run commits, with the
// report; on any failure or Ctrl-C none is left.
import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ArrayGeometry } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { localise, separateTracks, type TrackSummary, trackFrames } from '../mix/separation.ts'
import { type WavInfo, WavReader, type WavSource, writeWav } from '../wav/wav.ts'
import { labelTrackPath } from './labels.ts'

/**
 * The part is held in memory while the stems are made: the mics, four beams and four stems and
 * the residual, as 32-bit floats. Parts larger than this are refused (about 14 minutes at 16 mics,
 * 20 at 8) until the stems stream.
 */
const STEMS_BYTES = 4 * 1024 ** 3

/**
 * Refuses a --stems folder that cannot take the stems, or a part too long to make them from,
 * before any audio is processed.
 */
export function checkStemsDir(
  dir: string,
  geometry: ArrayGeometry | null,
  info?: WavInfo,
  range: { from?: number; to?: number; out?: string; report?: string; array?: string; in?: string; inputs?: string[] } = {},
): void {
  if (!geometry) throw new FirmwareError('FW_ERR_STEMS', `process: --stems needs --array (stems are separated from the mics of an array)`)
  // The folder must not be a path the run reads or writes (it would be created as a folder there).
  const taken: Array<[string | undefined, string]> = [
    [range.out, '--out'],
    [range.report, '--report'],
    [range.report === undefined ? undefined : labelTrackPath(range.report), 'the label track'],
    [range.array, '--array'],
    ...(range.inputs?.length ? range.inputs : [range.in]).map((p): [string | undefined, string] => [p, '--in']),
  ]
  for (const [p, what] of taken) {
    if (p !== undefined && resolve(p) === resolve(dir)) throw new FirmwareError('FW_ERR_STEMS', `process: --stems ${dir} is ${what}; give a folder of its own`)
  }
  if (info) {
    const from = Math.round((range.from ?? 0) * info.sampleRate)
    const to = range.to === undefined ? info.frames : Math.min(info.frames, Math.round(range.to * info.sampleRate))
    const perFrame = 4 * (info.channels + 9)
    if ((to - from) * perFrame > STEMS_BYTES) {
      const minutes = Math.floor(STEMS_BYTES / perFrame / info.sampleRate / 60)
      throw new FirmwareError(
        'FW_ERR_STEMS',
        `process: --stems works on parts up to ${minutes} minutes with ${info.channels} mics (the part is held in memory); choose a part with --from and --to`,
      )
    }
  }
  let st: ReturnType<typeof statSync> | null = null
  try {
    st = statSync(dir)
  } catch {
    st = null
  }
  if (st && !st.isDirectory()) throw new FirmwareError('FW_ERR_STEMS', `process: --stems ${dir} is a file; give a folder (it is created if missing)`)
  try {
    if (!st) mkdirSync(dir, { recursive: true })
    accessSync(dir, constants.W_OK)
  } catch (e) {
    throw new FirmwareError('FW_ERR_STEMS', `process: --stems ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

export interface StagedStems {
  tracks: TrackSummary[]
  /** Moves the stems into place. */
  commit(): void
  /** Removes the staged stems. */
  discard(): void
}

/**
 * Localises, tracks and separates the input part [from, to) and stages the stems in `dir`. Between
 * steps it lets the event loop run, so a Ctrl-C that came during one is seen (and nothing staged
 * is left).
 */
export async function stageStems(
  dir: string,
  inPath: WavSource,
  geometry: ArrayGeometry,
  from: number,
  to: number,
  signal?: AbortSignal,
): Promise<StagedStems> {
  const check = async () => {
    await new Promise((resolve) => setImmediate(resolve))
    if (signal?.aborted)
      throw new FirmwareError('FW_ERR_INTERRUPTED', `process: interrupted by ${String(signal.reason)} while making the stems; no output was written`)
  }
  // Only the part, read in blocks straight into one array per mic.
  const reader = new WavReader(inPath)
  const info = reader.info
  const m = info.channels
  const len = Math.max(0, Math.min(info.frames, to) - from)
  const mics = Array.from({ length: m }, () => new Float32Array(len))
  try {
    reader.seek(from)
    const block = new Float32Array(4800 * m)
    for (let at = 0; at < len; ) {
      const n = Math.min(reader.read(block), len - at)
      if (n <= 0) break
      for (let c = 0; c < m; c++) {
        const x = mics[c]!
        for (let i = 0; i < n; i++) x[at + i] = block[i * m + c]!
      }
      at += n
    }
  } finally {
    reader.close()
  }
  await check()
  const scene = trackFrames(localise(geometry, mics))
  await check()
  const sep = separateTracks(geometry, mics, scene)
  await check()
  const offset = from / info.sampleRate
  const tracks = scene.summary.map((s) => ({
    ...s,
    start: round(s.start + offset),
    end: round(s.end + offset),
    azimuth: s.azimuth.map(([t, a]): [number, number] => [round(t + offset), a]),
  }))
  const staged: Array<[string, string]> = []
  const discard = () => {
    for (const [tmp] of staged) rmSync(tmp, { force: true })
  }
  try {
    const put = (name: string, x: Float32Array) => {
      if (signal?.aborted)
        throw new FirmwareError('FW_ERR_INTERRUPTED', `process: interrupted by ${String(signal.reason)} while writing the stems; no output was written`)
      const final = join(dir, name)
      const tmp = `${final}.${process.pid}-staged.partial`
      staged.push([tmp, final])
      writeWav(tmp, { channels: 1, sampleRate: info.sampleRate, format: 'float32' }, x)
    }
    for (const [id, x] of sep.stems) put(`track-${id}.wav`, x)
    put('residual.wav', sep.residual)
    await check()
  } catch (e) {
    discard()
    throw e
  }
  return {
    tracks,
    commit: () => {
      for (const [tmp, final] of staged) renameSync(tmp, final)
    },
    discard,
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000
