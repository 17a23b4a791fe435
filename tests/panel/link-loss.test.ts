// The front-panel UART goes away (USB-serial unplugged, PTY gone) and comes back: the firmware
// says so, counts it as a bypass fault (the controller drops the relay by its timeout), reopens
// the port, and re-energises the relay after the healthy period.

import { performance } from 'node:perf_hooks'
import t from 'tap'
import { startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { until } from '../helpers/until.ts'

t.test('the panel UART vanishes and comes back: bypass, reopen, relay back after the healthy period', async (t) => {
  const dir = t.testdir()
  let pty = await openPtyPair(dir)
  let sim = await startSimulatedPanel({ port: pty.b })
  const running = await startAppliance('sim', { panelPort: pty.a, logDir: null, hardwareWatchdogs: [], watchdog: { healthyPeriodMs: 500 } })
  t.teardown(async () => {
    await running.stop()
    await sim.stop()
    await pty.close()
  })
  const { app } = running
  await until(() => app.status().relay === 'processed', 5000, 'relay on')
  // Unplug: the controller and the cable both go.
  await sim.stop()
  await pty.close()
  await until(() => app.status().state === 'BYPASS', 3000, 'BYPASS')
  t.match(app.faults(1)[0], { cause: 'panel-link-lost', evidence: /front-panel UART .*pty-a is gone/ })
  t.equal(app.status().relay, 'unknown', 'the relay state is unknown while the link is down')
  // Plug back in: the same device path, a controller that has just powered up.
  pty = await openPtyPair(dir)
  sim = await startSimulatedPanel({ port: pty.b })
  await sim.waitFor((r) => r.event === 'relay' && r.state === 'ON', 8000)
  t.pass('the firmware reopened the port and energised the relay again')
  // ACTIVE, or DEGRADED for a degrade fault of the loaded machine (sim xruns, a late event loop).
  await until(
    () => (app.status().state === 'ACTIVE' || app.status().state === 'DEGRADED') && app.status().relay === 'processed',
    3000,
    'ACTIVE (or DEGRADED)',
  ).catch((e: Error) => {
    t.comment(JSON.stringify({ s: app.status().state, r: app.status().relay, w: app.watchdogState.lastDegradeFault, l: app.logTail(30).map((x) => x.message) }))
    throw e
  })
  t.ok(
    app.logTail(50).some((l) => l.message === 'front-panel UART back'),
    'the log says the link came back',
  )
})

t.test('no controller on the panel UART: panel-controller-silent within 1 s, and the unit never claims ACTIVE or relay=processed', async (t) => {
  const pty = await openPtyPair(t.testdir())
  t.teardown(() => pty.close())
  // Nothing listens on the other end: nothing ever answers.
  const t0 = performance.now()
  const running = await startAppliance('sim', { panelPort: pty.a, logDir: null, hardwareWatchdogs: [] })
  t.teardown(() => running.stop())
  const { app } = running
  const events: string[] = []
  app.subscribe((ev) => {
    if (ev.type === 'transition') events.push(`${ev.record.to} ${ev.record.cause}`)
  })
  await until(() => app.faults(20).some((f) => f.cause === 'panel-controller-silent'), 3000, 'the panel-controller-silent fault')
  const dt = performance.now() - t0
  t.ok(dt < 1000 + 500, `reported ${Math.round(dt)} ms after start (deadline 600 ms + a tick; start-up included)`)
  t.match(
    app.faults(20).find((f) => f.cause === 'panel-controller-silent'),
    { to: 'BYPASS', evidence: /no reply from the front-panel controller on .*pty-a for \d+ ms/ },
  )
  t.ok(
    app.logTail(50).some((l) => /panel-controller-silent/.test(l.message)),
    'logged',
  )
  t.ok(
    events.some((e) => e === 'BYPASS panel-controller-silent'),
    'and sent as a transition event',
  )
  t.not(app.status().state, 'ACTIVE', 'not ACTIVE')
  t.equal(app.status().relay, 'unknown', 'the relay is not claimed')
  t.equal(app.status().panelVersion, null, 'no controller version')
})

t.test('the controller dies while ACTIVE: status stops saying relay=processed within 1 s, with a transition, a log line and an event', async (t) => {
  const dir = t.testdir()
  const pty = await openPtyPair(dir)
  const sim = await startSimulatedPanel({ port: pty.b })
  const running = await startAppliance('sim', { panelPort: pty.a, logDir: null, hardwareWatchdogs: [] })
  t.teardown(async () => {
    await running.stop()
    await sim.stop()
    await pty.close()
  })
  const { app } = running
  await until(() => app.status().state === 'ACTIVE' && app.status().relay === 'processed', 8000, 'ACTIVE with the relay on')
  const events: string[] = []
  app.subscribe((ev) => {
    if (ev.type === 'transition') events.push(`${ev.record.to} ${ev.record.cause}`)
  })
  // The controller's process is killed; the tty stays (the cable is still plugged in).
  const tKill = performance.now()
  sim.child.kill('SIGKILL')
  await until(() => app.status().relay !== 'processed' && app.status().state !== 'ACTIVE', 3000, 'not ACTIVE relay=processed')
  const dt = performance.now() - tKill
  t.ok(dt <= 1000, `status changed ${Math.round(dt)} ms after the controller died (<= 1000 ms): ${app.status().state} relay=${app.status().relay}`)
  t.match(
    app.faults(5).find((f) => f.to === 'BYPASS'),
    { cause: 'panel-controller-silent' },
  )
  t.ok(events.includes('BYPASS panel-controller-silent'), 'a transition event went out')
  t.ok(
    app.logTail(50).some((l) => /panel-controller-silent/.test(l.message)),
    'and a log line',
  )
  t.comment(`FIGURE dead-controller: reported ${Math.round(dt)} ms after SIGKILL of the controller`)
})
