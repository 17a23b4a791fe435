import t from 'tap'
import { mkdirSync, readFileSync, readlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { SlotManager } from '../../recovery/slots.ts'
import { factoryReset } from '../../recovery/reset.ts'
import { compareVersions } from '../../recovery/version.ts'
import { makeBundle, makeFixture } from './helpers.ts'

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

function health(file: string, h: { state: string; activeSince: number | null; at: number; version: string }): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, JSON.stringify({ format: 'stage-health/1', pid: 1, ...h }))
}

t.test('an update installs to the inactive slot and is marked good only after its healthy period', async (t) => {
  const f = makeFixture(t.testdir({}), { healthyPeriodS: 60 })
  const c = clock()
  const mgr = new SlotManager(f.cfg, { now: c.now, log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  t.same(mgr.install(makeBundle(f, '1.1.0')), { slot: 'b', version: '1.1.0', pending: true })
  t.equal(readlinkSync(mgr.currentLink), f.cfg.slots.b, 'current points at the new slot')
  const boot = mgr.boot()
  t.same([boot.slot, boot.state, mgr.read().slots.b.boots], ['b', 'pending', 1])
  c.advance(5000)
  health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: c.now(), at: c.now() + 30_000, version: '1.1.0' })
  t.notOk(mgr.confirm(), '30 s ACTIVE is not enough')
  health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: c.now(), at: c.now() + 61_000, version: '1.0.0' })
  t.notOk(mgr.confirm(), 'a report from the old version does not count')
  health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: 1, at: c.now() + 61_000, version: '1.1.0' })
  t.notOk(mgr.confirm(), 'ACTIVE since before this boot does not count')
  health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: c.now(), at: c.now() + 61_000, version: '1.1.0' })
  t.ok(mgr.confirm())
  t.equal(mgr.read().slots.b.state, 'good')
  t.equal(mgr.boot().state, 'good', 'later boots are not counted')
})

t.test('a slot that never reports healthy rolls back by itself after N boots', async (t) => {
  const f = makeFixture(t.testdir({}), { bootTries: 3 })
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  mgr.install(makeBundle(f, '2.0.0'))
  for (let i = 1; i <= 3; i++) {
    const b = mgr.boot()
    t.same([b.slot, b.version, b.rolledBackFrom], ['b', '2.0.0', null], `boot ${i} tries the new slot`)
    health(f.cfg.healthFile, { state: 'DEGRADED', activeSince: null, at: Date.now(), version: '2.0.0' })
  }
  const b = mgr.boot()
  t.same([b.slot, b.version, b.state], ['a', '1.0.0', 'good'])
  t.same(b.rolledBackFrom, { slot: 'b', version: '2.0.0' })
  const s = mgr.read()
  t.equal(s.slots.b.state, 'bad')
  t.match(s.slots.b.note, /within 3 boots/)
  t.equal(readlinkSync(mgr.currentLink), f.cfg.slots.a)
  t.match(s.history.map((h) => h.event).join('\n'), /rolled back to slot a/)
  // The next update goes over the bad slot.
  t.same(mgr.install(makeBundle(f, '2.0.1')), { slot: 'b', version: '2.0.1', pending: true })
})

t.test('an operator can roll back to the previous good slot, but not to an empty or bad one', async (t) => {
  const f = makeFixture(t.testdir({}))
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  t.throws(() => mgr.rollback(), { code: 'REC_ERR_SLOT', message: /slot b holds no good firmware \(it is empty\)/ })
  mgr.install(makeBundle(f, '1.1.0'))
  t.same(mgr.rollback(), { from: 'b', to: 'a', version: '1.0.0' })
  t.equal(mgr.read().slots.b.state, 'bad', 'the unconfirmed slot is marked bad')
  t.throws(() => mgr.rollback(), { code: 'REC_ERR_SLOT' })
})

t.test('boot refuses clearly when nothing is installed', async (t) => {
  const f = makeFixture(t.testdir({}))
  t.throws(() => new SlotManager(f.cfg, { log: () => {} }).boot(), { code: 'REC_ERR_SLOT', message: /install a bundle/ })
})

t.test('factory reset wipes presets and data but keeps the identity, unless --full', async (t) => {
  const f = makeFixture(t.testdir({}))
  const d = f.cfg.dataDir
  for (const dir of ['identity', 'ca', 'presets', 'logs']) mkdirSync(join(d, dir), { recursive: true })
  writeFileSync(join(d, 'identity', 'device-cert.pem'), 'cert')
  writeFileSync(join(d, 'device.key'), 'key')
  writeFileSync(join(d, 'presets', 'verse.json'), '{}')
  writeFileSync(join(d, 'config.json'), '{}')
  const r = factoryReset(f.cfg)
  t.same(r.removed, ['config.json', 'logs', 'presets'])
  t.same(readdirSync(d).sort(), ['ca', 'device.key', 'identity'])
  t.equal(readFileSync(join(d, 'identity', 'device-cert.pem'), 'utf8'), 'cert')
  factoryReset(f.cfg, { full: true })
  t.same(readdirSync(d), [])
  t.ok(existsSync(d), 'the data directory itself stays')
})

t.test('versions order as releases do', async (t) => {
  t.ok(compareVersions('1.10.0', '1.9.9') > 0)
  t.ok(compareVersions('1.2.0-rc.1', '1.2.0') < 0)
  t.ok(compareVersions('1.2.0-rc.2', '1.2.0-rc.10') < 0)
  t.equal(compareVersions('1.2.3+build5', '1.2.3'), 0)
  t.throws(() => compareVersions('1.2', '1.2.0'))
})
