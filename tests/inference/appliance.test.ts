import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { registerInferenceCommands } from '../../firmware/automation/commands.ts'
import { type AttachedInference, attachInference } from '../../firmware/automation/service.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import { modelsDir } from '../../firmware/inference/manifest.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { until } from '../helpers/until.ts'

const FAULTS = new URL('./fixtures/fault-backend.ts', import.meta.url).href

const admin = { name: 'console:admin', permission: 'admin' as const, transport: 'console' }

t.test('on the running appliance a corrupt or mis-shaped model is refused and nothing else changes', async (t) => {
  const dir = t.testdir({})
  const good = JSON.parse(readFileSync(join(modelsDir, 'crowd_state.manifest.json'), 'utf8')) as Record<string, unknown>
  const bytes = readFileSync(join(modelsDir, 'crowd_state.onnx'))
  bytes[2000] = bytes[2000]! ^ 0x55
  writeFileSync(join(dir, 'corrupt.onnx'), bytes)
  writeFileSync(join(dir, 'corrupt.manifest.json'), JSON.stringify({ ...good, version: '2.0.0-corrupt', file: 'corrupt.onnx' }))
  writeFileSync(join(dir, 'shape.onnx'), readFileSync(join(modelsDir, 'crowd_state.onnx')))
  writeFileSync(
    join(dir, 'shape.manifest.json'),
    JSON.stringify({ ...good, version: '2.0.0-shape', file: 'shape.onnx', inputs: [{ name: 'logmel', type: 'float32', shape: [-1, 100, 40] }] }),
  )
  let inf: AttachedInference | null = null
  const running = await startAppliance('sim', {
    panelPort: null,
    logDir: null,
    hardwareWatchdogs: [],
    services: [async (app) => (inf = await attachInference(app))],
  })
  t.teardown(() => running.stop())
  const app = running.app
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: inf!.service, automation: inf!.automation, modelDirs: [modelsDir, dir] })
  await until(() => inf!.live.stats().patches >= 1, 30000, 'a first classification')
  t.match(await reg.executeLine('model activate crowd-state-2.0.0-corrupt', admin), { ok: false, code: 'FW_ERR_MODEL', message: /sha256/ })
  t.match(await reg.executeLine('model activate crowd-state-2.0.0-shape', admin), {
    ok: false,
    code: 'FW_ERR_MODEL',
    message: /shape \[N,50,40\], manifest says \[-1,100,40\]/,
  })
  t.equal(inf!.service.active('crowd-state')?.id, 'crowd-state-2.0.0', 'the shipped model stays active')
  const before = inf!.live.stats().patches
  await until(() => inf!.live.stats().patches > before, 30000, 'classification going on')
  t.equal(app.status().state, 'ACTIVE', 'the watchdog stays ACTIVE')
  t.equal(app.status().relay, 'processed', 'the sound stays processed')
})

t.test('on the running appliance an inference process crash degrades, the sound stays processed, and inference comes back', async (t) => {
  let inf: AttachedInference | null = null
  const running = await startAppliance('sim', {
    panelPort: null,
    logDir: null,
    hardwareWatchdogs: [],
    watchdog: { healthyPeriodMs: 500, degradedPeriodMs: 500 },
    services: [async (app) => (inf = await attachInference(app, { service: { backendModule: FAULTS, backoffInitialMs: 50 } }))],
  })
  t.teardown(() => running.stop())
  const app = running.app
  const live = inf!.live
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: inf!.service, automation: inf!.automation })

  // Starting the worker and the models can cost a loaded machine a first slow inference; what
  // matters is that the unit settles ACTIVE before the crash.
  await until(() => app.status().state === 'ACTIVE', 30000, 'ACTIVE before the crash')
  await until(() => live.stats().patches >= 2 && live.stats().vadWindows >= 10, 30000, 'classifier and VAD results from the engine features')
  t.match(await reg.executeLine('mode supervised', { name: 'console:foh', permission: 'operate', transport: 'console' }), { ok: true })
  await until(() => app.status().automationMode === 'supervised', 30000, 'the status to show the automation mode')

  const blocks = app.engine.blockCounter()
  await inf!.service.infer('crowd-state', {
    logmel: { type: 'float32', dims: [1, 50, 40], data: new Float32Array(2000) },
    __fault: { type: 'float32', dims: [1], data: Float32Array.of(2) },
  })
  await until(() => app.faults(20).some((f) => f.to === 'DEGRADED' && f.cause === 'inference-exit'), 30000, 'DEGRADED for inference-exit')
  t.pass('the watchdog degraded, recording the crash (inference-exit) as the cause')
  t.equal(app.status().relay, 'processed', 'the relay stays energised: processed sound')
  t.ok(app.status().engine.processed, 'the engine output stays processed')
  t.equal(inf!.automation.state.enabled, false, 'automation paused while degraded')
  await until(() => app.status().state === 'ACTIVE', 30000, 'ACTIVE again after the restart and the healthy period')
  t.ok(app.engine.blockCounter() > blocks, 'blocks flowed throughout')
  t.equal(inf!.automation.state.enabled, true, 'automation resumes')
  const before = live.stats().patches
  await until(() => live.stats().patches > before, 30000, 'classification resumed')
})

t.test(
  'on the running appliance a hung inference process (SIGSTOP) degrades with inference-hung, the sound stays processed, and a fresh process brings it back',
  async (t) => {
    let inf: AttachedInference | null = null
    const running = await startAppliance('sim', {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      watchdog: { healthyPeriodMs: 500, degradedPeriodMs: 500 },
      services: [async (app) => (inf = await attachInference(app, { service: { backoffInitialMs: 50 } }))],
    })
    t.teardown(() => running.stop())
    const app = running.app
    await until(() => app.status().state === 'ACTIVE', 30000, 'ACTIVE before the hang')
    await until(() => inf!.live.stats().patches >= 1, 30000, 'a first classification')
    const pid = inf!.service.pid!
    t.ok(pid > 0 && pid !== process.pid, 'the models run in a process of their own')
    const blocks = app.engine.blockCounter()
    const since = app.faults(50).length
    process.kill(pid, 'SIGSTOP')
    await until(() => app.faults(50).some((f) => f.to === 'DEGRADED' && f.cause === 'inference-hung'), 30000, 'DEGRADED for inference-hung')
    const after = app.faults(50).slice(since)
    t.notOk(
      after.some((f) => /^inference-(error|exit)$/.test(f.cause)),
      `recorded as a hang, not as an error or exit (${after.map((f) => f.cause).join(', ')})`,
    )
    t.equal(app.status().relay, 'processed', 'the relay stays energised: processed sound')
    await until(() => inf!.service.stats().restarts === 1 && inf!.service.running, 30000, 'a fresh inference process')
    t.not(inf!.service.pid, pid, 'the stopped process was replaced')
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'and killed (SIGKILL reaches a stopped process)')
    await until(() => app.status().state === 'ACTIVE', 30000, 'ACTIVE again once the fresh process answers')
    t.ok(app.engine.blockCounter() > blocks, 'blocks flowed throughout')
    const before = inf!.live.stats().patches
    await until(() => inf!.live.stats().patches > before, 30000, 'classification resumed')
  },
)
