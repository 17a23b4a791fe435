// The store as the runtime starts it: boot preset applied, preset commands registered, health
// reported for recovery on every watchdog transition.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { BoardProfile } from '../../firmware/board/profile.ts'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { type HealthRecord, openStore } from '../../firmware/store/index.ts'
import { imageVersion, storeService } from '../../firmware/store/service.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const operator: Principal = { name: 'test:op', permission: 'operate', transport: 'test' }

t.test('the store service applies the boot preset, serves preset commands and reports health', async (t) => {
  const dataDir = t.testdir({})
  const seed = openStore(dataDir, () => {})
  await seed.presets.save({
    name: 'show',
    outputs: [{ gainDb: -7, eq: [], compressor: { thresholdDb: -10, ratio: 4, kneeDb: 3, attackMs: 5, releaseMs: 80, makeupDb: 1, enabled: true } }],
    inputTrimDb: [2],
    beams: [],
  })
  await seed.config.update({ bootPreset: 'show' })

  const app = new FakeAppliance()
  ;(app as unknown as { profile: BoardProfile }).profile = { ...app.profile, dataDir }
  app.state = 'BOOT'
  const registry = createRegistry(app)
  const svc = await storeService({ registry, healthIntervalMs: 200, log: () => {} })(app)
  t.equal(app.outputs[0]!.gainDb, -7, 'boot preset applied')
  t.equal(app.outputs[0]!.compressor.ratio, 4)
  t.equal(app.trims[0], 2)
  t.match(await registry.executeLine('preset list', operator), { ok: true, value: [{ name: 'show' }] })

  const health = (): HealthRecord => JSON.parse(readFileSync(join(dataDir, 'health.json'), 'utf8')) as HealthRecord
  await new Promise((r) => setTimeout(r, 50))
  t.equal(health().state, 'BOOT')
  app.state = 'ACTIVE'
  app.emit({ type: 'transition', record: { at: Date.now(), from: 'BOOT', to: 'ACTIVE', cause: 'boot-complete', evidence: '' } })
  await new Promise((r) => setTimeout(r, 50))
  const h = health()
  t.equal(h.state, 'ACTIVE')
  t.type(h.activeSince, 'number')
  t.equal(h.version, '0.1.0-test', 'from source: the appliance version')
  await svc.stop()
  t.match(health(), { state: 'STOPPED', activeSince: null }, 'a stopped firmware does not read as ACTIVE')
})

t.test('the image version is read from the manifest beside the binary', async (t) => {
  const dir = t.testdir({ 'manifest.json': JSON.stringify({ format: 'stage-image/1', version: '3.4.5' }) })
  t.equal(imageVersion(join(dir, 'firmware')), '3.4.5')
  t.equal(imageVersion(join(t.testdir({}), 'node')), null)
})
