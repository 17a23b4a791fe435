// The firmware side of the front panel, end to end: the appliance on the sim board spawns the
// simulated controller on a socat PTY pair; the button, the LEDs, the relay and status.

import { performance } from 'node:perf_hooks'
import t from 'tap'
import type { ControllerReport } from '../../board/sim/frontpanel-controller.ts'
import { type RunningAppliance, startAppliance } from '../../firmware/runtime/start.ts'
import { until } from '../helpers/until.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let running: RunningAppliance
const reportsAt: Array<{ at: number; r: ControllerReport }> = []

t.before(async () => {
  running = await startAppliance('sim', {
    logDir: null,
    hardwareWatchdogs: [],
    watchdog: { healthyPeriodMs: 500 },
    onPanelReport: (r) => reportsAt.push({ at: performance.now(), r }),
  })
  await until(() => running.app.status().relay === 'processed', 5000, 'relay energised')
})

t.test('status shows the relay and the controller version', async (t) => {
  const s = running.app.status()
  t.equal(s.state, 'ACTIVE')
  t.equal(s.relay, 'processed')
  t.match(s.panelVersion, /^SIM-FP 1\.0\.0 \(protocol 1\)$/)
})

t.test('the STATUS LED follows the watchdog state within 50 ms', async (t) => {
  const app = running.app
  // From each transition (stamped by the firmware) to the moment the controller handled the LED
  // line (stamped by the controller), both on performance.timeOrigin + performance.now().
  const from = running.simPanel!.reports.length
  const n0 = app.faults(100).length
  const LED: Record<string, [string, string]> = {
    ACTIVE: ['GREEN', 'SOLID'],
    DEGRADED: ['AMBER', 'SOLID'],
    BYPASS: ['RED', 'FAST'],
    MANUAL_BYPASS: ['RED', 'SOLID'],
  }
  app.setManualBypass(true, 'test')
  await until(() => app.status().state === 'MANUAL_BYPASS', 1000, 'MANUAL_BYPASS')
  app.setManualBypass(false, 'test')
  await until(() => app.status().state === 'ACTIVE', 3000, 'ACTIVE')
  await sleep(100)
  const delays: string[] = []
  for (const rec of app.faults(100).slice(n0)) {
    const [color, pattern] = LED[rec.to]!
    const led = running
      .simPanel!.reports.slice(from)
      .find((r) => r.event === 'led' && (r.wall as number) >= rec.at - 1 && r.color === color && r.pattern === pattern)
    t.ok(led, `LED ${color} ${pattern} for ${rec.to}`)
    const d = (led!.wall as number) - rec.at
    t.ok(d < 50, `${rec.to}: ${color} ${pattern} at the controller ${d.toFixed(1)} ms after the transition`)
    delays.push(`${rec.to} ${d.toFixed(1)} ms`)
  }
  await until(() => app.status().relay === 'processed', 2000, 'relay back on')
  t.comment(`FIGURE led-latency: ${delays.join(', ')} (transition to the controller handling the LED line)`)
})

t.test('a short press toggles manual bypass; the controller drops the relay first', async (t) => {
  const { app, simPanel } = running
  const from = simPanel!.reports.length
  simPanel!.control('click')
  const drop = await simPanel!.waitFor((r) => r.event === 'relay', 2000, from)
  t.match(drop, { state: 'OFF', reason: 'BUTTON' })
  await until(() => app.status().state === 'MANUAL_BYPASS', 2000, 'MANUAL_BYPASS')
  t.match(app.faults(1)[0], { to: 'MANUAL_BYPASS', evidence: 'bypass on by panel button' })
  simPanel!.control('click')
  // ACTIVE, or DEGRADED when the loaded machine made the event loop late meanwhile (a degrade
  // fault: the sound is processed either way).
  await until(() => app.status().state === 'ACTIVE' || app.status().state === 'DEGRADED', 2000, 'ACTIVE (or DEGRADED)')
  await until(() => app.status().relay === 'processed', 2000, 'relay on')
  t.pass('a second short press releases it and the relay comes back')
})

t.test('a long press always means bypass, never a toggle', async (t) => {
  const { app, simPanel } = running
  simPanel!.control('hold')
  await until(() => app.status().state === 'MANUAL_BYPASS', 3000, 'MANUAL_BYPASS')
  t.match(app.faults(1)[0], { evidence: /long press/ })
  await sleep(700) // the hold ends (2 s) without a SHORT
  simPanel!.control('hold')
  await sleep(2300)
  t.equal(app.status().state, 'MANUAL_BYPASS', 'a second long press keeps it bypassed')
  t.equal(app.status().relay, 'bypass')
})

t.test('stopping drops the relay to bypass and reaps the simulator and socat', async (t) => {
  const { simPanel } = running
  const from = simPanel!.reports.length
  // From manual bypass back to processing first, so the stop itself is what drops the relay.
  running.app.setManualBypass(false, 'test')
  await until(() => running.app.status().relay === 'processed', 3000, 'relay on')
  const stopping = running.stop()
  const drop = await simPanel!.waitFor((r) => r.event === 'relay' && r.state === 'OFF', 3000, from)
  t.equal(drop.reason, 'HOST', 'the firmware dropped it on the way out')
  await stopping
  t.ok(simPanel!.child.exitCode !== null || simPanel!.child.signalCode !== null, 'simulator reaped')
  t.equal(running.children.length, 2, 'it had spawned socat and the simulator')
  for (const pid of running.children) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`)
  t.equal(running.app.status().state, 'BYPASS')
})

t.teardown(() => running?.stop())
