// Faults of the whole firmware process, seen from the simulated front-panel controller (its own
// process, on a socat PTY pair the test owns): the hardware layer must bypass without the firmware.

import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import { startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { DEFAULT_PANEL_TIMEOUT_MS as APPLIANCE_DEFAULT } from '../../firmware/runtime/appliance.ts'

// The timeout the firmware sets on the sim board: its profile's, else the appliance's default.
const DEFAULT_PANEL_TIMEOUT_MS = loadProfile('sim').uarts.panel.heartbeatTimeoutMs ?? APPLIANCE_DEFAULT

const root = join(import.meta.dirname, '..', '..')

function spawnFirmware(
  t: Test,
  args: string[],
): {
  child: ChildProcess
  lines: Array<Record<string, unknown>>
  waitLine: (pred: (l: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>
} {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>)
    } catch {
      lines.push({ text: l })
    }
    for (const w of [...waiters]) w()
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    }
  })
  const waitLine = (pred: (l: Record<string, unknown>) => boolean, ms = 10000) =>
    new Promise<Record<string, unknown>>((res, rej) => {
      const timer = setTimeout(() => {
        waiters.delete(check)
        rej(new Error(`firmware child: no matching line in ${ms} ms; stderr: ${stderr.slice(-500)}`))
      }, ms)
      const check = () => {
        const l = lines.find(pred)
        if (l) {
          clearTimeout(timer)
          waiters.delete(check)
          res(l)
        }
      }
      waiters.add(check)
      check()
    })
  return { child, lines, waitLine }
}

async function panelRig(t: Test, timeoutMs = 250) {
  const pty = await openPtyPair(t.testdir())
  const sim = await startSimulatedPanel({ port: pty.b, timeoutMs })
  t.teardown(async () => {
    await sim.stop()
    await pty.close()
  })
  return { pty, sim }
}

for (const sig of ['SIGKILL', 'SIGSTOP'] as const) {
  t.test(`${sig} of the firmware: the front panel drops the relay within the timeout the firmware set, and says so`, async (t) => {
    const { pty, sim } = await panelRig(t)
    const fw = spawnFirmware(t, ['bin/firmware.js', 'run', '--board', 'sim', '--panel-port', pty.a])
    await sim.waitFor((r) => r.event === 'relay' && r.state === 'ON', 15000)
    t.pass('the firmware energised the relay')
    await new Promise((r) => setTimeout(r, 300))
    const from = sim.reports.length
    sim.control('status')
    const st = await sim.waitFor((r) => r.event === 'status', 2000, from)
    t.equal(st.timeoutMs, DEFAULT_PANEL_TIMEOUT_MS, `the firmware set the controller's timeout to ${DEFAULT_PANEL_TIMEOUT_MS} ms (it was 250)`)
    const from2 = sim.reports.length
    const tKill = performance.now()
    fw.child.kill(sig)
    const drop = await sim.waitFor((r) => r.event === 'relay' && r.state === 'OFF', 2000, from2)
    const seenAfter = performance.now() - tKill
    t.equal(drop.reason, 'TIMEOUT', 'dropped because the heartbeats stopped')
    const since = drop.sinceHbMs as number
    // The controller's own clock; the allowance above the timeout is the simulator's timer being
    // late on a loaded machine (a microcontroller's timer is not). Exact figures: tests/bench.
    t.ok(
      since >= DEFAULT_PANEL_TIMEOUT_MS && since <= DEFAULT_PANEL_TIMEOUT_MS + 100,
      `dropped ${since.toFixed(1)} ms after the last heartbeat (timeout ${DEFAULT_PANEL_TIMEOUT_MS} ms, was 250 ms)`,
    )
    t.ok(seenAfter <= 1000, `reported ${seenAfter.toFixed(0)} ms after the ${sig}`)
    t.ok(
      sim.reports.slice(from2).some((r) => r.event === 'heartbeat-lost'),
      'the controller reports the lost heartbeat',
    )
    if (sig === 'SIGSTOP') fw.child.kill('SIGCONT')
    t.comment(`FIGURE ${sig.toLowerCase()}: relay dropped ${since.toFixed(1)} ms after the last heartbeat, seen ${seenAfter.toFixed(0)} ms after the signal`)
  })
}

t.test('the bypass button while the firmware is frozen drops the relay at once, without the firmware', async (t) => {
  // A long heartbeat timeout here (the firmware configures it, at open and at every hello), so
  // what drops the relay is the button, not a heartbeat gap on a loaded machine.
  const { pty, sim } = await panelRig(t, 1500)
  const fw = spawnFirmware(t, ['tests/watchdog/fixtures/appliance-child.ts', pty.a])
  await fw.waitLine((l) => l.event === 'ready')
  await sim.waitFor((r) => r.event === 'relay' && r.state === 'ON', 5000)
  fw.child.stdin!.write('block 2000\n')
  await fw.waitLine((l) => l.event === 'blocking')
  await new Promise((r) => setTimeout(r, 300))
  const from = sim.reports.length
  // The relay the firmware asked for at ACTIVE is still on: its BOOT "RELAY OFF", written through
  // the event loop, once reached the controller after the sentinel's RELAY ON and left it off.
  const relays = sim.reports.filter((r) => r.event === 'relay')
  t.match(relays[relays.length - 1], { state: 'ON' }, 'the relay is on before the press (the unit is ACTIVE)')
  const tPress = performance.now()
  sim.control('click')
  const drop = await sim.waitFor((r) => r.event === 'relay', 1000, from)
  const dt = performance.now() - tPress
  t.match(drop, { state: 'OFF', reason: 'BUTTON' }, 'the controller dropped the relay for the button')
  t.notOk(
    fw.lines.some((l) => l.event === 'unblocked'),
    'while the firmware was still frozen',
  )
  t.ok(dt < 250, `relay off ${dt.toFixed(1)} ms after the press (through the simulator's stdin and stdout)`)
  // When the firmware wakes it hears the press and latches manual bypass.
  await fw.waitLine((l) => l.event === 'unblocked', 3000)
  await fw.waitLine((l) => l.event === 'transition' && l.to === 'MANUAL_BYPASS', 3000)
  t.pass('the firmware latched MANUAL_BYPASS after it woke')
  t.notOk(
    sim.reports.slice(from).some((r) => r.event === 'relay' && r.state === 'ON'),
    'the relay stayed off',
  )
  fw.child.stdin!.write('stop\n')
  await fw.waitLine((l) => l.event === 'stopped', 5000)
  t.comment(
    `FIGURE button-while-frozen: relay off ${dt.toFixed(1)} ms after the press (firmware frozen), the relay now carries the analog path; the engine went dry by itself as in the event-loop test`,
  )
})
