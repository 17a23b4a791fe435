// A control system's session over a real PTY: machine mode, one reply line per command, EV lines.

import { spawnSync } from 'node:child_process'
import t from 'tap'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { startRig, stopRig } from './harness.ts'

t.test('a control system drives the unit in machine mode', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const { client } = rig

  t.equal(client.raw(), '', 'machine mode sends no banner or prompt')
  t.match(await rig.ask('status'), /^OK status state=ACTIVE cause=test since=\S+ relay=processed mode=advisory uptime=12 board=sim /)
  t.equal(await rig.ask('bypass on'), 'OK bypass bypass=on state=MANUAL_BYPASS relay=bypass')
  t.equal(app.state, 'MANUAL_BYPASS', 'the appliance is in manual bypass')
  t.same(app.calls, [`bypass true console:${rig.pty.a}`], 'the console is recorded as who did it')
  t.equal(await rig.ask('gain 2 -6.5'), 'OK gain output=2 gain=-6.5')
  t.equal(await rig.ask('beam steer 1 45'), 'OK beam steer beam=1 azimuth=45 elevation=0 auto=off')
  t.equal(await rig.ask('eq 1 2 freq=250 gain=-3 q=1.4'), 'OK eq output=1 band=2 type=peak freq=250 gain=-3 q=1.4 enabled=on')
  t.match(
    await rig.ask('gain 7 0'),
    /^ERR FW_ERR_BAD_ARG gain: output must be a whole number from 1 to 4, got "7"\. Usage: gain <output> <db>; e\.g\. gain 1 -6$/,
  )
  t.match(await rig.ask('bogus'), /^ERR FW_ERR_UNKNOWN_COMMAND no command "bogus"; type help for the list$/)
  t.equal(await rig.ask('preset list'), 'ERR FW_ERR_NOT_AVAILABLE preset list is not available yet: the store is not running on this unit')
  t.match(await rig.ask('meters'), /^OK meters in_peak\.1=-20 .* gr\.4=0$/)

  // no echo: nothing but the reply lines came back
  t.notMatch(client.raw(), /bypass on\r\n(?!.*OK)/, 'commands are not echoed')
  t.equal(client.lines.length, 0, 'exactly one reply line per command')

  // CR-only and LF-only terminators
  await client.send('version\r')
  t.match(await client.nextLine(), /^OK version firmware=0\.1\.0-test board=sim panel="fp-sim 1\.0" node=24\./)
  await client.send('faults 1\n')
  t.match(await client.nextLine(), /^OK faults 1\.at=\S+ 1\.from=ACTIVE 1\.to=MANUAL_BYPASS 1\.cause=manual 1\.evidence="by console:/)
  // an empty line is not a command: no reply
  await client.send('\r\n')
  t.equal(await rig.ask('version'), await rig.ask('version'), 'still in step after an empty line')

  // destructive command with its confirm token
  const ask = await rig.ask('factory-reset')
  const m = /^ERR FW_ERR_CONFIRM_REQUIRED .* send: factory-reset confirm=([A-Z2-9]{4})$/.exec(ask)
  t.ok(m, ask)
  t.same(app.resets, [], 'nothing reset before the confirmation')
  t.equal(await rig.ask(`factory-reset confirm=${m![1]}`), 'OK factory-reset reset=on')
  t.same(app.resets, [`console:${rig.pty.a}`])

  // events after subscribe
  t.equal(await rig.ask('subscribe state'), 'OK subscribe state=on meters=off doa=off panel=off recommendations=off changes=off')
  await client.send('bypass off\r\n')
  const two = [await client.nextLine(), await client.nextLine()].sort()
  t.match(two[0], /^EV state from=MANUAL_BYPASS to=ACTIVE cause=manual-release evidence="by console:\S+" at=\S+$/)
  t.equal(two[1], 'OK bypass bypass=off state=ACTIVE relay=processed')
  t.equal(await rig.ask('subscribe meters=10'), 'OK subscribe state=on meters=10 doa=off panel=off recommendations=off changes=off')
  const t0 = Date.now()
  const evs: string[] = []
  while (evs.length < 5) evs.push(await client.nextLine(2000))
  const ms = Date.now() - t0
  t.ok(
    evs.every((l) => /^EV meters in_peak\.1=-20 /.test(l)),
    'meters events have the meters grammar',
  )
  t.ok(ms >= 300, `5 meters events at 10/s take about 0.5 s (took ${ms} ms): the rate is applied`)
  t.equal(await rig.ask('unsubscribe'), 'OK unsubscribe state=off meters=off doa=off panel=off recommendations=off changes=off')
  await new Promise((r) => setTimeout(r, 250))
  client.lines.length = 0
  await new Promise((r) => setTimeout(r, 300))
  t.same(client.lines, [], 'no events after unsubscribe')

  client.clear()
  await client.send('console human\r\n')
  await client.waitRaw(/^mode: human\r\nsim> $/)
  t.pass('switching to human mode answers in human mode, with the prompt')
  t.equal(rig.con.stats().mode, 'human')
})

t.test('the UART runs at the baud rate the board profile sets (e.g. 9600 8N1 for a control system)', async (t) => {
  const app = new FakeAppliance()
  app.profile.uarts.console.baudRate = 9600
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const py = spawnSync(
    'python3',
    [
      '-c',
      `import termios,os
fd=os.open(${JSON.stringify(rig.pty.a)}, os.O_RDONLY|os.O_NONBLOCK|os.O_NOCTTY)
a=termios.tcgetattr(fd)
print(a[4]==termios.B9600, a[5]==termios.B9600, (a[2]&termios.CSIZE)==termios.CS8, bool(a[2]&termios.PARENB), bool(a[2]&termios.CSTOPB))`,
    ],
    { encoding: 'utf8' },
  )
  t.equal(py.stdout.trim(), 'True True True False False', 'the console tty is set to 9600 baud, 8 data bits, no parity, 1 stop bit')
  t.match(await rig.ask('version'), /^OK version /)
})
