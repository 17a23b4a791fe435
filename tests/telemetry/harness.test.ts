// The telemetry tests' harness (helpers.ts): why a run could hang, kept from coming back. The tests
// start a unit, Mosquitto and MQTT clients and stop them in teardowns. tap removes `t.testdir()`
// BEFORE a test's teardowns run: the running unit's disk buffer wrote into the folder while it was
// removed (ENOTEMPTY), tap then skipped the teardowns, and the unit and broker left running kept the
// test process alive until tap's 300 s timeout. The scratch folder outlives the teardowns; a
// teardown that throws or hangs does not keep the others from running; every wait says what it awaited.
import { existsSync } from 'node:fs'
import t from 'tap'
import { bounded, cleanup, scratch } from './helpers.ts'

t.test('the scratch folder is still there while the teardowns stop what writes into it, and gone after', async (t) => {
  let dir = ''
  let thereAtTeardown: boolean | null = null
  await t.test('a test whose teardown stops a writer', async (t) => {
    dir = scratch(t)
    t.teardown(() => {
      thereAtTeardown = existsSync(dir)
    })
    t.ok(existsSync(dir))
  })
  t.equal(thereAtTeardown, true, 'the folder was there when the teardown ran')
  t.notOk(existsSync(dir), 'and removed once the teardowns were done')
})

t.test('a teardown that throws or hangs does not keep the others from running', async (t) => {
  const ran: string[] = []
  await t.test('three teardowns', async (t) => {
    cleanup(t, 'the first registered (runs last)', () => ran.push('last'))
    cleanup(t, 'a stop that never ends', () => new Promise(() => {}), 200)
    cleanup(t, 'a stop that throws', () => {
      throw new Error('boom')
    })
    t.pass()
  })
  t.same(ran, ['last'], 'the teardown registered first still ran')
})

t.test('a bounded wait names what it awaited', async (t) => {
  await t.rejects(bounded(new Promise(() => {}), 50, 'the retained update status'), /timed out after 50 ms waiting for the retained update status/)
  t.equal(await bounded(Promise.resolve(7), 50, 'x'), 7)
})
