// The preset commands as an operator uses them: through the command registry, over the store.
import t from 'tap'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { registerPresetCommands } from '../../firmware/store/commands.ts'
import { openStore } from '../../firmware/store/index.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const operator: Principal = { name: 'test:operator', permission: 'operate', transport: 'test' }
const observer: Principal = { name: 'test:observer', permission: 'observe', transport: 'test' }

t.test('preset save, list, load and delete work through the registry', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const { presets } = openStore(t.testdir({}), () => {})
  registerPresetCommands(reg, presets, { inputTrims: () => app.trims })
  app.outputs[0]!.gainDb = -4.5
  app.outputs[1]!.eq[2] = { type: 'highshelf', freqHz: 8000, gainDb: 2, q: 0.7, enabled: true }
  t.match(await reg.executeLine('preset save verse', operator), { ok: true, value: { saved: 'verse', outputs: 4, beams: 4 } })
  // The sound changes, then the preset brings it back.
  app.outputs[0]!.gainDb = 0
  app.outputs[1]!.eq[2] = { type: 'peak', freqHz: 1000, gainDb: 0, q: 1, enabled: false }
  const list = await reg.executeLine('preset list', observer)
  t.match(list, { ok: true, value: [{ name: 'verse' }] })
  t.match(await reg.executeLine('preset load verse', operator), { ok: true, value: { loaded: 'verse' } })
  t.equal(app.outputs[0]!.gainDb, -4.5)
  t.same(app.outputs[1]!.eq[2], { type: 'highshelf', freqHz: 8000, gainDb: 2, q: 0.7, enabled: true })
  t.match(await reg.executeLine('preset load chorus', operator), { ok: false, code: 'FW_ERR_PRESET_NOT_FOUND' })
  t.match(await reg.executeLine('preset save verse', observer), { ok: false }, 'observers cannot save')
  t.match(await reg.executeLine('preset delete verse', operator), { ok: true })
  t.match(await reg.executeLine('preset list', observer), { ok: true, value: [] })
})
