import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { registerInferenceCommands } from '../../firmware/automation/commands.ts'
import { AutomationController, applianceEqSink } from '../../firmware/automation/controller.ts'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { RecordingConsent, SnippetStore } from '../../firmware/inference/snippets.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const admin: Principal = { name: 'test:admin', permission: 'admin', transport: 'test' }
const operator: Principal = { name: 'console:foh', permission: 'operate', transport: 'console' }
const observer: Principal = { name: 'test:obs', permission: 'observe', transport: 'test' }
const BANDS = [63, 125, 250, 500, 1000, 2000, 4000, 8000]

async function rig(t: Test) {
  const app = new FakeAppliance()
  const svc = new InferenceService()
  t.teardown(() => svc.stop())
  await svc.start()
  for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
  const automation = new AutomationController({ outputs: app.profile.audio.outputs, bandsHz: BANDS, mode: 'advisory', sink: applianceEqSink(app, BANDS) })
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: svc, automation })
  return { app, svc, automation, reg }
}

t.test('mode, recommendations, accept and rollback through the registry', async (t) => {
  const { app, automation, reg } = await rig(t)
  const before = structuredClone(app.outputSettings())
  t.match(await reg.executeLine('mode', observer), { ok: false, code: 'FW_ERR_PERMISSION' }, 'observers cannot change or read the mode command (operate)')
  t.match(await reg.executeLine('mode supervised', operator), { ok: true, value: { mode: 'supervised' } })
  automation.recommend({ output: 1, deltaDb: [0, 0, 0, 2.5, 0, 0, 0, -1], confidence: 0.9, model: 'eq-recommender-1.0.0' })
  const list = await reg.executeLine('recommendations', observer)
  t.match(list, { ok: true, value: [{ id: 1, output: 2, proposedDb: [0, 0, 0, 2.5, 0, 0, 0, -1] }] })
  t.same(app.outputSettings(), before, 'nothing applied before accept')
  t.match(await reg.executeLine('accept 1', operator), { ok: true })
  const eq = app.outputSettings()[1]!.eq
  t.equal(eq[3]!.gainDb, 2.5)
  t.equal(eq[7]!.gainDb, -1)
  t.match(await reg.executeLine('accept 1', operator), { ok: false, code: 'FW_ERR_AUTOMATION' })
  t.match(await reg.executeLine('reject 7', operator), { ok: false, code: 'FW_ERR_AUTOMATION', message: /no pending recommendation 7/ })
  await reg.executeLine('mode auto', operator)
  automation.recommend({ output: 1, deltaDb: [1, 1, 1, 1, 1, 1, 1, 1], confidence: 0.99, model: 'm' })
  for (let i = 1; i <= 30; i++) automation.tick(Date.now() + i * 100)
  t.not(app.outputSettings()[1]!.eq[0]!.gainDb, 0, 'auto mode moved the EQ')
  t.match(await reg.executeLine('rollback', operator), { ok: true })
  t.same(
    app
      .outputSettings()[1]!
      .eq.slice(0, 8)
      .map((b) => b.gainDb),
    [0, 0, 0, 2.5, 0, 0, 0, -1],
    'back to exactly the accepted EQ',
  )
})

t.test('model list, activate and rollback', async (t) => {
  const { reg } = await rig(t)
  const l = await reg.executeLine('model list', observer)
  t.ok(l.ok)
  const models = (l as { value: { models: Array<{ id: string; state: string }> } }).value.models
  t.same(
    models.map((m) => m.state),
    BUILTIN_MANIFESTS.map(() => 'active'),
  )
  t.match(await reg.executeLine('model activate nothing-9', admin), { ok: false, code: 'FW_ERR_MODEL' })
  t.match(await reg.executeLine('model activate crowd-state-2.0.0', operator), { ok: false, code: 'FW_ERR_PERMISSION' })
  t.match(await reg.executeLine('model activate crowd-state-2.0.0', admin), { ok: true, value: { active: 'crowd-state-2.0.0' } })
  const r = await reg.executeLine('model rollback', admin)
  t.match(r, { ok: false, code: 'FW_ERR_CONFIRM_REQUIRED' }, 'rollback is destructive: it asks for a confirm token')
  const again = await reg.executeLine(`model rollback confirm=${(r as { confirmToken: string }).confirmToken}`, admin)
  t.match(again, { ok: false, code: 'FW_ERR_MODEL', message: /no previous version/ }, 'nothing to roll back to after re-activating the same version')
})

t.test('consent: off by default, admin only, and turning it off deletes the snippets', async (t) => {
  const app = new FakeAppliance()
  const svc = new InferenceService()
  const automation = new AutomationController({ outputs: 2, bandsHz: BANDS, sink: { applyGains: () => {} } })
  const consent = new RecordingConsent()
  const snippets = new SnippetStore({ dir: join(t.testdir({}), 's'), consent: () => consent.on, key: randomBytes(32) })
  const reg = createRegistry(app)
  registerInferenceCommands(reg, { service: svc, automation, consent, snippets })
  t.match(await reg.executeLine('consent', admin), { ok: true, value: { consent: false } })
  t.throws(() => snippets.save(new Float32Array(160), 16000), { code: 'FW_ERR_PRIVACY' })
  t.match(await reg.executeLine('consent on', operator), { ok: false, code: 'FW_ERR_PERMISSION' })
  t.match(await reg.executeLine('consent on', admin), { ok: true, value: { consent: true } })
  t.equal(consent.changedBy, 'test:admin')
  snippets.save(new Float32Array(160), 16000)
  snippets.save(new Float32Array(160), 16000)
  t.match(await reg.executeLine('consent off', admin), { ok: true, value: { consent: false, deleted: 2, snippets: 0 } })
})
