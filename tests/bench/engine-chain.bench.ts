// The full chain (4 beams, DOA, EQ and dynamics on 4 outputs, 48 kHz, block 64) with 8 and 16 mics,
// on the file backend: CPU per second of audio, block time as a share of the block period, and the
// added latency (an impulse in, where the impulse comes out).
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { Engine, type EngineOptions } from '../../firmware/engine/engine.ts'
import { writeWav, readWav } from '../../firmware/wav/wav.ts'
import { boardArray, writeStageRecording, threadIds, threadCpuNs, fixed, type BenchContext, type BenchRow, type BenchSection } from './lib.ts'

const FS = 48000
const BLOCK = 64
const PERIOD_US = (BLOCK / FS) * 1e6

function chainOptions(array: { sampleRate: number; mics: Array<[number, number, number]> }, file: { in: string; out: string }, kind: 'das' | 'mvdr'): Partial<EngineOptions> {
  return {
    backend: 'file',
    sampleRate: FS,
    blockSize: BLOCK,
    array,
    inputs: array.mics.length,
    outputs: 4,
    beams: [{ kind, auto: true }, { kind, azimuth: 90 }, { kind, azimuth: 180 }, { kind, azimuth: 270 }],
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

async function runToEnd(engine: Engine): Promise<{ threadNs: number | null; threads: number; processCpuS: number; wallS: number }> {
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
  return { threadNs, threads: seen.size, processCpuS: (c.user + c.system) / 1e6, wallS }
}

async function chainFigures(ctx: BenchContext, label: string, board: string, kind: 'das' | 'mvdr', seconds: number, doa = true): Promise<BenchRow[]> {
  const array = boardArray(board)
  const input = join(ctx.tmp, `chain-${array.mics.length}.wav`)
  if (!existsSync(input)) writeStageRecording(input, array.mics, seconds)
  ctx.log(`${label}: ${seconds} s of ${array.mics.length}-channel audio through the chain`)
  const opts = chainOptions(array, { in: input, out: join(ctx.tmp, `chain-out-${label}.wav`) }, kind)
  if (!doa) opts.beams = opts.beams!.map((b) => ({ ...b, auto: false }))
  opts.doa = doa
  const engine = new Engine(opts)
  configureDynamics(engine)
  const run = await runToEnd(engine)
  const s = engine.stats()
  const audioS = (s.blocks * BLOCK) / FS
  const cpuShare = run.threadNs !== null ? run.threadNs / 1e9 / audioS : run.processCpuS / audioS
  const big = array.mics.length === 16 && kind === 'das' && doa
  const rows: BenchRow[] = [
    {
      metric: `${label}: CPU per second of audio`,
      value: fixed(cpuShare * 100, 2),
      unit: '% core',
      ...(big ? { target: '< 5 %' } : {}),
      note: run.threadNs !== null ? `engine threads (${run.threads}), incl. WAV I/O` : 'whole process',
    },
    {
      metric: `${label}: block time p50 / p99 / max`,
      value: `${fixed((s.blockTimeUs.p50 / PERIOD_US) * 100, 1)} / ${fixed((s.blockTimeUs.p99 / PERIOD_US) * 100, 1)} / ${fixed((s.blockTimeUs.max / PERIOD_US) * 100, 0)}`,
      unit: '% period',
      ...(big ? { target: 'p99 < 25 %' } : {}),
      note: `period ${fixed(PERIOD_US, 0)} us; ${s.blocks} blocks, unpaced`,
    },
  ]
  return rows
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
    const seconds = ctx.quick ? 5 : 20
    const rows: BenchRow[] = []
    rows.push(...await chainFigures(ctx, '8 mics', 'sim', 'das', seconds))
    rows.push(...await chainFigures(ctx, '16 mics', 'jetson-agx-rack', 'das', seconds))
    if (!ctx.quick) rows.push(...await chainFigures(ctx, '16 mics MVDR', 'jetson-agx-rack', 'mvdr', seconds))
    // Where the time goes: the same 16-mic chain without the DOA estimator (beams fixed).
    rows.push(...(await chainFigures(ctx, '16 mics, DOA off', 'jetson-agx-rack', 'das', seconds, false)).slice(0, 1))
    rows.push(await latencyFigure(ctx, 'sim'))
    rows.push(await latencyFigure(ctx, 'jetson-agx-rack'))
    return rows
  },
}
export default section
