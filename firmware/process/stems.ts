// `firmware process --stems DIR` (issue 17 item 1): the localiser, the tracker and a beam +
// post-filter per tracked source over the recording (firmware/mix/separation.ts), written as one
// WAV per track id (track-<id>.wav) plus residual.wav, and the tracks for the report. The stems
// are staged beside their final names and moved into place only when the run commits, with the
// report; on any failure or Ctrl-C none is left.
import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { ArrayGeometry } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { localise, separateTracks, type TrackSummary, trackFrames } from '../mix/separation.ts'
import { readWav, type WavSource, writeWav } from '../wav/wav.ts'

/** Refuses a --stems folder that cannot take the stems, before any audio is processed. */
export function checkStemsDir(dir: string, geometry: ArrayGeometry | null): void {
  if (!geometry) throw new FirmwareError('FW_ERR_STEMS', `process: --stems needs --array (stems are separated from the mics of an array)`)
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
  const { info, data } = readWav(inPath)
  const m = info.channels
  const len = Math.max(0, Math.min(info.frames, to) - from)
  const mics = Array.from({ length: m }, (_, c) => {
    const x = new Float32Array(len)
    for (let i = 0; i < len; i++) x[i] = data[(from + i) * m + c]!
    return x
  })
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
