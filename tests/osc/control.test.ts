// An admin turns OSC on for one mixing console and off again, from the one command registry; the
// setting survives a restart; a bad allow-list changes nothing.
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { Principal } from '../../firmware/commands/index.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import { OscControl, registerOscCommands } from '../../firmware/osc/control.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { openStore } from '../../firmware/store/index.ts'
import { oscsend, until } from './helpers.ts'

const admin: Principal = { name: 'console:foh', permission: 'admin', transport: 'console' }
const operator: Principal = { name: 'api:tablet', permission: 'operate', transport: 'api' }

t.test('osc on/off from the registry, kept in the store, refused for a bad list or a non-admin', async (t) => {
  const dataDir = t.testdir()
  const run = await startAppliance({ ...loadProfile('sim'), dataDir }, { services: [], panelPort: null, logDir: null, hardwareWatchdogs: [] })
  t.teardown(() => run.stop())
  const app = run.app
  const registry = createRegistry(app)
  const store = openStore(dataDir)
  const control = new OscControl(app, registry, { config: store.config, options: { port: 0 } })
  t.teardown(() => control.stop())
  registerOscCommands(registry, control)
  await control.startFromStore()

  t.match(await registry.executeLine('osc show', admin), { ok: true, value: { enabled: false, port: 'off' } }, 'off by default')
  t.match(await registry.executeLine('osc on allow=127.0.0.1', operator), { ok: false, code: 'FW_ERR_PERMISSION' }, 'an operator cannot open it')
  t.match(await registry.executeLine('osc on allow=not-an-address', admin), { ok: false }, 'garbage is refused')
  // The refusal says what the argument is (addresses), not a name rule.
  const garbage = await registry.executeLine('osc on allow=not-an-address', admin)
  t.match(garbage, {
    code: 'FW_ERR_BAD_ARG',
    message: /allow must be comma-separated IP addresses or CIDR ranges allowed to send \(up to 400 characters\), got "not-an-address"/,
  })
  t.notMatch(JSON.stringify(garbage), /a name of/)
  t.match(await registry.executeLine('osc on allow=300.1.1.1', admin), { ok: false, message: /not an IP address/ }, 'a bad address is refused')
  t.equal(control.port, null, 'and OSC stays off')

  const on = await registry.executeLine('osc on allow=127.0.0.1,10.0.0.0/24', admin)
  t.match(on, { ok: true, value: { enabled: true, allow: '127.0.0.1,10.0.0.0/24' } })
  const port = control.port!
  t.ok(port > 0, `listening on ${port}`)
  t.equal(await oscsend(port, '/bypass', 'i', '1'), 0)
  await until(() => app.status().state === 'MANUAL_BYPASS', 'MANUAL_BYPASS from the mixing console')

  // A restart: a new controller over the same store comes back on, with the same list.
  const again = new OscControl(app, registry, { config: openStore(dataDir).config, options: { port: 0 } })
  t.teardown(() => again.stop())
  t.same(oscSettingOf(await store.config.load()), { enabled: true, allow: ['127.0.0.1', '10.0.0.0/24'] }, 'stored')
  await control.stop()
  await again.startFromStore()
  t.same(again.setting, { enabled: true, allow: ['127.0.0.1', '10.0.0.0/24'] }, 'on again after a restart')
  await again.stop()

  t.match(await registry.executeLine('osc off', admin), { ok: true, value: { enabled: false, port: 'off' } })
  t.same(oscSettingOf(await store.config.load()), { enabled: false, allow: [] }, 'off is stored too')
})

function oscSettingOf(cfg: { subsystems: Record<string, unknown> }): unknown {
  return cfg.subsystems.osc
}
