// The soak benchmark's short variant (tests/bench/soak.ts; `npm run soak` runs 30 minutes): the
// sim board's whole stack as its own process, inference and automation on, API clients, event
// streams and a console flood, stress-ng on every core plus memory pressure, for 15 s; then every
// fault class injected under the same load through the rehearsal command over the API.
// Asserted: no process death, and every fault class this unit can inject was detected. Bypasses
// the load itself causes (a late event loop on a saturated machine) are printed, not asserted:
// they are being fixed elsewhere. Healthy periods are 1.5 s and the escalation threshold 20 here,
// so that the fault phase fits in the minute and the load's own bypasses cannot latch the unit.
import t from 'tap'
import { formatSoak, runSoak } from '../bench/soak.ts'

t.test('soak (short): no process death, every injectable fault class detected, under saturation', async (t) => {
  const lines: string[] = []
  const r = await runSoak({ minutes: 0.25, stress: true, faults: true, healthyMs: 1500, escalateAfter: 20, log: (l) => lines.push(l) })
  for (const l of formatSoak(r).split('\n')) t.comment(l)
  t.same(r.deaths, [], 'no process death (inference included)')
  t.ok(r.load.apiRequests > 50 && r.load.consoleReplies > 50 && r.load.streamEvents > 50, 'the load ran: API, console, event streams')
  t.equal(r.faults.length, 6, 'every fault class was tried')
  for (const f of r.faults) {
    if (f.outcome === 'not-available') {
      t.match(f.message, /not available on this unit: the (engine|inference service) has no \w+\(/, `${f.fault}: its hook is not there yet (${f.message})`)
      continue
    }
    t.equal(f.outcome, 'measured', `${f.fault}: rehearsed (${f.message})`)
    t.ok(f.detected, `${f.fault}: detected as ${f.state} ${f.cause} after ${f.detectMs} ms${f.late ? ' (late)' : ''}`)
  }
  // A late control plane holds the parameters and degrades; under saturation it never bypasses.
  const late = r.loadBypasses.filter((b) => /^(event-loop-lag|native-heartbeat-stale)$/.test(b.cause))
  t.equal(late.length, 0, `no bypass from a late control plane (${late.map((b) => b.cause).join(', ')})`)
  // Reported, not asserted: an audio-thread stall on this shared VM is real (a dropout) and is an
  // audio fault; what remains here are the simulated panel link's own misses (docs/watchdog.md, Soak).
  t.comment(
    `load bypasses not caused by an audio fault: ${r.nonAudioBypasses.length} (target 0); relay drops not caused by one: ${r.nonAudioRelayDrops.length} (target 0)`,
  )
})
