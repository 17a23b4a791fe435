// The real engine behind `firmware process`: the file backend, unpaced, run to the end of the input
// on its own audio thread while this side drains the DOA and event rings.

import { rmSync } from 'node:fs'
import type { EnginePoll } from '../engine/engine.ts'
import { Engine } from '../engine/engine.ts'
import { FirmwareError } from '../errors.ts'
import { formatShowTime } from './options.ts'
import type { OfflineJob, OfflineResult, RunHooks } from './process.ts'
import { DoaTrack } from './report.ts'

const POLL_MS = 5

function round(v: number, places: number): number {
  const f = 10 ** places
  return Math.round(v * f) / f
}

/** Runs the job to the end of the input; an abort stops the engine (no output) and throws FW_ERR_INTERRUPTED. */
export async function runOffline(job: OfflineJob, signal?: AbortSignal, hooks: RunHooks = {}): Promise<OfflineResult> {
  const { onFeatures, onProgress } = hooks
  const engine = new Engine({
    backend: 'file',
    sampleRate: job.sampleRate,
    blockSize: job.blockSize,
    inputs: job.inputs,
    outputs: job.outputs,
    dryMap: job.dryMap,
    array: job.mics.length > 0 ? { sampleRate: job.sampleRate, mics: job.mics } : undefined,
    doa: job.doa,
    // Without an array there are no beams; the engine's default beam list is then ignored.
    ...(job.beams.length > 0 ? { beams: job.beams.map((b) => ({ kind: b.kind, azimuth: b.azimuth, elevation: b.elevation, auto: b.autoSteer })) } : {}),
    file: { in: job.inPath, out: job.outPath, format: job.outFormat, from: job.fromFrame, ...(job.toFrame >= 0 ? { to: job.toFrame } : {}) },
    // Offline there is no control plane to go stale and no deadline to miss: no native bypass.
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
    overrunBlocks: 0,
    realtimePriority: false,
    // The streaming analysers see every feature: the audio thread waits for them instead of dropping.
    losslessFeatures: onFeatures !== undefined,
  })
  const doa = new DoaTrack()
  const events: OfflineResult['events'] = []
  const blockSeconds = job.blockSize / job.sampleRate
  const take = (p: EnginePoll) => {
    for (const d of p.doa) {
      doa.push(round(d.t, 4), round(d.azimuth, 2), round(d.elevation, 2), round(d.confidence, 3))
    }
    for (const e of p.events) {
      // Offline there is no deadline, so a slow block (overrun) is not news; bypasses and device errors are.
      if (e.type === 'processed' || e.type === 'end-of-input' || e.type === 'overrun') continue
      const ev: OfflineResult['events'][number] = { t: round(e.block * blockSeconds, 4), event: e.type }
      if (e.type === 'native-bypass') ev.detail = e.cause
      else if (e.type === 'xrun') ev.detail = `${e.count} xruns so far`
      events.push(ev)
    }
  }
  // Features go to the analysers; if they fail, the ring is still drained (the engine waits for
  // room) and the failure is reported after the run.
  let feed = onFeatures
  let featureError: unknown
  /** One poll to the analysers; false when the ring was empty. */
  const drainFeatures = async () => {
    // Views of one buffer the next poll refills (no garbage per poll): every feed is awaited
    // before the next poll, and a contributor copies what it keeps (StreamingContributor.feed).
    // A poll takes at most 1 MB of records; the rest waits for the next.
    const f = engine.pollFeatures({ reuse: true })
    const empty = f.logMel.length === 0 && f.vad.length === 0 && f.spectra.length === 0
    if (!feed || empty) return !empty || (f.howl?.length ?? 0) > 0
    try {
      await feed(f)
    } catch (e) {
      featureError = e
      feed = undefined
    }
    return true
  }
  engine.start()
  // Whether the audio thread reached the end by itself (then stop() commits OUT).
  let completed = false
  try {
    while (!(completed = engine.stats().finished) && !signal?.aborted) {
      take(engine.poll())
      if (onFeatures) await drainFeatures()
      onProgress?.(engine.blockCounter() * job.blockSize)
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
    // The audio thread is done: what is left in the ring, to the last record.
    if (completed && onFeatures) while (await drainFeatures()) {}
  } finally {
    // stop() joins the audio thread and commits OUT (only when the whole input was processed).
    engine.stop()
  }
  if (signal?.aborted) {
    // The signal may have come just as the input ended, after OUT was committed: take it back.
    if (completed) rmSync(job.outPath, { force: true })
    // Where it stopped, in show time, so the user can go on from there with --from.
    const at = Math.min(job.fromFrame + engine.blockCounter() * job.blockSize, job.endFrame) / job.sampleRate
    throw new FirmwareError(
      'FW_ERR_INTERRUPTED',
      `process: interrupted by ${String(signal.reason)} at ${formatShowTime(at)} of ${formatShowTime(job.endFrame / job.sampleRate)} (show time); no output was written`,
    )
  }
  take(engine.poll())
  const s = engine.stats()
  const levels = engine.fileLevels()
  const plain = (l: { peak: Float64Array; meanSquare: Float64Array }) => ({ peak: Array.from(l.peak), meanSquare: Array.from(l.meanSquare) })
  return {
    ...(levels?.output ? { levels: { input: plain(levels.input), output: plain(levels.output) } } : {}),
    blocks: s.blocks,
    doa,
    latencySamples: engine.latencySamples(),
    blockTimeUs: { p50: round(s.blockTimeUs.p50, 1), p99: round(s.blockTimeUs.p99, 1), max: round(s.blockTimeUs.max, 1) },
    overruns: s.overruns,
    droppedDoa: s.droppedDoa,
    droppedMeters: s.droppedMeters,
    events,
    ...(featureError === undefined ? {} : { analysisError: ((featureError as Error)?.message ?? String(featureError)).split('\n')[0]! }),
  }
}
