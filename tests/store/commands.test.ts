// The preset commands as an operator uses them: through the command registry, over the store.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
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

t.test('preset list shows a preset with both copies corrupt as CORRUPT, not dated 1970', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  registerPresetCommands(reg, presets)
  t.match(await reg.executeLine('preset save good', operator), { ok: true })
  t.match(await reg.executeLine('preset save bad', operator), { ok: true })
  writeFileSync(join(dir, 'presets', 'bad.json'), 'garbage')
  const list = await reg.executeLine('preset list', observer)
  t.match(list, {
    ok: true,
    value: [
      { name: 'bad', savedAt: null, corrupt: true },
      { name: 'good', corrupt: false },
    ],
  })
  const human = reg.get('preset list')!.human!((list as unknown as { value: never }).value)
  t.notMatch(human, /1970/, 'no epoch date')
  t.match(human, /^bad\s+CORRUPT \(bad\.json is truncated or not JSON, and its last-known-good copy is missing\)$/m)
  t.match(human, /^good\s+saved \d{4}-\d\d-\d\dT/m)
})
