// The boot supervisor with real processes: fake firmware that is healthy, crashes, or hangs.
import t from 'tap'
import { SlotManager } from '../../recovery/slots.ts'
import { supervise } from '../../recovery/supervise.ts'
import { makeBundle, makeFixture } from './helpers.ts'

t.test('a good update becomes active and is marked good after its health period', { timeout: 30000 }, async (t) => {
  const f = makeFixture(t.testdir({}), { healthyPeriodS: 1 })
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  mgr.install(makeBundle(f, '1.1.0'))
  const ac = new AbortController()
  const events: string[] = []
  await supervise(mgr, {
    pollMs: 100, restartDelayMs: 50, signal: ac.signal,
    onEvent: (ev) => {
      events.push(ev.type === 'boot' ? `boot ${ev.decision.slot} ${ev.decision.version}` : ev.type)
      if (ev.type === 'confirmed') ac.abort()
    },
  })
  t.same(events, ['boot b 1.1.0', 'confirmed', 'exit'])
  t.equal(mgr.read().slots.b.state, 'good')
  t.equal(mgr.read().active, 'b')
})

for (const behaviour of ['crash', 'hang'] as const) {
  t.test(`an update whose firmware ${behaviour === 'crash' ? 'crashes' : 'hangs short of ACTIVE'} rolls back by itself after 3 boots`, { timeout: 30000 }, async (t) => {
    const f = makeFixture(t.testdir({}), { healthyPeriodS: 1, bootTries: 3 })
    const mgr = new SlotManager(f.cfg, { log: () => {} })
    mgr.install(makeBundle(f, '1.0.0'))
    mgr.install(makeBundle(f, '1.1.0', { behaviour }))
    const ac = new AbortController()
    const boots: string[] = []
    await supervise(mgr, {
      pollMs: 50, restartDelayMs: 20, pendingTimeoutMs: 400, signal: ac.signal,
      onEvent: (ev) => {
        if (ev.type === 'boot') {
          boots.push(`${ev.decision.slot} ${ev.decision.version}${ev.decision.rolledBackFrom ? ' (rolled back)' : ''}`)
          if (ev.decision.rolledBackFrom) setTimeout(() => ac.abort(), 200)
        }
      },
    })
    t.same(boots, ['b 1.1.0', 'b 1.1.0', 'b 1.1.0', 'a 1.0.0 (rolled back)'])
    const s = mgr.read()
    t.same([s.active, s.slots.a.state, s.slots.b.state], ['a', 'good', 'bad'])
  })
}
