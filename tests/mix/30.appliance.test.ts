// Mixes in the unit as `firmware run` assembles it: the stack registers the mix commands, and a
// published mix whose media server is gone makes the watchdog DEGRADED with cause mix-stream,
// never BYPASS, while the PA stays processed.
import { createSocket } from 'node:dgram'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry, Principal } from '../../firmware/commands/index.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

const operator: Principal = { name: 'test:operator', permission: 'operate', transport: 'test' }

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (what()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return what()
}

t.test('a published mix whose media server is gone: DEGRADED mix-stream, never bypass', async (t) => {
  let registry: CommandRegistry | null = null
  const running = await startAppliance(
    { ...loadProfile('sim'), dataDir: t.testdir() },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [
        applianceStack({
          inference: false,
          console: false,
          api: false,
          osc: false,
          telemetry: false,
          log: () => {},
          onRegistry: (r) => {
            registry = r
          },
        }),
      ],
    },
  )
  t.teardown(() => running.stop())
  const app = running.app
  const reg = registry as CommandRegistry | null
  if (!t.ok(reg, 'the stack handed out its registry') || !reg) return
  t.ok(await until(() => app.status().state === 'ACTIVE', 10_000), `the unit is ACTIVE (${app.status().state} ${app.status().cause})`)
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const dead = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  t.match(await reg.executeLine('mix set vocal-forward out0=9 bed=-6', operator), { ok: true })
  t.match(await reg.executeLine(`mix publish vocal-forward host=127.0.0.1 port=${dead}`, operator), { ok: true })
  // The fault either moves ACTIVE to DEGRADED (a transition with its cause), or, on a machine so
  // busy that a late event loop degraded the unit first, is the degrade fault the watchdog holds.
  const seen = () =>
    app.faults(50).some((f) => f.cause === 'mix-stream') || (app.status().state === 'DEGRADED' && app.watchdogState.lastDegradeFault?.cause === 'mix-stream')
  t.ok(await until(seen, 10_000), 'the watchdog saw the failing stream')
  const f = app.faults(50).find((x) => x.cause === 'mix-stream') ?? app.watchdogState.lastDegradeFault
  t.match(f, { cause: 'mix-stream', evidence: /refused by the ingest/ }, JSON.stringify(f))
  t.equal(app.status().state, 'DEGRADED', 'the unit is DEGRADED')
  t.notOk(
    app.faults(50).some((x) => x.to === 'BYPASS'),
    'no bypass at any point',
  )
  t.equal(app.status().relay, 'processed', 'the PA stays processed')
  t.match(await reg.executeLine('mix show vocal-forward', operator), { ok: true, value: { published: { port: dead } } })
})
