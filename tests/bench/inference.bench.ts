// Inference while the engine runs (sim board: 8 inputs, 4 outputs, 48 kHz, block 64, paced in
// real time): per-model latency p50/p99 on CPU (round trip to the inference child process, the
// session run inside it, and the difference per request: what the process boundary costs), and
// the audio thread's block time p99 in the same run without and with inference busy (classifier every 0.25 s, VAD every 32 ms, EQ
// recommender once a second per output).
import { loadProfile } from '../../firmware/board/profile.ts'
import { createEngineFromProfile } from '../../firmware/engine/engine.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { LiveInference } from '../../firmware/inference/live.ts'
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
        rows.push({ metric: `${name} latency p50 / p99`, value: `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}`, unit: 'ms', target: budget ? `< ${budget} ms` : '', note: `${l.n} requests, round trip through the inference process` })
        const r = st.runMs[name]
        if (r) rows.push({ metric: `${name} session run p50 / p99`, value: `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`, unit: 'ms', note: 'timed inside the inference process' })
        const x = st.ipcMs[name]
        if (x) rows.push({ metric: `${name} IPC overhead p50 / p99`, value: `${x.p50.toFixed(2)} / ${x.p99.toFixed(2)}`, unit: 'ms', note: 'per request: round trip minus session run' })
      }
      rows.push({ metric: 'late / dropped results', value: `${st.late} / ${st.dropped}`, note: `of ${st.requests} requests` })
      const fmt = (r: typeof alone) => `${r.block.p50.toFixed(0)} / ${r.block.p99.toFixed(0)} / ${r.block.max.toFixed(0)}`
      rows.push({ metric: 'block time p50 / p99 / max, engine alone', value: fmt(alone), unit: 'us', target: `< ${alone.period.toFixed(0)} us`, note: `${alone.blocks} blocks, ${alone.overruns} overruns; feature tap on` })
      rows.push({ metric: 'block time p50 / p99 / max, with inference', value: fmt(busy), unit: 'us', target: `< ${busy.period.toFixed(0)} us`, note: `${busy.blocks} blocks, ${busy.overruns} overruns` })
      if (busy.live) rows.push({ metric: 'live pipeline', value: `${busy.live.patches} patches, ${busy.live.vadWindows} VAD windows, ${busy.live.recommendations} EQ`, note: `skipped ${busy.live.classSkipped}, VAD dropped ${busy.live.vadDropped}, feature records dropped ${busy.live.featureDrops}` })
    } finally {
      await svc.stop()
    }
    return rows
  },
}
export default section
