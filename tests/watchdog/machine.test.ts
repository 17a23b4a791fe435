import t from 'tap'
import type { TransitionRecord } from '../../firmware/contract/appliance.ts'
import { SimulatedClock } from '../../firmware/watchdog/clock.ts'
import {
  DEFAULT_WATCHDOG_CONFIG,
  initialState,
  STATES,
  type StateName,
  transition,
  type WatchdogAction,
  type WatchdogEvent,
  type WatchdogState,
} from '../../firmware/watchdog/machine.ts'
import { rng } from '../helpers/rng.ts'

function run(s: WatchdogState, ...events: WatchdogEvent[]): [WatchdogState, WatchdogAction[]] {
  let all: WatchdogAction[] = []
  for (const e of events) {
    const [n, a] = transition(s, e)
    s = n
    all = all.concat(a)
  }
  return [s, all]
}

const lag = (at: number): WatchdogEvent => ({ type: 'fault', at, level: 'bypass', cause: 'event-loop-lag', evidence: 'event-loop lag 812 ms > 250 ms' })

t.test('boot completes into ACTIVE with processing on and the relay energised', async (t) => {
  const [s, a] = run(initialState(0), { type: 'boot-complete', at: 10 })
  t.equal(s.name, 'ACTIVE')
  t.same(
    a.filter((x) => x.type === 'bypass'),
    [{ type: 'bypass', engage: false }],
  )
  t.same(
    a.filter((x) => x.type === 'relay'),
    [{ type: 'relay', energise: true }],
  )
  t.same(
    a.filter((x) => x.type === 'led'),
    [{ type: 'led', state: 'ACTIVE' }],
  )
  const log = a.find((x) => x.type === 'log')
  t.match(log, { record: { from: 'BOOT', to: 'ACTIVE', at: 10 } })
})

t.test('event-loop lag bypasses with its evidence and withholds the panel heartbeat', async (t) => {
  const [s, a] = run(initialState(0), { type: 'boot-complete', at: 0 }, lag(1000))
  t.equal(s.name, 'BYPASS')
  t.equal(s.cause, 'event-loop-lag')
  t.match(a, [{}, {}, {}, {}, {}, {}, {}, { type: 'bypass', engage: true }])
  t.ok(a.some((x) => x.type === 'heartbeat' && x.withhold))
  t.ok(a.some((x) => x.type === 'log' && x.record.evidence === 'event-loop lag 812 ms > 250 ms'))
})

t.test('automatic bypass ends only after the healthy period, counted from the last fault', async (t) => {
  const clock = new SimulatedClock(0)
  let [s] = run(initialState(0, { healthyPeriodMs: 5000 }), { type: 'boot-complete', at: 0 }, lag(1000))
  ;[s] = run(s, lag(3000)) // the fault repeats
  let firstProcessing = -1
  for (let at = 3010; at < 8000 && firstProcessing < 0; at += 10) {
    clock.set(at)
    ;[s] = run(s, { type: 'tick', at: clock.now() })
    if (s.name !== 'BYPASS') firstProcessing = at
  }
  t.equal(firstProcessing, -1, 'still bypassed at every tick until 5 s after the last fault')
  const [s2, a] = run(s, { type: 'tick', at: 8000 })
  t.equal(s2.name, 'ACTIVE')
  t.ok(
    a.some((x) => x.type === 'bypass' && !x.engage),
    'processing resumes',
  )
})

t.test('a degrade fault inside the bypass makes recovery land in DEGRADED', async (t) => {
  const deg: WatchdogEvent = { type: 'fault', at: 2000, level: 'degrade', cause: 'inference-hung', evidence: 'no heartbeat' }
  const [s] = run(initialState(0, { healthyPeriodMs: 1000, degradedPeriodMs: 5000 }), { type: 'boot-complete', at: 0 }, lag(1000), deg, {
    type: 'tick',
    at: 2500,
  })
  t.equal(s.name, 'DEGRADED')
  const [s2] = run(s, { type: 'tick', at: 6999 })
  t.equal(s2.name, 'DEGRADED')
  const [s3, a] = run(s2, { type: 'tick', at: 7000 })
  t.equal(s3.name, 'ACTIVE')
  t.ok(a.some((x) => x.type === 'inference' && x.enabled))
})

t.test('manual bypass latches: no fault, tick or time releases it, only a person', async (t) => {
  let [s] = run(initialState(0), { type: 'boot-complete', at: 0 }, { type: 'manual', at: 100, on: true, who: 'panel' })
  t.equal(s.name, 'MANUAL_BYPASS')
  ;[s] = run(s, lag(200), { type: 'tick', at: 1e9 }, { type: 'long-press', at: 1e9 + 1, who: 'panel' }, { type: 'boot-complete', at: 1e9 + 2 })
  t.equal(s.name, 'MANUAL_BYPASS')
  const [s2, a] = run(s, { type: 'manual', at: 1e9 + 3, on: false, who: 'console' })
  t.equal(s2.name, 'ACTIVE')
  t.match(
    a.find((x) => x.type === 'log'),
    { record: { cause: 'manual-release', evidence: 'manual bypass released by console' } },
  )
})

t.test('releasing manual bypass during a recent fault goes to automatic BYPASS, not processing', async (t) => {
  const [s] = run(initialState(0), { type: 'boot-complete', at: 0 }, { type: 'manual', at: 100, on: true, who: 'api' }, lag(1000), {
    type: 'manual',
    at: 2000,
    on: false,
    who: 'api',
  })
  t.equal(s.name, 'BYPASS')
  t.equal(s.cause, 'event-loop-lag')
})

t.test('a long press always bypasses and never toggles back', async (t) => {
  const [s] = run(initialState(0), { type: 'boot-complete', at: 0 }, { type: 'long-press', at: 10, who: 'panel' }, { type: 'long-press', at: 20, who: 'panel' })
  t.equal(s.name, 'MANUAL_BYPASS')
})

t.test('shutdown bypasses and nothing recovers afterwards', async (t) => {
  const [s] = run(initialState(0), { type: 'boot-complete', at: 0 }, { type: 'shutdown', at: 10 }, { type: 'tick', at: 1e9 })
  t.equal(s.name, 'BYPASS')
  t.equal(s.cause, 'shutdown')
})

// A 150 ms stall every 6 s, as the monitors report it: the event loop is blocked (no ticks), the
// audio thread's heartbeat goes stale after 100 ms and it reports that once the loop runs again.
function stallEvery6s(s: WatchdogState, clock: SimulatedClock, minutes: number): { s: WatchdogState; records: TransitionRecord[] } {
  const records: TransitionRecord[] = []
  const feed = (e: WatchdogEvent) => {
    const [n, a] = transition(s, e)
    s = n
    for (const x of a) if (x.type === 'log') records.push(x.record)
  }
  const end = clock.now() + minutes * 60_000
  while (clock.now() < end) {
    // 5850 ms of healthy 10 ms ticks, then the stall.
    for (let i = 0; i < 585; i++) feed({ type: 'tick', at: clock.advance(10) })
    clock.advance(150)
    feed({ type: 'fault', at: clock.now(), level: 'bypass', cause: 'native-heartbeat-stale', evidence: 'audio thread went dry: heartbeat 150 ms old > 100 ms' })
    feed({ type: 'tick', at: clock.now() })
  }
  return { s, records }
}

t.test('a 150 ms stall every 6 s flaps the sound at most until the escalation latch', async (t) => {
  const clock = new SimulatedClock(0)
  let [s] = run(initialState(0), { type: 'boot-complete', at: 0 })
  const out = stallEvery6s(s, clock, 10)
  s = out.s
  const toBypass = out.records.filter((r) => r.to === 'BYPASS')
  const toProcessing = out.records.filter((r) => r.to === 'ACTIVE' || r.to === 'DEGRADED')
  t.equal(s.name, 'MANUAL_BYPASS', 'latched in bypass after 10 minutes of repeats')
  t.equal(s.cause, 'escalated')
  t.equal(toBypass.length, DEFAULT_WATCHDOG_CONFIG.escalateAfterBypasses - 1, 'automatic bypasses before the latch')
  t.ok(toProcessing.length <= toBypass.length, `processing resumed ${toProcessing.length} times, never after the latch`)
  const latch = out.records.find((r) => r.cause === 'escalated')!
  t.ok(latch, 'the latch is a recorded transition')
  t.equal(latch.to, 'MANUAL_BYPASS')
  t.match(latch.evidence, /3 automatic bypasses within 60 s/)
  t.match(latch.evidence, /native-heartbeat-stale/, 'the evidence lists the repeats and their causes')
  t.equal(out.records.indexOf(latch), out.records.length - 1, 'nothing happens after the latch, whatever the faults do')
  // Only a person releases it, as today's manual release; the count starts again.
  const [s2, a2] = transition(s, { type: 'manual', at: clock.advance(20_000), on: false, who: 'console' })
  t.equal(s2.name, 'ACTIVE')
  t.match(
    a2.find((x) => x.type === 'log'),
    { record: { cause: 'manual-release', evidence: /released by console/ } },
  )
  const [s3] = transition(s2, { type: 'fault', at: clock.advance(10), level: 'bypass', cause: 'native-heartbeat-stale', evidence: 'x' })
  t.equal(s3.name, 'BYPASS', 'after a release, the next fault is an ordinary automatic bypass again')
})

t.test('bypasses spread wider than the window never latch', async (t) => {
  const clock = new SimulatedClock(0)
  let [s] = run(initialState(0, { escalateAfterBypasses: 3, escalateWindowMs: 60_000 }), { type: 'boot-complete', at: 0 })
  for (let k = 0; k < 10; k++) {
    ;[s] = run(s, lag(clock.advance(31_000)))
    t.equal(s.name, 'BYPASS', `bypass ${k + 1}: at most 2 in any 60 s`)
    ;[s] = run(s, { type: 'tick', at: clock.advance(6000) })
    t.equal(s.name, 'ACTIVE')
  }
})

t.test('escalation thresholds: 0 turns the latch off', async (t) => {
  const clock = new SimulatedClock(0)
  let [s] = run(initialState(0, { escalateAfterBypasses: 0 }), { type: 'boot-complete', at: 0 })
  s = stallEvery6s(s, clock, 2).s
  t.equal(s.name, 'BYPASS')
})

t.test('the simulated clock refuses to run backwards', async (t) => {
  const c = new SimulatedClock(100)
  t.throws(() => c.set(99), { code: 'FW_ERR_BAD_OPTION' })
  t.throws(() => c.advance(-1), { code: 'FW_ERR_BAD_OPTION' })
  t.equal(c.advance(5), 105)
})

t.test('fuzz: thousands of seeded random event sequences keep the promises', async (t) => {
  const SEQUENCES = 3000
  const STEPS = 200
  let transitions = 0
  const problems: string[] = []
  for (let seed = 1; seed <= SEQUENCES && problems.length === 0; seed++) {
    const r = rng(seed)
    const healthy = 1000 + Math.floor(r() * 5000)
    const degradedPeriod = 1000 + Math.floor(r() * 5000)
    const latchAfter = Math.floor(r() * 6) // 0 = never
    const latchWindow = 10_000 + Math.floor(r() * 110_000)
    let s = initialState(0, { healthyPeriodMs: healthy, degradedPeriodMs: degradedPeriod, escalateAfterBypasses: latchAfter, escalateWindowMs: latchWindow })
    // The test's own account of automatic bypasses since a person last released one.
    let autoBypasses: number[] = []
    let now = 0
    let lastBypassFault = -Infinity
    let lastDegradeFault = -Infinity
    for (let i = 0; i < STEPS; i++) {
      now += Math.floor(r() * r() * 3000)
      const k = r()
      let ev: WatchdogEvent
      if (k < 0.35) ev = { type: 'tick', at: now }
      else if (k < 0.5) ev = { type: 'fault', at: now, level: 'bypass', cause: r() < 0.7 ? 'engine-stall' : 'dsp-overrun-rate', evidence: 'x' }
      else if (k < 0.65) ev = { type: 'fault', at: now, level: 'degrade', cause: r() < 0.7 ? 'xruns' : 'inference-hung', evidence: 'y' }
      else if (k < 0.75) ev = { type: 'manual', at: now, on: true, who: 'p' }
      else if (k < 0.85) ev = { type: 'manual', at: now, on: false, who: 'p' }
      else if (k < 0.9) ev = { type: 'long-press', at: now, who: 'p' }
      else if (k < 0.99) ev = { type: 'boot-complete', at: now }
      else ev = { type: 'shutdown', at: now }
      // Sometimes an event arrives stamped a little in the past (a late ring record).
      if (r() < 0.05) ev = { ...ev, at: Math.max(0, now - 50) }
      if (ev.type === 'fault' && ev.level === 'bypass') lastBypassFault = Math.max(lastBypassFault, s.at, ev.at)
      if (ev.type === 'fault' && ev.level === 'degrade') lastDegradeFault = Math.max(lastDegradeFault, s.at, ev.at)
      const before: StateName = s.name
      const [next, actions] = transition(s, ev)
      const after = next.name
      const where = `seed ${seed} step ${i}: ${before} --${ev.type}${ev.type === 'manual' ? (ev.on ? ' on' : ' off') : ''}--> ${after}`
      if (!STATES.includes(after)) problems.push(`${where}: undefined state`)
      if (before === 'MANUAL_BYPASS' && after !== 'MANUAL_BYPASS' && !(ev.type === 'manual' && !ev.on))
        problems.push(`${where}: left manual bypass without a person`)
      // Escalation: a bypass fault while processing (or booting) goes to BYPASS, except the
      // latchAfter-th within latchWindow, which latches MANUAL_BYPASS with cause 'escalated'.
      if (ev.type === 'fault' && ev.level === 'bypass' && (before === 'BOOT' || before === 'ACTIVE' || before === 'DEGRADED')) {
        const inWindow = autoBypasses.filter((at) => next.at - at < latchWindow).length
        const latch = latchAfter > 0 && inWindow + 1 >= latchAfter
        if (latch && !(after === 'MANUAL_BYPASS' && next.cause === 'escalated'))
          problems.push(`${where}: bypass number ${inWindow + 1} within ${latchWindow} ms did not latch (threshold ${latchAfter})`)
        if (!latch && after !== 'BYPASS')
          problems.push(`${where}: bypass number ${inWindow + 1} within ${latchWindow} ms should be an automatic bypass (threshold ${latchAfter})`)
        autoBypasses = latch ? [] : [...autoBypasses, next.at]
      }
      if (before !== after && next.cause === 'escalated') {
        const log = actions.find((a) => a.type === 'log')
        if (after !== 'MANUAL_BYPASS' || !log || !new RegExp(`^${latchAfter} automatic bypasses within`).test(log.record.evidence))
          problems.push(`${where}: escalation not recorded with its repeats`)
      }
      if (before === 'MANUAL_BYPASS' && after !== 'MANUAL_BYPASS') autoBypasses = []
      if (autoBypasses.filter((at) => next.at - at < latchWindow).length >= Math.max(latchAfter, 1) && latchAfter > 0)
        problems.push(`${where}: ${latchAfter} automatic bypasses within ${latchWindow} ms without a latch`)
      if (before !== after) {
        transitions++
        const log = actions.find((a) => a.type === 'log')
        if (!log || log.record.from !== before || log.record.to !== after || !log.record.cause) problems.push(`${where}: transition not recorded with a cause`)
        const processing = after === 'ACTIVE' || after === 'DEGRADED'
        if (processing && next.at - lastBypassFault < healthy)
          problems.push(`${where}: processing again ${next.at - lastBypassFault} ms after a bypass fault (healthy period ${healthy})`)
        if (after === 'ACTIVE' && before === 'DEGRADED' && next.at - lastDegradeFault < degradedPeriod) problems.push(`${where}: left DEGRADED too early`)
        const bypass = actions.find((a) => a.type === 'bypass')
        if (!bypass || bypass.engage !== !processing) problems.push(`${where}: bypass action does not match the state`)
      } else if (actions.length > 0) {
        // The one thing allowed without a transition: a note of a fault cause new to this stay.
        const note = ev.type === 'fault' && ((before === 'DEGRADED' && ev.level === 'degrade') || (before === 'BYPASS' && ev.level === 'bypass'))
        const [log, notify] = actions
        if (!note || actions.length !== 2 || log?.type !== 'log' || notify?.type !== 'notify' || log.record.from !== before || log.record.to !== before)
          problems.push(`${where}: actions without a transition`)
        else if ((s.noted as string[]).includes(log.record.cause)) problems.push(`${where}: ${log.record.cause} noted twice in one stay`)
      }
      s = next
    }
  }
  t.same(problems, [], 'no property violated')
  t.ok(transitions > SEQUENCES, `${transitions} transitions exercised`)
  t.comment(`fuzz: ${SEQUENCES} sequences x ${STEPS} events, ${transitions} transitions`)
})

t.test('a second cause while DEGRADED is recorded once and named in the status; repeats are not', async (t) => {
  const busy = (at: number): WatchdogEvent => ({ type: 'fault', at, level: 'degrade', cause: 'event-loop-lag', evidence: 'event-loop lag 140 ms > 100 ms' })
  const hung = (at: number): WatchdogEvent => ({ type: 'fault', at, level: 'degrade', cause: 'inference-hung', evidence: 'no heartbeat for 1003 ms' })
  let [s, a] = run(initialState(0), { type: 'boot-complete', at: 0 }, busy(100), busy(110), busy(120))
  t.equal(s.name, 'DEGRADED')
  t.equal(a.filter((x) => x.type === 'log').length, 2, 'boot and the lag: its repeats add nothing')
  ;[s, a] = run(s, hung(130))
  t.same(
    a.map((x) => x.type),
    ['log', 'notify'],
    'recorded and told, with nothing carried out: the sound, relay and LEDs are already right',
  )
  t.match(a[0], { record: { from: 'DEGRADED', to: 'DEGRADED', cause: 'inference-hung', evidence: 'no heartbeat for 1003 ms' } })
  t.equal(s.cause, 'inference-hung', 'the status names the newest cause')
  t.equal(s.since, 100, 'the stay began with the lag')
  ;[s, a] = run(s, hung(140), busy(150), hung(160))
  t.same(a, [], 'each cause once per stay: faults repeated every tick do not flood the log')
  ;[s, a] = run(s, { type: 'tick', at: 6000 }, busy(6100))
  t.equal(a.filter((x) => x.type === 'log').length, 2, 'a new stay records its causes again (recovered, then the lag)')
})

t.test('a second bypass cause while BYPASS is recorded; MANUAL_BYPASS records none (a person holds it)', async (t) => {
  const overrun = (at: number): WatchdogEvent => ({ type: 'fault', at, level: 'bypass', cause: 'dsp-overrun-rate', evidence: '14 overruns/s > 10' })
  let [s, a] = run(initialState(0), { type: 'boot-complete', at: 0 }, lag(100), lag(110), overrun(120), overrun(130))
  t.equal(s.name, 'BYPASS')
  t.same(
    a.filter((x) => x.type === 'log').map((x) => (x.type === 'log' ? `${x.record.from}>${x.record.to} ${x.record.cause}` : '')),
    ['BOOT>ACTIVE boot-complete', 'ACTIVE>BYPASS event-loop-lag', 'BYPASS>BYPASS dsp-overrun-rate'],
  )
  ;[s, a] = run(s, { type: 'manual', at: 200, on: true, who: 'panel' }, overrun(210), lag(220))
  t.equal(s.name, 'MANUAL_BYPASS')
  t.equal(a.filter((x) => x.type === 'log').length, 1, 'only the press itself')
})
