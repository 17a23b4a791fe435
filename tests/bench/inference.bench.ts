// Inference while the engine runs (sim board: 8 inputs, 4 outputs, 48 kHz, block 64, paced in
// real time): per-model latency p50/p99 on CPU (round trip to the inference child process, the
// session run inside it, and the difference per request: what the process boundary costs), and
// the audio thread's block time p99 in the same run without and with inference busy (classifier every 0.25 s, VAD every 32 ms, EQ
// recommender once a second per output).

import { join } from 'node:path'
import { createEngineFromProfile } from '../../firmware/board/engine.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { LiveInference } from '../../firmware/inference/live.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import type { BenchContext, BenchRow, BenchSection } from './lib.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function engineRun(seconds: number, svc: InferenceService | null) {
  const engine = createEngineFromProfile(loadProfile('sim'))
  const live = svc ? new LiveInference(svc, null, { eqEveryS: 1 }) : null
  engine.start()
  const tick = setInterval(() => {
    engine.poll()
    const f = engine.pollFeatures()
    live?.feed(f)
  }, 10)
  await sleep(seconds * 1000)
  clearInterval(tick)
  const s = engine.stats()
  engine.stop()
  return { block: s.blockTimeUs, period: s.blockPeriodUs, blocks: s.blocks, overruns: s.overruns, live: live?.stats() ?? null }
}

/** A model run that hangs inside onnxruntime (the slow test model): how long from the request
 *  until a fresh inference process answers again (hungMs 1000, kill, start, models reloaded). */
async function hangRecovery(ctx: BenchContext): Promise<BenchRow> {
  const rounds = ctx.quick ? 2 : 5
  ctx.log(`a hung model run, ${rounds} times`)
  const svc = new InferenceService({ backoffInitialMs: 200 })
  await svc.start()
  const times: number[] = []
  try {
    for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
    const slow = await svc.activate(join(import.meta.dirname, '..', 'inference', 'fixtures', 'slow_model.manifest.json'))
    const feeds = { logmel: { type: 'float32' as const, dims: [1, 50, 40], data: new Float32Array(2000).fill(-12) } }
    for (let i = 0; i < rounds; i++) {
      if (svc.active('crowd-state')?.id !== slow.id) await svc.rollback('crowd-state')
      const restarts = svc.stats().restarts
      const t0 = performance.now()
      await svc.infer('crowd-state', feeds, { deadlineMs: 20 })
      while (svc.stats().restarts === restarts || !svc.running) await sleep(5)
      await svc.rollback('crowd-state')
      while ((await svc.infer('crowd-state', feeds, { deadlineMs: 1000 })).status !== 'ok') await sleep(5)
      times.push(performance.now() - t0)
    }
  } finally {
    await svc.stop()
  }
  return {
    metric: 'hung model run to a fresh process answering',
    value: times.map((x) => x.toFixed(0)).join(' / '),
    unit: 'ms',
    note: `${rounds} hangs in a row, in order: hung after 1000 ms, SIGTERM, restart after the backoff (200 ms, doubling per consecutive failure), 4 models reloaded`,
  }
}

const section: BenchSection = {
  name: 'inference',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const seconds = ctx.quick ? 3 : 10
    const rows: BenchRow[] = []
    ctx.log(`engine alone for ${seconds} s`)
    const alone = await engineRun(seconds, null)
    const svc = new InferenceService()
    await svc.start()
    try {
      for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
      ctx.log(`engine with inference for ${seconds} s`)
      const busy = await engineRun(seconds, svc)
      const st = svc.stats()
      for (const [name, l] of Object.entries(st.latencyMs)) {
        const budget = svc.active(name)?.manifest.latencyBudgetMs
        rows.push({
          metric: `${name} latency p50 / p99`,
          value: `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}`,
          unit: 'ms',
          target: budget ? `< ${budget} ms` : '',
          note: `${l.n} requests, round trip through the inference process`,
        })
        const r = st.runMs[name]
        if (r)
          rows.push({
            metric: `${name} session run p50 / p99`,
            value: `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`,
            unit: 'ms',
            note: 'timed inside the inference process',
          })
        const x = st.ipcMs[name]
        if (x)
          rows.push({
            metric: `${name} IPC overhead p50 / p99`,
            value: `${x.p50.toFixed(2)} / ${x.p99.toFixed(2)}`,
            unit: 'ms',
            note: 'per request: round trip minus session run',
          })
      }
      rows.push({ metric: 'late / dropped results', value: `${st.late} / ${st.dropped}`, note: `of ${st.requests} requests` })
      const fmt = (r: typeof alone) => `${r.block.p50.toFixed(0)} / ${r.block.p99.toFixed(0)} / ${r.block.max.toFixed(0)}`
      rows.push({
        metric: 'block time p50 / p99 / max, engine alone',
        value: fmt(alone),
        unit: 'us',
        target: `< ${alone.period.toFixed(0)} us`,
        note: `${alone.blocks} blocks, ${alone.overruns} overruns; feature tap on`,
      })
      rows.push({
        metric: 'block time p50 / p99 / max, with inference',
        value: fmt(busy),
        unit: 'us',
        target: `< ${busy.period.toFixed(0)} us`,
        note: `${busy.blocks} blocks, ${busy.overruns} overruns`,
      })
      if (busy.live)
        rows.push({
          metric: 'live pipeline',
          value: `${busy.live.patches} patches, ${busy.live.vadWindows} VAD windows, ${busy.live.recommendations} EQ`,
          note: `skipped ${busy.live.classSkipped}, VAD dropped ${busy.live.vadDropped}, feature records dropped ${busy.live.featureDrops}`,
        })
    } finally {
      await svc.stop()
    }
    rows.push(await hangRecovery(ctx))
    return rows
  },
}
export default section
