// Issue 10 items 3 and 21: the rate limit as docs/console-protocol.md §5 states it. A control
// system's unpaced start-up batch of 40 lines (the documented burst) is answered in full, and a
// client that waits for each reply is never limited however fast it goes. Over a real socat PTY.
import t from 'tap'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { startRig, stopRig } from './harness.ts'

t.test('a start-up batch of 40 lines sent in one write: 40 replies, in order, none limited', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const batch: string[] = []
  for (let k = 0; k < 40; k++) {
    const out = (k % 4) + 1
    batch.push(k % 5 === 4 ? 'status' : `gain ${out} -${(k + 1) / 2}`)
  }
  await rig.client.send(batch.map((l) => l + '\r\n').join(''))
  const replies: string[] = []
  while (replies.length < 40) replies.push(await rig.client.nextLine(5000))
  for (let k = 0; k < 40; k++) {
    const want = batch[k]!.startsWith('gain') ? new RegExp(`^OK gain output=${(k % 4) + 1} gain=-${(k + 1) / 2}$`) : /^OK status /
    if (!want.test(replies[k]!)) t.fail(`line ${k + 1} "${batch[k]}" got ${replies[k]}`)
  }
  t.pass('each of the 40 lines got its own OK, in order')
  await new Promise((r) => setTimeout(r, 300))
  t.same(rig.client.lines, [], 'and nothing else')
  t.equal(rig.con.stats().rateLimited, 0, 'nothing was dropped')
  t.equal(app.outputSettings()[3]!.gainDb, -18, 'the last gain of the batch for output 4 (line 36) is applied')
})

t.test('a fast client that waits for each reply is never rate limited', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const n = 400
  const t0 = Date.now()
  const bad: string[] = []
  for (let k = 0; k < n; k++) {
    const reply = await rig.ask(`gain 1 -${(k % 60) + 1}`, 5000)
    if (reply !== `OK gain output=1 gain=-${(k % 60) + 1}`) {
      bad.push(`#${k + 1}: ${reply}`)
      break // a limited client gets no reply to its next line: stop here rather than time out
    }
  }
  const s = (Date.now() - t0) / 1000
  const rate = n / s
  t.comment(`${n} paced commands in ${s.toFixed(2)} s: ${rate.toFixed(0)} commands per second`)
  t.same(bad, [], 'every paced command got its OK, none ERR FW_ERR_RATE_LIMITED')
  t.equal(rig.con.stats().rateLimited, 0)
  // The test means something only if the client outran the average limit (20/s after a burst of 40).
  t.ok(n > 40 + 20 * s, `the client went faster than the limit would allow unpaced lines (${n} in ${s.toFixed(2)} s)`)
})

t.test('unpaced lines beyond the burst are still limited', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  await rig.client.send('gain 1 -3\r\n'.repeat(300))
  await new Promise((r) => setTimeout(r, 1000))
  const replies = rig.client.lines.splice(0)
  const ok = replies.filter((l) => l.startsWith('OK gain')).length
  t.ok(ok >= 40 && ok <= 40 + 2 * 20 + 5, `the burst and the refill ran (${ok} of 300)`)
  t.ok(replies.some((l) => l.startsWith('ERR FW_ERR_RATE_LIMITED ')), 'the sender was told')
})
