import t from 'tap'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { attachInference, type AttachedInference } from '../../firmware/inference/index.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import { registerInferenceCommands } from '../../firmware/automation/commands.ts'

const FAULTS = new URL('./fixtures/fault-backend.ts', import.meta.url).href
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

t.test('on the running appliance a worker crash degrades, the sound stays processed, and inference comes back', async (t) => {
  let inf: AttachedInference | null = null
  const running = await startAppliance('sim', {
    panelPort: null, logDir: null, hardwareWatchdogs: [],
    watchdog: { healthyPeriodMs: 500, degradedPeriodMs: 500 },
    services: [async (app) => (inf = await attachInference(app, { service: { backendModule: FAULTS, backoffInitialMs: 50 } }))],
  })
  t.teardown(() => running.stop())
  const app = running.app
  const live = inf!.live
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: inf!.service, automation: inf!.automation })

  t.equal(app.status().state, 'ACTIVE')
  await until(() => live.stats().patches >= 2 && live.stats().vadWindows >= 10, 'classifier and VAD results from the engine features')
  t.match(await reg.executeLine('mode supervised', { name: 'console:foh', permission: 'operate', transport: 'console' }), { ok: true })
  await until(() => app.status().automationMode === 'supervised', 'the status to show the automation mode')

  const blocks = app.engine.blockCounter()
  await inf!.service.infer('crowd-state', { logmel: { type: 'float32', dims: [1, 50, 40], data: new Float32Array(2000) }, __fault: { type: 'float32', dims: [1], data: Float32Array.of(2) } })
  await until(() => app.faults(20).some((f) => f.to === 'DEGRADED' && f.cause === 'inference-exit'), 'DEGRADED for inference-exit')
  t.pass('the watchdog degraded, recording the worker exit as the cause')
  t.equal(app.status().relay, 'processed', 'the relay stays energised: processed sound')
  t.ok(app.status().engine.processed, 'the engine output stays processed')
  t.equal(inf!.automation.state.enabled, false, 'automation paused while degraded')
  await until(() => app.status().state === 'ACTIVE', 'ACTIVE again after the restart and the healthy period')
  t.ok(app.engine.blockCounter() > blocks, 'blocks flowed throughout')
  t.equal(inf!.automation.state.enabled, true, 'automation resumes')
  const before = live.stats().patches
  await until(() => live.stats().patches > before, 'classification resumed')
})
