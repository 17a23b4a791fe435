// Issue 10 item 1: line noise must not edit a line into another command. In machine mode every
// control byte (BS, DEL, TAB, Ctrl-U ...) makes the whole line an error and changes nothing; in
// human mode Backspace, DEL and Ctrl-U still edit what the tech types. Over a real socat PTY, to
// the console on the real Appliance (sim board).
import t from 'tap'
import { bootRealAppliance, snapshot, startRig, stopRig } from './harness.ts'

const app = await bootRealAppliance(t, t.testdir())

t.test('machine mode: "gain 1 -10" + DEL + CRLF is refused, the gain does not jump to -1 dB', async (t) => {
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.equal(await rig.ask('gain 1 -10'), 'OK gain output=1 gain=-10')
  t.equal(app.outputSettings()[0]!.gainDb, -10)
  const before = snapshot(app)
  for (const [name, bad] of [
    ['DEL', 'gain 1 -10\x7f'],
    ['BS', 'gain 1 -10\x08'],
    ['TAB', 'gain\t1 -6'],
    ['Ctrl-U', 'gain 1 -3\x15gain 1 0'],
    ['Ctrl-C', 'gain 1 -3\x03'],
    ['Ctrl-L', 'gain 1 -3\x0c'],
    ['BEL', 'gain 1 -3\x07'],
  ] as const) {
    const reply = await rig.ask(bad)
    t.match(reply, /^ERR FW_ERR_BAD_INPUT line held 1 non-text byte\(s\) \(first 0x[0-9a-f]{2} at byte \d+\); nothing was done/, `${name}: ${reply}`)
  }
  t.equal(app.outputSettings()[0]!.gainDb, -10, 'output 1 stays at -10 dB')
  t.equal(snapshot(app), before, 'nothing changed on the appliance')
  t.match(await rig.ask('gain 1 -10\x7f'), /first 0x7f at byte 11\)/, 'the message names the byte and where it was')
  t.equal(await rig.ask('gain 1 -9'), 'OK gain output=1 gain=-9', 'the next clean line runs')
})

t.test('human mode: Backspace, DEL and Ctrl-U still edit the line', async (t) => {
  const rig = await startRig(app, t.testdir())
  t.teardown(() => stopRig(rig))
  const { client } = rig
  await client.waitRaw(/sim> $/)
  client.clear()
  await client.send('gain 1 -10\x7f\r')
  await client.waitRaw(/gain: -1\r\nsim> $/, 5000)
  t.equal(app.outputSettings()[0]!.gainDb, -1, 'DEL erased the 0: gain 1 -1')
  client.clear()
  await client.send('gain 2 -55\x08\r')
  await client.waitRaw(/gain: -5\r\nsim> $/, 5000)
  t.equal(app.outputSettings()[1]!.gainDb, -5, 'BS erased the last 5')
  client.clear()
  await client.send('gain 3 -7\x15gain\t3 -2\r')
  await client.waitRaw(/gain: -2\r\nsim> $/, 5000)
  t.equal(app.outputSettings()[2]!.gainDb, -2, 'Ctrl-U cleared the line, TAB typed a space')
})
