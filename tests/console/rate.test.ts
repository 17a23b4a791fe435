// Issue 10 items 3 and 21: the rate limit as docs/console-protocol.md §5 states it. A control
// system's unpaced start-up batch of 40 lines (the documented burst) is answered in full, and a
// client that waits for each reply is never limited however fast it goes. Over a real socat PTY.

import { SerialPort } from 'serialport'
import t from 'tap'
import { type ConsolePort, type OpenPort, startConsole } from '../../firmware/console/index.ts'
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
  await rig.client.send(batch.map((l) => `${l}\r\n`).join(''))
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
  t.ok(
    replies.some((l) => l.startsWith('ERR FW_ERR_RATE_LIMITED ')),
    'the sender was told',
  )
})

/**
 * A console port that sends at a real UART's pace (bytesPerSecond) over the PTY: a PTY takes
 * replies as fast as they come, a 9600-baud line does not, and unsent replies wait in the port.
 */
function slowLine(bytesPerSecond: number): OpenPort {
  return (path, baudRate) => {
    const real = new SerialPort({ path, baudRate, autoOpen: false })
    const pending: Buffer[] = []
    let queued = 0
    const timer = setInterval(() => {
      let budget = Math.ceil(bytesPerSecond / 100)
      while (budget > 0 && pending.length) {
        const head = pending[0]!
        const n = Math.min(budget, head.length)
        if (real.isOpen) real.write(head.subarray(0, n))
        pending[0] = head.subarray(n)
        if (pending[0].length === 0) pending.shift()
        queued -= n
        budget -= n
      }
    }, 10)
    return {
      get isOpen() {
        return real.isOpen
      },
      get writableLength() {
        return queued + real.writableLength
      },
      open: (cb) => real.open(cb),
      write(data: string) {
        const b = Buffer.from(data, 'latin1')
        pending.push(b)
        queued += b.length
        return true
      },
      close(cb) {
        clearInterval(timer)
        real.close(cb)
      },
      on: (event: string, listener: (...a: any[]) => void) => real.on(event, listener),
      removeAllListeners: () => real.removeAllListeners(),
    } as ConsolePort
  }
}

t.test('a client that sends one line at a time without waiting for the replies is still limited (9600-baud line)', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir(), { mode: 'machine', openPort: slowLine(960) })
  t.teardown(() => stopRig(rig))
  for (let k = 0; k < 200; k++) {
    await rig.client.send('help\r\n') // ~3.5 KB of reply each: almost 4 s of a 9600-baud line
    await new Promise((r) => setTimeout(r, 5)) // each line arrives on its own, as from a paced client
  }
  await new Promise((r) => setTimeout(r, 200))
  const st = rig.con.stats()
  t.ok(st.rateLimited >= 100, `lines sent while earlier replies were still going out went through the limit (${st.rateLimited} of 200 dropped)`)
})

t.test('the console limiter is the shared one: a rate that never allows or a burst below 1 is refused at start (FW_ERR_BAD_OPTION)', async (t) => {
  const app = new FakeAppliance()
  for (const rate of [
    { perSecond: 0, burst: 40 },
    { perSecond: Number.NaN, burst: 40 },
    { perSecond: 20, burst: 0 },
  ]) {
    await t.rejects(startConsole(app, app.profile, { devicePath: '/nonexistent/console', rate }), { code: 'FW_ERR_BAD_OPTION' }, JSON.stringify(rate))
  }
})

t.test('limiter wiring: 40 lines in one write answered, line 41+ at line rate dropped with the documented reply', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir(), { mode: 'machine', rate: { perSecond: 2, burst: 40 } })
  t.teardown(() => stopRig(rig))
  await rig.client.send('status\r\n'.repeat(60))
  await new Promise((r) => setTimeout(r, 1500))
  const replies = rig.client.lines.splice(0)
  const ok = replies.filter((l) => l.startsWith('OK status ')).length
  const limited = replies.filter((l) => l.startsWith('ERR FW_ERR_RATE_LIMITED '))
  t.ok(ok >= 40 && ok <= 44, `the burst of 40 answered, then at most the refill (${ok} of 60)`)
  t.ok(limited.length >= 1 && limited.length <= 2, `one ERR per second for the dropped lines (${limited.length})`)
  t.match(
    limited[0],
    /^ERR FW_ERR_RATE_LIMITED more than 2 commands per second; lines are being dropped \(\d+ so far\)\. Wait for each reply before sending the next command$/,
  )
  t.equal(rig.con.stats().rateLimited, 60 - ok, 'every line not answered was counted as dropped')
})
