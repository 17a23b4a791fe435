// The automation commands (mode, recommendations, accept, reject, approve, undo, rollback) as an
// operator types them, through the one command registry: bad input gets a clear FW_ERR code and
// changes nothing (the automation state, the EQ the appliance holds, the calls it saw).
import t from 'tap'
import { registerInferenceCommands } from '../../firmware/automation/commands.ts'
import { AutomationController, applianceEqSink } from '../../firmware/automation/controller.ts'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import type { InferenceService } from '../../firmware/inference/service.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const operator: Principal = { name: 'console:foh', permission: 'operate', transport: 'console' }
const observer: Principal = { name: 'api:viewer', permission: 'observe', transport: 'api' }
const BANDS = [63, 125, 250, 500, 1000, 2000, 4000, 8000]

function rig() {
  const app = new FakeAppliance()
  const clock = { now: 1_000_000 }
  const automation = new AutomationController({
    outputs: app.profile.audio.outputs,
    bandsHz: BANDS,
    mode: 'supervised',
    limits: { settleMs: 1000 },
    sink: applianceEqSink(app, BANDS.slice(0, 4)),
    now: () => clock.now,
  })
  const reg = createRegistry(app)
  // The model commands are not exercised here; the automation ones never touch the service.
  registerInferenceCommands(reg, { service: {} as InferenceService, automation })
  /** Runs the control tick for ms milliseconds. */
  const run = (ms: number) => {
    for (let i = 0; i < ms / 10; i++) {
      clock.now += 10
      automation.tick()
    }
  }
  return { app, automation, reg, run }
}

/** What a refused command must leave alone. */
const snapshot = (app: FakeAppliance, automation: AutomationController) =>
  structuredClone({ state: automation.state, eq: app.outputSettings(), calls: app.calls })

t.test('bad input to the automation commands: FW_ERR_BAD_ARG, and nothing changes', async (t) => {
  const { app, automation, reg } = rig()
  automation.recommend({ output: 0, deltaDb: [1, 0, 0, 2], confidence: 0.9, model: 'm' })
  t.match(await reg.executeLine('accept 1', operator), { ok: true })
  automation.recommend({ output: 1, deltaDb: [0, -2, 0, 0], confidence: 0.9, model: 'm' })
  const before = snapshot(app, automation)
  const lines: Array<[string, RegExp]> = [
    ['accept', /id is missing/],
    ['accept 0', /whole number from 1/],
    ['accept -2', /whole number from 1/],
    ['accept two', /whole number from 1/],
    ['accept 2.5', /whole number from 1/],
    ['accept 1e99', /whole number from 1/],
    ['accept 2 2', /too many arguments/],
    ['reject', /id is missing/],
    ['reject 0x2', /whole number from 1/],
    ['mode manual', /one of advisory, supervised, auto/],
    ['mode AUTO!', /one of advisory, supervised, auto/],
    ['mode auto now', /too many arguments/],
    ['rollback all', /too many arguments/],
    ['undo 2', /too many arguments/],
    ['approve yes', /too many arguments/],
    ['recommendations 1', /too many arguments/],
  ]
  for (const [line, message] of lines) {
    t.match(await reg.executeLine(line, operator), { ok: false, code: 'FW_ERR_BAD_ARG', message }, line)
  }
  t.same(snapshot(app, automation), before, 'nothing changed')
})

t.test('refusals by the automation itself: FW_ERR_AUTOMATION with what to do, nothing changes', async (t) => {
  const { app, automation, reg } = rig()
  automation.recommend({ output: 0, deltaDb: [1, 0, 0, 0], confidence: 0.9, model: 'm' })
  let before = snapshot(app, automation)
  t.match(await reg.executeLine('accept 7', operator), { ok: false, code: 'FW_ERR_AUTOMATION', message: 'no pending recommendation 7 (pending: 1)' })
  t.match(await reg.executeLine('undo', operator), { ok: false, code: 'FW_ERR_AUTOMATION', message: 'nothing to undo' })
  t.same(snapshot(app, automation), before, 'nothing changed')
  t.match(await reg.executeLine('mode advisory', operator), { ok: true, value: { mode: 'advisory' } })
  before = snapshot(app, automation)
  t.match(await reg.executeLine('accept 1', operator), {
    ok: false,
    code: 'FW_ERR_AUTOMATION',
    message: /supervised mode; the mode is advisory \(use: mode supervised\)/,
  })
  t.match(await reg.executeLine('reject 1', operator), { ok: false, code: 'FW_ERR_AUTOMATION', message: /supervised mode/ })
  t.same(snapshot(app, automation), before, 'nothing changed')
  await reg.executeLine('mode supervised', operator)
  automation.recommend({ output: 0, deltaDb: [1, 0, 0, 0], confidence: 0.9, model: 'm' })
  automation.setEnabled(false, 'watchdog BYPASS')
  before = snapshot(app, automation)
  t.match(await reg.executeLine('accept 2', operator), {
    ok: false,
    code: 'FW_ERR_AUTOMATION',
    message: /paused while the watchdog has inference disabled; nothing was applied/,
  })
  t.same(snapshot(app, automation), before, 'nothing changed while paused')
  t.match(await reg.executeLine('mode', observer), { ok: false, code: 'FW_ERR_PERMISSION' })
  t.match(await reg.executeLine('accept 2', observer), { ok: false, code: 'FW_ERR_PERMISSION' })
  t.same(snapshot(app, automation), before, 'an observer changes nothing')
  t.match(await reg.executeLine('mode', operator), { ok: true, value: { mode: 'supervised', paused: true } }, 'mode shows the pause')
})

t.test('the commands do what they say: recommendations, accept, reject, approve, undo, rollback', async (t) => {
  const { app, automation, reg, run } = rig()
  const eq0 = () => app.outputSettings()[0]!.eq.map((b) => b.gainDb)
  automation.recommend({ output: 0, deltaDb: [1.04, 0, 0, -2], confidence: 0.876, model: 'm' })
  automation.recommend({ output: 1, deltaDb: [0, 3, 0, 0], confidence: 0.5, model: 'm' })
  t.match(
    await reg.executeLine('recommendations', observer),
    {
      ok: true,
      value: [
        { id: 1, output: 1, confidence: 0.88, proposedDb: [1.04, 0, 0, -2], deltaDb: [1, 0, 0, -2] },
        { id: 2, output: 2 },
      ],
    },
    'outputs counted from 1 as on the panel',
  )
  t.match(await reg.executeLine('reject 2', operator), { ok: true, value: { rejected: 2 } })
  t.match(await reg.executeLine('accept 1', operator), { ok: true, value: { accepted: 1 } })
  t.same(eq0(), [1.04, 0, 0, -2], 'the EQ got the accepted gains')
  automation.setMode('auto', 'test')
  automation.recommend({ output: 0, deltaDb: [0, 0, 0, 1], confidence: 0.99, model: 'm' })
  run(2000)
  t.ok(eq0()[3]! > -2, 'auto moved band 4')
  t.match(await reg.executeLine('undo', operator), { ok: true })
  t.same(eq0(), [1.04, 0, 0, -2], 'undo: back to before the automatic change')
  automation.recommend({ output: 0, deltaDb: [0, 0, 0, 1], confidence: 0.99, model: 'm' })
  run(3000)
  t.match(await reg.executeLine('approve', operator), { ok: true })
  const approved = eq0()
  automation.recommend({ output: 0, deltaDb: [-3, 0, 0, 0], confidence: 0.99, model: 'm' })
  run(1000)
  t.not(eq0()[0], approved[0], 'auto moved band 1')
  t.match(await reg.executeLine('rollback', operator), { ok: true })
  t.same(eq0(), approved, 'rollback: exactly the approved EQ')
})
