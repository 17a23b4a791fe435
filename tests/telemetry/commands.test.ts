// `telemetry on|off|show` through the one registry on the real appliance: only an admin turns it on;
// bad settings are refused with a code and change nothing (the running publisher stays connected);
// the setting is kept in the store; `telemetry off` marks the unit offline (stopped) at the broker.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry, Principal } from '../../firmware/commands/index.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { ConfigStore } from '../../firmware/store/config.ts'
import { until } from '../helpers/until.ts'
import { bounded, cleanup, client, unitAndBroker } from './helpers.ts'

const admin: Principal = { name: 'test:admin', permission: 'admin', transport: 'test' }
const operator: Principal = { name: 'test:operator', permission: 'operate', transport: 'test' }

t.test('telemetry on/off/show on the registry', async (t) => {
  const { dir, dataDir, serial, pki, broker } = await unitAndBroker(t)
  const seen: Array<{ topic: string; body: Record<string, unknown> }> = []
  const fleet = await client(broker.port, { cert: readFileSync(pki.fleet.cert), key: readFileSync(pki.fleet.key), ca: readFileSync(pki.fleet.ca) })
  cleanup(t, "closing the fleet's client", () => fleet.endAsync(true))
  fleet.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) }))
  await bounded(fleet.subscribeAsync('fest/#', { qos: 1 }), 10000, "the fleet's subscription")

  let registry: CommandRegistry | null = null
  const starting = startAppliance(
    { ...loadProfile('sim'), dataDir },
    { services: [applianceStack({ api: false, console: false, inference: false, onRegistry: (r) => (registry = r), log: () => {} })] },
  )
  cleanup(t, 'stopping the unit', async () => (await starting).stop(), 30000)
  await bounded(starting, 60000, 'the unit to start')
  const registered = registry!
  const reg = {
    execute: (name: string, args: Record<string, unknown>, who: Principal) => bounded(registered.execute(name, args, who), 15000, `the command '${name}'`),
  }
  const show = async () => ((await reg.execute('telemetry show', {}, operator)) as { value: Record<string, unknown> }).value
  t.match(await show(), { enabled: false, connected: false }, 'off by default')

  const url = `mqtts://127.0.0.1:${broker.port}`
  const on = { url, site: 'fest', stage: 'main', ca: pki.brokerCa, keepalive: 5 }
  t.match(await reg.execute('telemetry on', on, operator), { ok: false, code: 'FW_ERR_PERMISSION' }, 'an operator may not turn it on')
  t.match(await reg.execute('telemetry on', on, admin), { ok: true })
  await until(() => seen.some((s) => s.topic === `fest/main/${serial}/online` && s.body.online === true), 15000, 'online at the broker')
  t.match(await show(), { enabled: true, connected: true, root: `fest/main/${serial}` })

  const configOf = async () => (await new ConfigStore(dataDir, { log: () => {} }).load()).subsystems.telemetry
  const stored = await configOf()
  t.match(stored, { enabled: true, url, site: 'fest', stage: 'main', keepaliveS: 5 }, 'kept in the store')

  // Refused, nothing changed: still on, still connected, the store as it was.
  t.match(await reg.execute('telemetry on', { ...on, url: 'mqtt://plain:1883' }, admin), { ok: false, code: 'FW_ERR_BAD_ARG' }, 'plain MQTT refused')
  t.match(await reg.execute('telemetry on', { ...on, site: 'fest/#' }, admin), { ok: false, code: 'FW_ERR_BAD_ARG' }, 'a wildcard level refused')
  t.match(
    await reg.execute('telemetry on', { ...on, ca: join(dir, 'missing.pem') }, admin),
    { ok: false, code: 'FW_ERR_BAD_OPTION' },
    'an unreadable CA refused',
  )
  const notPem = join(dir, 'not-a-cert.pem')
  writeFileSync(notPem, 'hello\n')
  t.match(await reg.execute('telemetry on', { ...on, ca: notPem }, admin), { ok: false, code: 'FW_ERR_BAD_OPTION' }, 'a CA file without a certificate refused')
  t.match(await show(), { enabled: true, connected: true }, 'still on and connected')
  t.same(await configOf(), stored, 'the store unchanged')

  // Fleet commands turned on are kept too: a restart must not turn them off behind the admin's back.
  const reOn = seen.length
  t.match(await reg.execute('telemetry on', { ...on, commands: true }, admin), { ok: true })
  await until(() => seen.slice(reOn).some((s) => s.topic === `fest/main/${serial}/online` && s.body.online === true), 15000, 'online again')
  t.match(await configOf(), { enabled: true, commands: true }, 'commands=on kept in the store')
  t.match(await show(), { enabled: true, commands: true })

  const before = seen.length
  t.match(await reg.execute('telemetry off', {}, admin), { ok: true })
  await until(() => seen.slice(before).some((s) => s.topic === `fest/main/${serial}/online` && s.body.online === false), 10000, 'offline at the broker')
  t.match(seen.slice(before).find((s) => s.topic.endsWith('/online') && s.body.online === false)?.body, { online: false, reason: 'stopped' })
  t.match(await configOf(), { enabled: false }, 'off kept in the store')
})
