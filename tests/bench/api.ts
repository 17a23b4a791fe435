// API load: 200 concurrent keep-alive clients polling GET /api/status and 20 event streams, for 60 s
// by default, against the real Appliance on the sim board with its engine running. Prints xruns, DSP
// overruns, request latency p50/p99 and requests per second. The clients run in a child process (this
// file with --client, at the lowest CPU priority), so their work does not share the appliance's event
// loop and takes as little as possible of the machine the appliance runs on.
//   node tests/bench/api.ts [--seconds 60] [--clients 200] [--streams 20] [--interval-ms 100]
// The same figures appear in `npm run bench` through tests/bench/api.bench.ts.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { setPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

export interface ApiBenchOptions {
  /** Seconds of load. Defaults to 60. */
  seconds: number
  /** Keep-alive clients polling status. Defaults to 200. */
  clients: number
  /** Event streams open. Defaults to 20. */
  streams: number
  /** Each client's polling period in ms (0: as fast as it can). Defaults to 100. */
  intervalMs: number
  log?: (m: string) => void
}

export interface ClientFigures {
  requests: number
  errors: number
  non200: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  rps: number
  events: number
  streamsOpen: number
  p50SteadyMs: number
  p99SteadyMs: number
}

function pct(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN
}

/** The load generator (child side). */
async function runClients(o: {
  port: number
  cert: string
  key: string
  ca: string
  seconds: number
  clients: number
  streams: number
  intervalMs: number
}): Promise<ClientFigures> {
  const tls = { cert: readFileSync(o.cert), key: readFileSync(o.key), ca: readFileSync(o.ca), servername: 'localhost' }
  const lat: number[] = []
  // Latencies after the first 2 s, when every client has its TLS session: the steady state.
  const steady: number[] = []
  const steadyFrom = performance.now() + 2000
  let errors = 0
  let non200 = 0
  let events = 0
  let streamsOpen = 0
  const end = performance.now() + o.seconds * 1000
  const streamReqs: Array<{ destroy(): void }> = []
  for (let s = 0; s < o.streams; s++) {
    const req = request({ host: '127.0.0.1', port: o.port, path: '/api/events?types=meters,transition,doa&metersHz=10', agent: false, ...tls }, (res) => {
      if (res.statusCode === 200) streamsOpen++
      res.on('data', (d: Buffer) => {
        for (let i = d.indexOf('event: '); i >= 0; i = d.indexOf('event: ', i + 1)) events++
      })
      res.on('error', () => {})
    })
    req.on('error', () => {
      errors++
    })
    req.end()
    streamReqs.push(req)
  }
  const one = (agent: Agent): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now()
      const req = request({ host: '127.0.0.1', port: o.port, path: '/api/status', agent, ...tls }, (res) => {
        res.on('data', () => {})
        res.on('end', () => {
          const now = performance.now()
          lat.push(now - t0)
          if (t0 >= steadyFrom) steady.push(now - t0)
          if (res.statusCode !== 200) non200++
          resolve()
        })
      })
      req.on('error', () => {
        errors++
        resolve()
      })
      req.end()
    })
  const workers = Array.from({ length: o.clients }, async (_, k) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    // Spread the first requests so 200 handshakes do not all land in the same millisecond.
    await new Promise((r) => setTimeout(r, (k * 5) % 1000))
    while (performance.now() < end) {
      const t0 = performance.now()
      await one(agent)
      const wait = o.intervalMs - (performance.now() - t0)
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
    agent.destroy()
  })
  const t0 = performance.now()
  await Promise.all(workers)
  // With no clients (a baseline run) still hold the streams open for the whole duration.
  const rest = end - performance.now()
  if (rest > 0) await new Promise((r) => setTimeout(r, rest))
  const secs = (performance.now() - t0) / 1000
  for (const r of streamReqs) r.destroy()
  const sorted = Float64Array.from(lat).sort()
  const st = Float64Array.from(steady).sort()
  return {
    p50SteadyMs: pct(st, 0.5),
    p99SteadyMs: pct(st, 0.99),
    requests: lat.length,
    errors,
    non200,
    p50Ms: pct(sorted, 0.5),
    p99Ms: pct(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    rps: lat.length / secs,
    events,
    streamsOpen,
  }
}

export interface ApiBenchFigures {
  client: ClientFigures
  xruns: number
  overruns: number
  transitions: string[]
  stateAfter: string
  blockP99Us: number
}

/** The whole bench (parent side): provision, boot the sim appliance with the API, load it, report. */
export async function benchApi(opts: Partial<ApiBenchOptions> = {}): Promise<ApiBenchFigures> {
  const o: ApiBenchOptions = { seconds: 60, clients: 200, streams: 20, intervalMs: 100, ...opts }
  const log = o.log ?? (() => {})
  const { provision } = await import('../../provisioning/provision.ts')
  const { loadProfile } = await import('../../firmware/board/profile.ts')
  const { startAppliance } = await import('../../firmware/runtime/start.ts')
  const { createRegistry } = await import('../../firmware/commands/index.ts')
  const { startApi } = await import('../../firmware/api/server.ts')
  const tmp = mkdtempSync(join(tmpdir(), 'api-bench-'))
  try {
    const dataDir = join(tmp, 'data')
    const prov = await provision({ dataDir, bundlesOut: join(tmp, 'crew') })
    const op = prov.bundles.find((b) => b.role === 'operator')!
    let port = 0
    const run = await startAppliance(
      { ...loadProfile('sim'), dataDir },
      {
        services: [
          async (app) => {
            // One certificate drives all the load here, so the per-client limit is lifted for the bench.
            const api = await startApi(app, createRegistry(app), app.profile, {
              port: 0,
              host: '127.0.0.1',
              rateLimit: { perSecond: 1e6, burst: 1e6 },
              maxEventStreams: Math.max(64, o.streams + 4),
              maxEventStreamsPerClient: o.streams + 4,
            })
            port = api.port
            return api
          },
        ],
      },
    )
    try {
      await new Promise((r) => setTimeout(r, 1000))
      const before = run.app.status().engine
      const transitionsBefore = run.app.faults(1000).length
      log(`api bench: ${o.clients} clients every ${o.intervalMs} ms + ${o.streams} event streams for ${o.seconds} s on port ${port}`)
      const child = spawn(
        process.execPath,
        [
          import.meta.filename,
          '--client',
          '--port',
          String(port),
          '--cert',
          op.certFile,
          '--key',
          op.keyFile,
          '--ca',
          prov.caFile,
          '--seconds',
          String(o.seconds),
          '--clients',
          String(o.clients),
          '--streams',
          String(o.streams),
          '--interval-ms',
          String(o.intervalMs),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      // The clients stand in for laptops and tablets on the network: on the unit they cost no CPU. Here
      // they share the machine, so they run at the lowest priority to take as little from it as they can.
      try {
        if (child.pid) setPriority(child.pid, 19)
      } catch {
        /* not permitted: run at normal priority */
      }
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
      })
      const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)))
      if (code !== 0) throw new Error(`load client exited with ${code}`)
      const client = JSON.parse(out) as ClientFigures
      const after = run.app.status().engine
      const trans = run.app
        .faults(1000)
        .slice(transitionsBefore)
        .map((f) => `${f.from}->${f.to} (${f.cause})`)
      return {
        client,
        xruns: after.xruns - before.xruns,
        overruns: after.overruns - before.overruns,
        transitions: trans,
        stateAfter: run.app.status().state,
        blockP99Us: after.blockTimeUs.p99,
      }
    } finally {
      await run.stop()
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      client: { type: 'boolean' },
      port: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      seconds: { type: 'string', default: '60' },
      clients: { type: 'string', default: '200' },
      streams: { type: 'string', default: '20' },
      'interval-ms': { type: 'string', default: '100' },
    },
  })
  const common = {
    seconds: Number(values.seconds),
    clients: Number(values.clients),
    streams: Number(values.streams),
    intervalMs: Number(values['interval-ms']),
  }
  if (values.client) {
    const f = await runClients({ port: Number(values.port), cert: values.cert!, key: values.key!, ca: values.ca!, ...common })
    process.stdout.write(JSON.stringify(f))
  } else {
    const f = await benchApi({ ...common, log: (m) => console.error(m) })
    const c = f.client
    for (const k of Object.keys(c) as Array<keyof ClientFigures>) if (c[k] === null) c[k] = NaN
    console.log(
      `requests ${c.requests} (${c.rps.toFixed(0)} req/s), latency p50 ${c.p50Ms.toFixed(1)} ms p99 ${c.p99Ms.toFixed(1)} ms max ${c.maxMs.toFixed(1)} ms, errors ${c.errors}, non-200 ${c.non200}`,
    )
    console.log(`steady state (after the first 2 s of handshakes): p50 ${c.p50SteadyMs.toFixed(1)} ms p99 ${c.p99SteadyMs.toFixed(1)} ms`)
    console.log(`event streams open ${c.streamsOpen}/${common.streams}, events received ${c.events}`)
    console.log(
      `engine: xruns ${f.xruns}, DSP overruns ${f.overruns}, block p99 ${f.blockP99Us} us; state after ${f.stateAfter}; transitions during load: ${f.transitions.join(', ') || 'none'}`,
    )
  }
}
