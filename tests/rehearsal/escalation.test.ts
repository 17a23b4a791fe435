// The escalation latch on the real appliance (sim board, simulated front-panel controller): a
// control stall that keeps coming back latches the bypass, the relay stays down however healthy
// the unit is afterwards, and a person releases it from the serial console. Thresholds come from
// the board profile. The repeating fault is an audio-path one (a DSP overrun streak): a late control
// plane alone never bypasses (it holds the parameters and degrades).
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { openClient } from '../console/harness.ts'
import { until } from '../helpers/until.ts'

t.test('the board profile sets the thresholds; appliance options override them', async (t) => {
  const profile = { ...loadProfile('sim'), dataDir: t.testdir(), watchdog: { escalateAfterBypasses: 7, escalateWindowMs: 9000 } }
  const a = await startAppliance(profile, { panelPort: null, logDir: null, hardwareWatchdogs: [] })
  t.match(a.app.watchdogState.config, { escalateAfterBypasses: 7, escalateWindowMs: 9000 })
  await a.stop()
  const b = await startAppliance(profile, { panelPort: null, logDir: null, hardwareWatchdogs: [], watchdog: { escalateAfterBypasses: 2 } })
  t.match(b.app.watchdogState.config, { escalateAfterBypasses: 2, escalateWindowMs: 9000 })
  await b.stop()
})

t.test('an audio fault that repeats latches the bypass until a person releases it on the console', async (t) => {
  const dir = t.testdir()
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir: dir, watchdog: { escalateAfterBypasses: 3, escalateWindowMs: 60_000 } },
    {
      watchdog: { healthyPeriodMs: 500, degradedPeriodMs: 500 },
      services: [applianceStack({ api: false, inference: false, osc: false, store: false, log: () => {} })],
    },
  )
  t.teardown(() => run.stop())
  const app = run.app
  const client = await openClient(app.endpoints.get('console')!)
  t.teardown(() => client.close())
  await client.send('\r\nconsole machine\r\n')
  await client.waitRaw(/OK console mode=machine\r\n$/, 5000)
  client.lines.length = 0

  let stalls = 0
  while (app.status().state !== 'MANUAL_BYPASS' && stalls < 3) {
    await until(() => app.status().state === 'ACTIVE' && app.relay.state === 'processed', 10_000, 'ACTIVE with the relay on')
    // Twice the block period in each of the next 6 processed blocks: an overrun streak, dry at the 4th.
    const o = app.engine.options
    ;(app.engine as unknown as { injectDspSpin(us: number, blocks: number): void }).injectDspSpin(Math.round((2e6 * o.blockSize) / o.sampleRate), 6)
    stalls++
    await until(() => app.status().state === 'BYPASS' || app.status().state === 'MANUAL_BYPASS', 2000, 'the overrun detected')
  }
  t.equal(app.status().state, 'MANUAL_BYPASS', `latched after ${stalls} overrun streaks`)
  t.equal(app.status().cause, 'escalated')
  const latch = app.faults(20).find((r) => r.cause === 'escalated')!
  t.match(latch.evidence, /^3 automatic bypasses within 60 s \(native-dsp-overrun at \+0\.0 s, /, latch.evidence)
  await until(() => app.relay.state === 'bypass', 2000, 'the relay down')
  // Healthy for four healthy periods: nothing comes back by itself.
  await new Promise((r) => setTimeout(r, 2000))
  t.equal(app.status().state, 'MANUAL_BYPASS', 'still latched while healthy')
  t.equal(app.relay.state, 'bypass', 'the relay stays down')
  await client.send('bypass off\r\n')
  t.match(await client.nextLine(5000), /^OK bypass bypass=off state=(ACTIVE|DEGRADED|BYPASS)/)
  await until(() => app.status().state === 'ACTIVE' && app.relay.state === 'processed', 5000, 'ACTIVE again after the release')
  // Released to ACTIVE ('manual-release'), or, when a degrade-level fault is live at that moment
  // (xruns on a loaded machine), to DEGRADED under that cause: either way the record says who released it.
  const release = app.faults(5).find((r) => r.from === 'MANUAL_BYPASS')
  t.match(release, { evidence: /^manual bypass released by console:/ }, 'the release is recorded with who released it')
  t.ok(
    (release?.to === 'ACTIVE' && release.cause === 'manual-release') || (release?.to === 'DEGRADED' && release.cause !== 'manual-release'),
    `released to ${release?.to} (${release?.cause})`,
  )
})
