// "Reply after commit" is a declared registry mechanism (registry.replyAfterCommit; spec.durable):
// a state-changing command replies only once the commit that covers its change resolved, whenever
// the command was registered; reads do not wait; a commit that never comes ends in the handler
// deadline, as a coded error.
import t from 'tap'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { FakeAppliance } from './fake-appliance.ts'

const operator: Principal = { name: 'test:op', permission: 'operate', transport: 'test' }

/** A commit the test completes by hand, counting how often it was awaited. */
function manualCommit() {
  const waiting: Array<() => void> = []
  let calls = 0
  return {
    commit: () => {
      calls++
      return new Promise<void>((resolve) => waiting.push(resolve))
    },
    done: () => {
      for (const r of waiting.splice(0)) r()
    },
    get calls() {
      return calls
    },
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  void p.then(() => {
    done = true
  })
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  return done
}

t.test('a state-changing command replies only after the commit; reads reply at once', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const c = manualCommit()
  reg.replyAfterCommit(c.commit)
  const gain = reg.executeLine('gain 2 -6', operator)
  t.notOk(await settled(gain), 'no reply before the commit')
  t.same(app.calls.filter((l) => l.startsWith('gain')).length, 1, 'the change itself was made')
  t.equal(c.calls, 1, 'the commit was awaited once')
  t.ok(await settled(reg.executeLine('status', operator)), 'a read does not wait for it')
  c.done()
  t.same(await gain, { ok: true, command: 'gain', value: { output: 2, gain: -6 } }, 'the reply after the commit')
})

t.test('commands registered after the mechanism was declared wait too; durable:false opts out', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const c = manualCommit()
  reg.replyAfterCommit(c.commit)
  reg.register({ name: 'late', summary: 'registered later', examples: ['late'], permission: 'operate', args: [], handler: () => 'changed' })
  reg.register({ name: 'volatile', summary: 'not kept', examples: ['volatile'], permission: 'operate', durable: false, args: [], handler: () => 'x' })
  const late = reg.executeLine('late', operator)
  t.notOk(await settled(late), 'a command registered later waits for the commit')
  t.ok(await settled(reg.executeLine('volatile', operator)), 'durable: false does not')
  c.done()
  t.match(await late, { ok: true, value: 'changed' })
})

t.test('a commit that never comes ends in the handler deadline, as FW_ERR_COMMAND_FAILED', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  reg.replyAfterCommit(() => new Promise(() => {}))
  reg.register({ name: 'quick', summary: 'deadline 50 ms', examples: ['quick'], permission: 'operate', args: [], timeoutMs: 50, handler: () => 1 })
  t.match(await reg.executeLine('quick', operator), { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: /did not finish within 50 ms/ })
})

t.test('a refused command does not wait for a commit', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const c = manualCommit()
  reg.replyAfterCommit(c.commit)
  t.match(await reg.executeLine('gain 9 0', operator), { ok: false, code: 'FW_ERR_BAD_ARG' })
  t.equal(c.calls, 0)
})
