import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { factoryReset } from '../../recovery/reset.ts'
import { SlotManager } from '../../recovery/slots.ts'
import { compareVersions } from '../../recovery/version.ts'
import { makeBundle, makeFixture } from './helpers.ts'

/** A wall clock and a monotonic clock the test moves by hand (an NTP jump moves only the wall). */
function clock(start = 1_000_000): { now: () => number; mono: () => number; advance: (ms: number) => void; jump: (ms: number) => void } {
  let wall = start
  let mono = 5_000
  return {
    now: () => wall,
    mono: () => mono,
    advance: (ms) => {
      wall += ms
      mono += ms
    },
    jump: (ms) => {
      wall += ms
    },
  }
}

function health(file: string, h: { state: string; activeSince: number | null; at: number; version: string; pid?: number }): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, JSON.stringify({ format: 'stage-health/1', pid: 1, ...h }))
}

t.test('an update installs to the inactive slot and is marked good only after its healthy period', async (t) => {
  const f = makeFixture(t.testdir({}), { healthyPeriodS: 60 })
  const c = clock()
  const mgr = new SlotManager(f.cfg, { now: c.now, mono: c.mono, bootId: () => 'boot-1', log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  t.same(mgr.install(makeBundle(f, '1.1.0')), { slot: 'b', version: '1.1.0', pending: true })
  t.equal(readlinkSync(mgr.currentLink), f.cfg.slots.b, 'current points at the new slot')
  // A report left by the previous firmware (killed while ACTIVE) is on disk when the slot boots.
  health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: c.now() - 500_000, at: c.now(), version: '1.1.0', pid: 7 })
  const boot = mgr.boot()
  t.same([boot.slot, boot.state, mgr.read().slots.b.boots], ['b', 'pending', 1])
  c.advance(70_000)
  t.match(mgr.confirm(), { confirmed: false, reason: /from before it/ }, 'a leftover report does not count')
  const since = c.now()
  const report = (version = '1.1.0', pid = 42): void => health(f.cfg.healthFile, { state: 'ACTIVE', activeSince: since, at: c.now(), version, pid })
  report('1.0.0')
  t.match(mgr.confirm(), { confirmed: false, reason: /reports version 1\.0\.0, but slot b holds 1\.1\.0/ }, 'a report from the old version does not count')
  for (let i = 0; i < 15; i++) {
    c.advance(2000)
    report()
    t.notOk(mgr.confirm().confirmed)
  }
  t.match(mgr.confirm(), { confirmed: false, reason: /ACTIVE for 28 s of the 60 s needed/ }, '30 s ACTIVE is not enough')
  c.jump(3_600_000)
  report()
  t.match(mgr.confirm(), { confirmed: false, reason: /of the 60 s needed/ }, 'an NTP jump of an hour does not make it healthy')
  c.advance(11_000)
  t.match(mgr.confirm(), { confirmed: false, reason: /has not changed for 11 s/ }, 'a report that stopped changing does not count')
  report()
  t.match(mgr.confirm(), { confirmed: false, reason: /of the 60 s needed/ })
  for (let i = 0; i < 16; i++) {
    c.advance(2000)
    report()
    mgr.confirm()
  }
  t.equal(mgr.read().slots.b.state, 'pending', 'the stall broke the episode: the period counts from after it')
  report('1.1.0', 43)
  t.match(mgr.confirm(), { confirmed: false, reason: /ACTIVE for 0 s/ }, 'a restarted firmware starts its period again')
  for (let i = 0; i < 30; i++) {
    c.advance(2000)
    report('1.1.0', 43)
    mgr.confirm()
  }
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
