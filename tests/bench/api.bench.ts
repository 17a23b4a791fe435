// The API load section of `npm run bench` (see tests/bench/api.ts): 60 s by default, 10 s with --quick,
// or BENCH_API_SECONDS=N.

import { benchApi } from './api.ts'
import type { BenchSection } from './lib.ts'

const section: BenchSection = {
  name: 'api',
  async run(ctx) {
    const seconds = Number(process.env.BENCH_API_SECONDS ?? (ctx.quick ? 10 : 60))
    const f = await benchApi({ seconds, log: ctx.log })
    const c = f.client
    const note = `200 keep-alive clients polling /api/status every 100 ms + 20 SSE streams, ${seconds} s`
    return [
      { metric: 'status requests per second', value: Math.round(c.rps), unit: 'req/s', note },
      { metric: 'request latency p50', value: Number(c.p50Ms.toFixed(1)), unit: 'ms' },
      { metric: 'request latency p99', value: Number(c.p99Ms.toFixed(1)), unit: 'ms', note: 'includes the 200 initial TLS handshakes' },
      {
        metric: 'request latency p50 / p99 after 2 s',
        value: `${c.p50SteadyMs.toFixed(1)} / ${c.p99SteadyMs.toFixed(1)}`,
        unit: 'ms',
        note: 'steady state, sessions established',
      },
      { metric: 'failed or non-200 requests', value: c.errors + c.non200 },
      { metric: 'event streams open / events received', value: `${c.streamsOpen} / ${c.events}` },
      { metric: 'xruns during API load', value: f.xruns, target: '0' },
      { metric: 'DSP overruns during API load', value: f.overruns, target: '0' },
      { metric: 'watchdog transitions during load', value: f.transitions.length, note: f.transitions.slice(0, 3).join('; ') },
    ]
  },
}
export default section
