// A stage tech's session over a real PTY: prompt, echo, backspace, history, help, clear errors.
import t from 'tap'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { startRig, stopRig } from './harness.ts'

t.test('a stage tech works the console in human mode', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const rig = await startRig(app, t.testdir())
  t.teardown(() => stopRig(rig))
  const { client } = rig
  await client.waitRaw(/sim stage appliance console\. Type help for the commands\.\r\nsim> $/)
  t.pass('banner and prompt on open')

  // typed one key at a time, with a typo corrected by backspace
  client.clear()
  for (const ch of 'statsu\x7f\x7fus') await client.send(ch)
  await client.waitRaw(/statsu\x08 \x08\x08 \x08us$/)
  t.pass('each key is echoed; backspace erases on screen')
  await client.send('\r')
  const st = await client.waitRaw(/sim> $/)
  t.match(st, /\r\nstate {5}ACTIVE {2}\(test, since [^)]+\)\r\nrelay {5}processed {4}audio processed {4}mode advisory\r\n/)

  client.clear()
  await client.send('help\r')
  const help = await client.waitRaw(/Type "help <command>" for its arguments and examples\.\r\nsim> $/)
  t.match(help, / {2}beam steer\s+point a beam at a fixed direction/)
  t.match(help, / {2}factory-reset\s+erase presets and settings .* \(admin\)/)
  t.match(help, /Console: console human\|machine, subscribe, unsubscribe, login <PIN>, logout, history\./)

  client.clear()
  await client.send('help beam steer\r')
  const hb = await client.waitRaw(/sim> $/)
  t.match(
    hb,
    /beam steer <beam> <azimuth> \[elevation\]\r\n {2}point a beam at a fixed direction .*Needs operate rights\.\r\n {4}<beam> {2}beam number, from 1\r\n/,
  )
  t.match(hb, / {2}e\.g\. beam steer 1 45\r\n {2}e\.g\. beam steer 2 azimuth=-30 elevation=10\r\n/)

  client.clear()
  await client.send('stauts\r')
  t.match(await client.waitRaw(/sim> $/), /error: no command "stauts"; did you mean "status"\? type help for the list \[FW_ERR_UNKNOWN_COMMAND\]/)
  client.clear()
  await client.send('beam steer 1 north\r')
  t.match(
    await client.waitRaw(/sim> $/),
    /error: beam steer: azimuth must be a number from -180 to 360 degrees, got "north"\. Usage: beam steer <beam> <azimuth> \[elevation\]; e\.g\. beam steer 1 45 \[FW_ERR_BAD_ARG\]/,
  )
  t.same(app.calls, [], 'refused commands changed nothing')

  client.clear()
  await client.send('bypass on\r')
  t.match(await client.waitRaw(/sim> $/), /bypass: on\r\nstate: MANUAL_BYPASS\r\nrelay: bypass\r\n/)
  t.equal(app.state, 'MANUAL_BYPASS')

  // history: up twice recalls "beam steer 1 north" ... up once recalls "bypass on"
  client.clear()
  await client.send('\x1b[A')
  await client.waitRaw(/bypass on$/)
  await client.send('\x1b[A')
  await client.waitRaw(/beam steer 1 north$/)
  await client.send('\x1b[B\x7fff\r')
  await client.waitRaw(/bypass: off\r\nstate: ACTIVE/)
  t.equal(app.state, 'ACTIVE', 'a recalled and edited line runs')
  client.clear()
  await client.send('history\r')
  t.match(await client.waitRaw(/sim> $/), /1: status\r\n2: help\r\n3: help beam steer\r\n4: stauts\r\n5: beam steer 1 north\r\n6: bypass on\r\n7: bypass off/)

  // a key the console does not handle: a hint, and the half-typed line survives
  client.clear()
  await client.send('ver\x1b[Dsion')
  await client.waitRaw(/that key does nothing here: .*\r\nsim> versio?n?$/)
  await client.send('\r')
  t.match(await client.waitRaw(/node: 24[\s\S]*sim> $/), /firmware: 0\.1\.0-test/)

  // ctrl-c drops a half-typed line
  client.clear()
  await client.send('factory-re\x03')
  await client.waitRaw(/factory-re\^C\r\nsim> $/)
  t.same(app.resets, [], 'nothing ran')

  // a destructive command asks for the token, and says exactly what to type
  client.clear()
  await client.send('reboot\r')
  const rb = await client.waitRaw(/sim> $/)
  const m = /To proceed within 30 s send: (reboot confirm=[A-Z2-9]{4}) \[FW_ERR_CONFIRM_REQUIRED\]/.exec(rb)
  t.ok(m, 'the error says what to type')
  await client.send(`${m![1]}\r`)
  await client.waitRaw(/rebooting: on\r\nsim> $/)
  await new Promise((r) => setTimeout(r, 200))
  t.same(app.rebooted, [`console:${rig.pty.a}`], 'reboot ran once confirmed')
})

t.test('in human mode an event line does not lose what the tech is typing', async (t) => {
  const app = new FakeAppliance()
  const rig = await startRig(app, t.testdir())
  t.teardown(() => stopRig(rig))
  const { client } = rig
  await client.waitRaw(/sim> $/)
  await client.send('subscribe state\r')
  await client.waitRaw(/state: on\r\nmeters: off\r\ndoa: off\r\npanel: off\r\nrecommendations: off\r\nchanges: off\r\nsim> $/)
  client.clear()
  await client.send('gain 1 -')
  await client.waitRaw(/gain 1 -$/)
  app.setManualBypass(true, 'panel button') // someone else acts while the tech types
  const s = await client.waitRaw(/EV state from=ACTIVE to=MANUAL_BYPASS cause=manual evidence="by panel button" at=\S+\r\nsim> gain 1 -$/)
  t.match(s, /\r\x1b\[KEV state /, 'the half-typed line is cleared, the event printed, and the line redrawn')
  await client.send('6\r')
  await client.waitRaw(/output: 1\r\ngain: -6\r\nsim> $/)
  t.equal(app.outputs[0]!.gainDb, -6, 'the line finished after the event runs as typed')
})
