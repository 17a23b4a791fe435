// The firmware side of the front panel, end to end: the appliance on the sim board spawns the
// simulated controller on a socat PTY pair; the button, the LEDs, the relay and status.
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { startAppliance, type RunningAppliance } from '../../firmware/runtime/start.ts'
import type { ControllerReport } from '../../board/sim/frontpanel-controller.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

let running: RunningAppliance
const reportsAt: Array<{ at: number; r: ControllerReport }> = []

t.before(async () => {
  running = await startAppliance('sim', {
    logDir: null, hardwareWatchdogs: [], watchdog: { healthyPeriodMs: 500 },
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
  // Measured from each transition (as subscribers hear it) to the controller's LED report.
  const changes: Array<{ at: number; to: string }> = []
  const unsub = app.subscribe((ev) => { if (ev.type === 'transition') changes.push({ at: performance.now(), to: ev.record.to }) })
  t.teardown(unsub)
  const LED: Record<string, [string, string]> = { ACTIVE: ['GREEN', 'SOLID'], DEGRADED: ['AMBER', 'SOLID'], BYPASS: ['RED', 'FAST'], MANUAL_BYPASS: ['RED', 'SOLID'] }
  app.setManualBypass(true, 'test')
  await until(() => changes.some((c) => c.to === 'MANUAL_BYPASS'), 1000, 'MANUAL_BYPASS')
  app.setManualBypass(false, 'test')
  await until(() => changes.some((c) => c.to === 'ACTIVE'), 3000, 'ACTIVE')
  await sleep(100)
  const delays: string[] = []
  for (const c of changes) {
    const [color, pattern] = LED[c.to]!
    const led = reportsAt.find((x) => x.at >= c.at && x.r.event === 'led' && x.r.color === color && x.r.pattern === pattern)
    t.ok(led, `LED ${color} ${pattern} for ${c.to}`)
    const d = led!.at - c.at
    t.ok(d < 50, `${c.to}: ${color} ${pattern} after ${d.toFixed(1)} ms`)
    delays.push(`${c.to} ${d.toFixed(1)} ms`)
  }
  await until(() => app.status().relay === 'processed', 2000, 'relay back on')
  t.comment(`FIGURE led-latency: ${delays.join(', ')} (transition to the controller's report)`)
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
  await until(() => app.status().state === 'ACTIVE', 2000, 'ACTIVE')
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
