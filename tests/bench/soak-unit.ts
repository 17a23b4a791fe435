// The unit under soak, as its own process (so the load generators in tests/bench/soak.ts do not
// share its event loop, and a death is a death): `firmware run`'s whole stack on the sim board
// (engine, watchdog, the simulated front-panel controller process, store, inference and
// automation, console, API) in a scratch data directory that is already provisioned, the API on
// an ephemeral port. Reports JSON lines on stdout: ready (endpoints), transition, panel, stats
// (every second), stopped.
//   node tests/bench/soak-unit.ts --data DIR [--healthy-ms N] [--escalate-after N]
import { PerformanceObserver } from 'node:perf_hooks'
import { loadProfile } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const dataDir = arg('data')
if (!dataDir) {
  process.stderr.write('soak-unit: --data DIR is required\n')
  process.exit(2)
}
const out = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`)
}
const watchdog: Record<string, number> = {}
if (arg('healthy-ms')) watchdog.healthyPeriodMs = watchdog.degradedPeriodMs = Number(arg('healthy-ms'))
if (arg('escalate-after')) watchdog.escalateAfterBypasses = Number(arg('escalate-after'))

let gcMaxMs = 0
let gcCount = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++
    if (e.duration > gcMaxMs) gcMaxMs = e.duration
  }
}).observe({ entryTypes: ['gc'] })

const profile = { ...loadProfile('sim'), dataDir, api: { port: 0, oscPort: 0 } }
const run = await startAppliance(profile, {
  watchdog,
  services: [applianceStack({ osc: false, log: (level, m) => out({ event: 'log', level, message: m }) })],
})
const app = run.app
app.subscribe((ev) => {
  if (ev.type === 'transition') out({ event: 'transition', record: ev.record })
  else if (ev.type === 'panel' && ev.event.startsWith('relay'))
    out({ event: 'panel', at: Date.now(), what: ev.event, state: app.status().state, cause: app.status().cause })
})
out({ event: 'ready', pid: process.pid, api: app.endpoints.get('api'), console: app.endpoints.get('console'), config: app.watchdogState.config })
const stats = setInterval(() => {
  const s = app.status()
  out({
    event: 'stats',
    at: Date.now(),
    state: s.state,
    cause: s.cause,
    relay: s.relay,
    engine: s.engine,
    loop: app.eventLoopDelay(),
    gcMaxMs,
    gcCount,
    tickMaxUs: app.tickCostUs.max,
    rssMb: process.memoryUsage.rss() / 2 ** 20,
  })
}, 1000)
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  clearInterval(stats)
  await run.stop()
  out({ event: 'stopped' })
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
