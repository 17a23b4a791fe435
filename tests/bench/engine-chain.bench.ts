// The full chain (4 beams, DOA, EQ and dynamics on 4 outputs, 48 kHz, block 64) with 8 and 16 mics:
// live on the paced sim stage, CPU per second of audio and block time as a share of the block
// period; offline on the file backend, total CPU; and the added latency (an impulse in, where the
// impulse comes out).

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { simulateStage } from '../../firmware/engine/dsp.ts'
import { Engine, type EngineOptions } from '../../firmware/engine/engine.ts'
import type { SimSource } from '../../firmware/engine/types.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import { type BenchContext, type BenchRow, type BenchSection, boardArray, fixed, threadCpuNs, threadIds, writeStageRecording } from './lib.ts'

const FS = 48000
const BLOCK = 64
const PERIOD_US = (BLOCK / FS) * 1e6

function chainOptions(
  array: { sampleRate: number; mics: Array<[number, number, number]> },
  file: { in: string; out: string },
  kind: 'das' | 'mvdr',
): Partial<EngineOptions> {
  return {
    backend: 'file',
    sampleRate: FS,
    blockSize: BLOCK,
    array,
    inputs: array.mics.length,
    outputs: 4,
    beams: [
      { kind, auto: true },
      { kind, azimuth: 90 },
      { kind, azimuth: 180 },
      { kind, azimuth: 270 },
    ],
    doa: true,
    file: { ...file, format: 'float32' },
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
    overrunBlocks: 0,
    realtimePriority: false,
  }
}

/** What a live show would have on: 4 EQ bands and a compressor on every output. */
function configureDynamics(engine: Engine): void {
  for (let k = 0; k < 4; k++) {
    engine.setEq(k, 0, { type: 'highpass', freqHz: 80, gainDb: 0, q: 0.707, enabled: true })
    engine.setEq(k, 1, { type: 'lowshelf', freqHz: 200, gainDb: -2, q: 0.707, enabled: true })
    engine.setEq(k, 2, { type: 'peak', freqHz: 2500, gainDb: 3, q: 1.2, enabled: true })
    engine.setEq(k, 3, { type: 'highshelf', freqHz: 8000, gainDb: -3, q: 0.707, enabled: true })
    engine.setCompressor(k, { thresholdDb: -24, ratio: 4, kneeDb: 6, attackMs: 5, releaseMs: 120, makeupDb: 3, enabled: true })
  }
}

async function runToEnd(engine: Engine): Promise<{ threadNs: number | null; perThread: number[]; processCpuS: number; wallS: number }> {
  const before = new Set(threadIds())
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  engine.start()
  // The engine's threads (audio, and DOA if it has its own) end with the input, so their CPU is
  // sampled while they run (5 ms granularity) and the last value of each is kept.
  const seen = new Map<string, number>()
  while (!engine.stats().finished) {
    for (const tid of threadIds()) {
      if (before.has(tid)) continue
      const ns = threadCpuNs(tid)
      if (ns !== null) seen.set(tid, Math.max(seen.get(tid) ?? 0, ns))
    }
    await new Promise((r) => setTimeout(r, 5))
    engine.poll()
  }
  engine.stop()
  const wallS = (performance.now() - t0) / 1000
  const c = process.cpuUsage(cpu0)
  const threadNs = seen.size > 0 ? [...seen.values()].reduce((a, b) => a + b, 0) : null
  const perThread = [...seen.entries()].sort((a, b) => Number(a[0]) - Number(b[0])).map(([, ns]) => ns)
  return { threadNs, perThread, processCpuS: (c.user + c.system) / 1e6, wallS }
}

/**
 * The live chain as the appliance runs it: sim backend paced at the block period (so the DOA
 * thread keeps up exactly as it would live), 4 beams, DOA on its own thread, EQ and dynamics on.
 * CPU is read per engine thread; the audio thread's figure includes the stage simulation, which
 * stands in for the ALSA capture and is not part of the chain: it is measured alone (the same
 * sources, noise and block size through dsp.simulateStage) and taken off for the chain figure.
 */
async function liveFigures(ctx: BenchContext, label: string, board: string, kind: 'das' | 'mvdr', seconds: number): Promise<BenchRow[]> {
  const array = boardArray(board)
  const sources: SimSource[] = [
    { azimuth: 60, kind: 'speechlike', freqHz: 220, levelDb: -20 },
    { azimuth: 200, kind: 'noise', levelDb: -30 },
  ]
  ctx.log(`${label}: ${seconds} s live (paced sim stage) through the chain`)
  const engine = new Engine({
    backend: 'sim',
    sampleRate: FS,
    blockSize: BLOCK,
    array,
    inputs: array.mics.length,
    outputs: 4,
    beams: [
      { kind, auto: true },
      { kind, azimuth: 90 },
      { kind, azimuth: 180 },
      { kind, azimuth: 270 },
    ],
    doa: true,
    sim: { sources, noiseDb: -50, paced: true },
    maxBlocks: Math.round((seconds * FS) / BLOCK),
    // Measure the DSP, not the fail-open: nothing here may switch the chain to dry.
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
    overrunBlocks: 0,
    realtimePriority: false,
  })
  configureDynamics(engine)
  const run = await runToEnd(engine)
  const s = engine.stats()
  const audioS = (s.blocks * BLOCK) / FS
  const big = array.mics.length === 16 && kind === 'das'
  const share = (ns: number) => fixed((ns / 1e9 / audioS) * 100, 2)
  // Thread ids grow in creation order; the engine starts its DOA thread before the audio thread.
  const split =
    run.perThread.length === 2
      ? `DOA thread ${share(run.perThread[0]!)} + audio thread ${share(run.perThread[1]!)} (incl. stage sim)`
      : `${run.perThread.length} engine thread(s)`
  // The stage synthesis alone, on this thread, for as much audio as the engine ran.
  const cpu0 = process.cpuUsage()
  simulateStage(array, sources, -50, 1, s.blocks * BLOCK, BLOCK)
  const c = process.cpuUsage(cpu0)
  const stageNs = (c.user + c.system) * 1e3
  const engineNs = run.threadNs ?? run.processCpuS * 1e9
  // The chain as the engine times it itself: the audio thread's block time (from input read to
  // output write, so neither the synthesis nor the pacing sleep) plus the DOA thread's CPU.
  const chainNs = (s.blockTimeUs.mean ?? 0) * 1e3 * s.blocks + (run.perThread.length === 2 ? run.perThread[0]! : 0)
  return [
    {
      metric: `${label}: CPU per second of audio, engine threads`,
      value: run.threadNs !== null ? share(run.threadNs) : fixed((run.processCpuS / audioS) * 100, 2),
      unit: '% core',
      note: run.threadNs !== null ? split : 'whole process',
    },
    {
      metric: `${label}: chain per second of audio (block timer + DOA thread)`,
      value: share(chainNs),
      unit: '% core',
      ...(big ? { target: '< 5 %' } : {}),
      note: `mean block ${fixed(s.blockTimeUs.mean ?? 0, 1)} us; by subtraction (engine threads minus the synthesis alone, ${share(stageNs)}): ${share(Math.max(0, engineNs - stageNs))}`,
    },
    {
      metric: `${label}: block time p50 / p99 / max`,
      value: `${fixed((s.blockTimeUs.p50 / PERIOD_US) * 100, 1)} / ${fixed((s.blockTimeUs.p99 / PERIOD_US) * 100, 1)} / ${fixed((s.blockTimeUs.max / PERIOD_US) * 100, 0)}`,
      unit: '% period',
      ...(big ? { target: 'p99 < 25 %' } : {}),
      note: `period ${fixed(PERIOD_US, 0)} us; ${s.blocks} blocks; ${s.overruns} over budget`,
    },
  ]
}

/**
 * Offline (file backend, unpaced): the same chain with no pacing sleeps and no stage synthesis,
 * so its CPU per second of audio (audio and DOA threads, read from /proc) is the chain's cost
 * with the least noise from a shared machine; WAV reading and writing are included.
 */
async function offlineFigure(ctx: BenchContext, label: string, board: string, seconds: number): Promise<BenchRow> {
  const array = boardArray(board)
  const input = join(ctx.tmp, `chain-${array.mics.length}.wav`)
  if (!existsSync(input)) writeStageRecording(input, array.mics, seconds)
  ctx.log(`${label}: ${seconds} s of ${array.mics.length}-channel audio through the file backend`)
  const engine = new Engine(chainOptions(array, { in: input, out: join(ctx.tmp, `chain-out-${label}.wav`) }, 'das'))
  configureDynamics(engine)
  const run = await runToEnd(engine)
  const audioS = (engine.stats().blocks * BLOCK) / FS
  const share = (ns: number) => fixed((ns / 1e9 / audioS) * 100, 2)
  return {
    metric: `${label}: chain CPU per second of audio, offline`,
    value: share(run.threadNs ?? run.processCpuS * 1e9),
    unit: '% core',
    ...(array.mics.length === 16 ? { target: '< 5 %' } : {}),
    note: `file backend, incl. WAV I/O; ${run.perThread.length === 2 ? `DOA thread ${share(run.perThread[0]!)} + audio thread ${share(run.perThread[1]!)}` : `${run.perThread.length} engine thread(s)`}; ${fixed(run.wallS, 2)} s wall`,
  }
}

/** Impulse on every mic at once (a source straight above the planar array), beam 0 aimed there. */
async function latencyFigure(ctx: BenchContext, board: string): Promise<BenchRow> {
  const array = boardArray(board)
  const m = array.mics.length
  const frames = FS / 2
  const at = 10_000 + 17 // not on a block boundary
  const data = new Float32Array(frames * m)
  for (let k = 0; k < m; k++) data[at * m + k] = 0.5
  const input = join(ctx.tmp, `impulse-${m}.wav`)
  const output = join(ctx.tmp, `impulse-out-${m}.wav`)
  writeWav(input, { channels: m, sampleRate: FS, format: 'float32' }, data)
  const opts = chainOptions(array, { in: input, out: output }, 'das')
  opts.beams = [{ kind: 'das', azimuth: 0, elevation: 90, auto: false }, { azimuth: 90 }, { azimuth: 180 }, { azimuth: 270 }]
  const engine = new Engine(opts)
  configureDynamics(engine)
  await runToEnd(engine)
  const out = readWav(output).data
  let peak = 0
  let where = -1
  for (let i = 0; i < frames; i++) {
    const v = Math.abs(out[i * 4]!)
    if (v > peak) {
      peak = v
      where = i
    }
  }
  return {
    metric: `${m} mics: added latency, impulse in to impulse out`,
    value: where - at,
    unit: 'samples',
    target: `<= ${BLOCK} + FD delay`,
    note: `engine says ${engine.latencySamples()}; file backend adds no device buffering`,
  }
}

const section: BenchSection = {
  name: 'engine chain',
  async run(ctx) {
    const seconds = ctx.quick ? 4 : 10
    const rows: BenchRow[] = []
    rows.push(...(await liveFigures(ctx, '8 mics', 'sim', 'das', seconds)))
    rows.push(...(await liveFigures(ctx, '16 mics', 'jetson-agx-rack', 'das', seconds)))
    if (!ctx.quick) rows.push(...(await liveFigures(ctx, '16 mics MVDR', 'jetson-agx-rack', 'mvdr', seconds)))
    rows.push(await offlineFigure(ctx, '16 mics', 'jetson-agx-rack', ctx.quick ? 5 : 20))
    rows.push(await latencyFigure(ctx, 'sim'))
    rows.push(await latencyFigure(ctx, 'jetson-agx-rack'))
    return rows
  },
}
export default section
