// Automation end to end on the running appliance (sim board, real engine, watchdog and 10 ms
// control loop): from a recommendation to the EQ the engine gets, in each mode; the watchdog's
// BYPASS turning automation off mid-recommendation and ACTIVE turning it back on. Recommendations
// are handed to the automation as the live recommender does (no models loaded, so only the
// test's recommendations arrive); the engine's setEq is watched, not replaced.
import t, { type Test } from 'tap'
import { registerInferenceCommands } from '../../firmware/automation/commands.ts'
import type { AutomationLimits } from '../../firmware/automation/machine.ts'
import { type AttachedInference, attachInference } from '../../firmware/automation/service.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import type { ApplianceEvent } from '../../firmware/contract/appliance.ts'
import type { Engine } from '../../firmware/engine/engine.ts'
import type { BandParams } from '../../firmware/engine/types.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { until } from '../helpers/until.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const foh = { name: 'console:foh', permission: 'operate' as const, transport: 'console' }
const BAND = 3 // the automation band the tests move (500 Hz in the default bands)

async function unit(t: Test, limits: Partial<AutomationLimits>) {
  let inf: AttachedInference | null = null
  const running = await startAppliance('sim', {
    panelPort: null,
    logDir: null,
    hardwareWatchdogs: [],
    watchdog: { healthyPeriodMs: 500, degradedPeriodMs: 500 },
    // A machine loaded by other builds lags the event loop and overruns blocks: those monitors are
    // not what these tests are about, and a DEGRADED they cause would pause automation mid-test.
    monitors: { maxLagMs: 5000, overrunsPerSecond: 1e6, xrunsPerSecond: 1e6, stallMs: 400 },
    sentinel: { holdAfterMs: 3000, audioStallMs: 200 },
    services: [async (app) => (inf = await attachInference(app, { manifests: [], limits }))],
  })
  t.teardown(() => running.stop())
  const app = running.app
  // Every EQ band the engine is given, in order.
  const engineGot: Array<{ at: number; output: number; band: number; p: BandParams }> = []
  const setEq = app.engine.setEq.bind(app.engine)
  app.engine.setEq = (output: number, band: number, p: BandParams) => {
    setEq(output, band, p)
    engineGot.push({ at: Date.now(), output, band, p: { ...p } })
  }
  const events: ApplianceEvent[] = []
  app.subscribe((ev) => events.push(ev))
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: inf!.service, automation: inf!.automation })
  await until(() => app.status().state === 'ACTIVE' && inf!.automation.state.enabled, 30000, 'ACTIVE with automation enabled')
  const automation = inf!.automation
  // A wait that fails says what the watchdog did meanwhile.
  t.teardown(() => {
    if (!t.passing()) t.comment(`watchdog: ${JSON.stringify(app.faults(10).map((f) => `${f.from}->${f.to} ${f.cause}`))}`)
  })
  const recommend = (output: number, delta: number, confidence = 0.95) =>
    automation.recommend({ output, deltaDb: automation.bandsHz.map((_, i) => (i === BAND ? delta : 0)), confidence, model: 'eq-recommender-test' })
  /** The gains the engine was last given for one output's band. */
  const engineGain = (output: number, band = BAND) => engineGot.filter((e) => e.output === output && e.band === band).at(-1)?.p.gainDb ?? 0
  return { app, automation, reg, engineGot, events, recommend, engineGain }
}

t.test('each mode end to end: from a recommendation to the EQ the engine gets', async (t) => {
  const { app, automation, reg, engineGot, events, recommend, engineGain } = await unit(t, { maxStepDbPerS: 10, maxRangeDb: 6, settleMs: 0 })
  const bandsHz = automation.bandsHz

  t.equal(automation.mode, 'advisory', 'advisory by default')
  recommend(1, 3)
  await sleep(300)
  t.same(engineGot, [], 'advisory: the engine gets nothing')
  t.match(
    events.filter((e) => e.type === 'recommendation').at(-1),
    { data: { id: 1, output: 1, action: 'suggested', mode: 'advisory', proposedDb: [0, 0, 0, 3] } },
    'advisory: published to the event stream',
  )

  t.match(await reg.executeLine('mode supervised', foh), { ok: true })
  await until(() => app.status().automationMode === 'supervised', 30000, 'the status to show supervised')
  recommend(1, -2.5)
  await sleep(300)
  t.same(engineGot, [], 'supervised: nothing before the operator accepts')
  t.match(await reg.executeLine('accept 2', foh), { ok: true })
  t.same(
    engineGot.map((e) => [e.output, e.band, e.p]),
    bandsHz.map((hz, i) => [1, i, { type: 'peak', freqHz: hz, gainDb: i === BAND ? -2.5 : 0, q: 1.4, enabled: true }]),
    'supervised: on accept the engine gets one peaking band per automation band, on that output only',
  )
  t.equal(app.outputSettings()[1]!.eq[BAND]!.gainDb, -2.5, 'and the appliance reports it')
  const eqBy = () => [...new Set(events.flatMap((e) => (e.type === 'change' && e.change.what === 'eq' ? [e.change.who] : [])))]
  t.same(eqBy(), ['console:foh'], 'the change is the operator who accepted it, not the automation')

  t.match(await reg.executeLine('mode auto', foh), { ok: true })
  const from = engineGot.length
  const t0 = Date.now()
  recommend(1, 4, 0.5)
  await sleep(300)
  t.equal(engineGot.length, from, 'auto: below the confidence threshold, the engine gets nothing')
  recommend(1, 3, 0.95)
  await until(() => engineGain(1) === 0.5, 10000, 'auto: the engine to reach the target')
  const glide = engineGot
    .slice(from)
    .filter((e) => e.band === BAND)
    .map((e) => e.p.gainDb)
  t.ok(glide.length >= 5, `auto: a glide, not a jump (${glide.join(' ')})`)
  t.ok(
    glide.every((g, i) => i === 0 || g >= glide[i - 1]!),
    'auto: monotonic toward the target',
  )
  t.ok(Date.now() - t0 >= 300, '3 dB at 10 dB/s takes at least 0.3 s')
  t.equal(app.outputSettings()[1]!.eq[BAND]!.gainDb, 0.5)
  t.same(eqBy(), ['console:foh', 'automation'], 'auto: the automation moved it')
  t.ok(
    engineGot.slice(from).every((e) => e.output === 1),
    'only output 1 was touched',
  )

  t.match(await reg.executeLine('rollback', foh), { ok: true })
  t.equal(engineGain(1), -2.5, 'rollback: the engine gets exactly the accepted EQ again')
  const last = events.filter((e) => e.type === 'change' && e.change.what === 'eq').at(-1)
  t.match(last, { change: { who: 'console:foh' } }, 'rollback: by the operator who asked for it')
})

t.test('a watchdog BYPASS mid-recommendation turns automation off; ACTIVE turns it back on', async (t) => {
  const { app, automation, reg, engineGot, events, recommend, engineGain } = await unit(t, { maxStepDbPerS: 2, maxRangeDb: 6, settleMs: 0 })
  await reg.executeLine('mode auto', foh)
  recommend(0, 5)
  await until(() => engineGain(0) >= 0.3, 30000, 'the glide to be under way')
  // A fault the watchdog answers with BYPASS: the audio thread stalls past the sentinel's audioStallMs (200 ms here).
  const engine = app.engine as Partial<Pick<Engine, 'injectAudioStall'>>
  t.ok(engine.injectAudioStall, 'the sim engine can stall its audio thread')
  engine.injectAudioStall!(1500)
  await until(() => app.status().state === 'BYPASS' && !automation.state.enabled, 30000, 'BYPASS with automation paused')
  t.match(app.faults(5).at(-1), { to: 'BYPASS', cause: /stall/ }, 'the watchdog went to BYPASS for the stall')
  const held = engineGain(0)
  const n = engineGot.length
  t.ok(held < 5, `the glide stopped short of the target (${held} dB)`)
  await sleep(600)
  t.equal(engineGot.length, n, 'in BYPASS the engine gets no EQ from automation')
  const published = events.filter((e) => e.type === 'recommendation').length
  recommend(0, 2)
  await sleep(100)
  t.equal(events.filter((e) => e.type === 'recommendation').length, published, 'a recommendation in BYPASS is dropped, not published')
  await reg.executeLine('mode supervised', foh)
  recommend(0, 2)
  t.equal(automation.state.pending.length, 0, 'not even queued for the operator')
  t.match(await reg.executeLine('mode', foh), { ok: true, value: { paused: true } })

  await until(() => app.status().state === 'ACTIVE' && automation.state.enabled, 20000, 'ACTIVE with automation resumed once the engine runs again')
  await sleep(300)
  t.equal(engineGot.length, n, 'back in ACTIVE the interrupted glide does not resume by itself')
  recommend(0, 1)
  t.match(await reg.executeLine(`accept ${automation.state.pending[0]!.id}`, foh), { ok: true })
  t.equal(engineGain(0), Math.round((held + 1) * 100) / 100, 'a new recommendation is applied again')
  t.equal(app.status().relay, 'processed')
})

t.test('accepted and automatic changes never ask the engine for more than its ±24 dB, and the unit keeps running', async (t) => {
  const { app, automation, reg, engineGot, recommend, engineGain } = await unit(t, { maxStepDbPerS: 50, maxRangeDb: 6, settleMs: 0 })
  await reg.executeLine('mode supervised', foh)
  for (let i = 0; i < 5; i++) {
    recommend(0, 6)
    const r = await reg.executeLine(`accept ${automation.state.pending[0]!.id}`, foh)
    t.match(r, { ok: true }, `accept ${i + 1}: ${JSON.stringify(r).slice(0, 160)}`)
  }
  t.equal(engineGain(0), 24, "accepted up to the EQ band's limit and held there")
  t.same(automation.state.current[0]![BAND], 24, 'the automation agrees with the engine')
  await reg.executeLine('mode auto', foh)
  recommend(0, 6)
  await sleep(500)
  t.ok(
    engineGot.every((e) => Math.abs(e.p.gainDb) <= 24),
    'never beyond 24 dB',
  )
  recommend(0, -60)
  await until(() => engineGain(0) === 18, 30000, 'auto mode moves down again within the range')
  t.equal(app.status().state, 'ACTIVE')
})
