// Every monitor in isolation: each cause raised and cleared by the inputs the unit hands it (the
// tick's readings, the engine's events, the panel's reports, the sentinel's counters, the inference
// service's health events), at the boundaries of its thresholds. The last test checks that every
// cause of the FaultCause union is raised by the monitor the cause table names.
import t from 'tap'
import { FAULT_CAUSES, type FaultCause } from '../../firmware/watchdog/causes.ts'
import { InferenceMonitor } from '../../firmware/watchdog/inference-health.ts'
import { MixStreamMonitor } from '../../firmware/watchdog/mix-stream.ts'
import {
  EngineStallMonitor,
  EventLoopMonitor,
  type Fault,
  MemoryMonitor,
  OverrunRateMonitor,
  PanelSilenceMonitor,
  SentinelMonitor,
  ThermalMonitor,
  XrunRateMonitor,
} from '../../firmware/watchdog/monitors.ts'
import { NativeEventMonitor } from '../../firmware/watchdog/native-events.ts'
import { NetAudioMonitor, type NetStreamView, PtpMonitor } from '../../firmware/watchdog/netaudio-monitor.ts'
import { PanelHeartbeatTimeoutMonitor, PanelLinkMonitor, RelayConfirmMonitor } from '../../firmware/watchdog/panel-monitors.ts'
import { TickErrorMonitor } from '../../firmware/watchdog/tick-errors.ts'

/** Which monitor class raised each cause, over the whole file. */
const raised = new Map<FaultCause, Set<string>>()
function note(monitor: object, f: Fault | null): Fault | null {
  if (f) {
    const set = raised.get(f.cause) ?? new Set<string>()
    set.add(monitor.constructor.name)
    raised.set(f.cause, set)
  }
  return f
}
function noteAll(monitor: object, fs: Fault[]): Fault[] {
  for (const f of fs) note(monitor, f)
  return fs
}

t.test('engine-stall: the block counter still for more than stallMs, cleared by the next block', async (t) => {
  const m = new EngineStallMonitor(200)
  t.equal(note(m, m.check(1000, 7)), null, 'a new count')
  t.equal(note(m, m.check(1200, 7)), null, 'still for exactly 200 ms is not a stall')
  t.match(note(m, m.check(1201, 7)), { level: 'bypass', cause: 'engine-stall', evidence: /stuck at 7 for 201 ms > 200 ms/ })
  t.equal(note(m, m.check(1202, 8)), null, 'the counter moves: cleared')
})

t.test('dsp-overrun-rate and xruns: a counter rate over 1 s above the limit, cleared when the window slides past', async (t) => {
  const o = new OverrunRateMonitor(10)
  t.equal(note(o, o.check(0, 100)), null)
  t.equal(note(o, o.check(100, 110)), null, '10 in the window = 10/s: at the limit, not over')
  t.match(note(o, o.check(200, 111)), { level: 'bypass', cause: 'dsp-overrun-rate', evidence: /11\.0\/s > 10\/s/ })
  let now = 200
  let f: Fault | null = { level: 'bypass', cause: 'dsp-overrun-rate', evidence: '' }
  while (f && now < 3000) {
    now += 100
    f = note(o, o.check(now, 111))
  }
  t.ok(now <= 1300, `cleared ${now - 200} ms after the last overrun (window 1 s)`)

  const x = new XrunRateMonitor(2)
  t.equal(note(x, x.check(0, 0)), null)
  t.equal(note(x, x.check(500, 2)), null, '2/s at the limit')
  t.match(note(x, x.check(600, 3)), { level: 'degrade', cause: 'xruns', evidence: /3\.0\/s > 2\/s/ })
  now = 600
  f = { level: 'degrade', cause: 'xruns', evidence: '' }
  while (f && now < 3000) {
    now += 100
    f = note(x, x.check(now, 3))
  }
  t.ok(now <= 1700, `cleared after ${now - 600} ms without xruns`)
})

t.test('event-loop-lag: the gap between ticks minus the tick above maxLagMs, cleared by a tick on time', async (t) => {
  const m = new EventLoopMonitor(10, 100)
  t.teardown(() => m.close())
  t.equal(note(m, m.check(1000)), null, 'the first tick has nothing to compare')
  t.equal(note(m, m.check(1110)), null, 'lag of exactly 100 ms is allowed')
  t.match(note(m, m.check(1221)), { level: 'degrade', cause: 'event-loop-lag', evidence: /lag 101 ms > 100 ms/ })
  t.equal(note(m, m.check(1231)), null, 'on time again')
})

t.test('thermal: degrade at warnC, bypass at bypassC, unreadable zones ignored, cleared under warnC', async (t) => {
  const m = new ThermalMonitor([
    { name: 'cpu', warnC: 85, bypassC: 95 },
    { name: 'gpu', warnC: 80, bypassC: 90 },
  ])
  const r = (cpu: number, gpu: number) =>
    new Map([
      ['cpu', cpu],
      ['gpu', gpu],
    ])
  t.equal(note(m, m.check(r(84.9, 79.9))), null)
  t.match(note(m, m.check(r(85, 20))), { level: 'degrade', cause: 'thermal', evidence: /cpu 85\.0 °C >= 85 °C/ })
  t.match(note(m, m.check(r(86, 90))), { level: 'bypass', cause: 'thermal', evidence: /gpu 90\.0 °C >= 90 °C/ }, 'the worst zone wins')
  t.equal(note(m, m.check(r(Number.NaN, 50))), null, 'an unreadable zone is no evidence')
  t.equal(note(m, m.check(new Map())), null, 'no readings at all')
})

t.test('memory: resident memory above the limit degrades, at the limit does not', async (t) => {
  const MiB = 1024 * 1024
  const m = new MemoryMonitor(100 * MiB)
  t.equal(note(m, m.check(100 * MiB)), null)
  t.match(note(m, m.check(100 * MiB + 1)), { level: 'degrade', cause: 'memory', evidence: /> 100 MiB/ })
  t.equal(note(m, m.check(50 * MiB)), null, 'cleared')
})

t.test('sentinel: each counter that moves is one fault; a stall lasting is repeated; nothing when still', async (t) => {
  const m = new SentinelMonitor()
  const st = { audioStalls: 0, lastStallMs: 0, controlHolds: 0, lastHoldAgeMs: 0, controlTimeouts: 0, stalled: false }
  t.same(noteAll(m, m.check(st, 100)), [], 'all counters at zero')
  t.match(noteAll(m, m.check({ ...st, audioStalls: 1, lastStallMs: 21, stalled: true }, 100)), [
    { level: 'bypass', cause: 'audio-stall', evidence: /no block for 21 ms/ },
  ])
  t.match(
    noteAll(m, m.check({ ...st, audioStalls: 1, lastStallMs: 21, stalled: true }, 100)),
    [{ cause: 'audio-stall', evidence: /still stalled/ }],
    'still stalled: repeated',
  )
  t.same(noteAll(m, m.check({ ...st, audioStalls: 1 }, 100)), [], 'blocks again: cleared')
  t.match(noteAll(m, m.check({ ...st, audioStalls: 1, controlHolds: 1, lastHoldAgeMs: 130 }, 100)), [
    { level: 'degrade', cause: 'control-plane-stall', evidence: /130 ms old \(> 100 ms\)/ },
  ])
  t.match(noteAll(m, m.check({ ...st, audioStalls: 1, controlHolds: 1, controlTimeouts: 1 }, 100)), [{ level: 'bypass', cause: 'control-plane-timeout' }])
  t.same(noteAll(m, m.check({ ...st, audioStalls: 1, controlHolds: 1, controlTimeouts: 1 }, 100)), [], 'counters unchanged: nothing')
})

t.test('native events: each native-bypass cause and backend-error bypass with the limits quoted; other events are none', async (t) => {
  const m = new NativeEventMonitor({ heartbeatTimeoutMs: 5000, overrunBlocks: 4, runawayDb: 24 })
  t.match(note(m, m.check({ type: 'native-bypass', cause: 'heartbeat-stale', detail: 5012.4 })), {
    level: 'bypass',
    cause: 'native-heartbeat-stale',
    evidence: 'audio thread went dry: heartbeat 5012 ms old > 5000 ms',
  })
  t.match(note(m, m.check({ type: 'native-bypass', cause: 'dsp-overrun', detail: 2700 })), {
    cause: 'native-dsp-overrun',
    evidence: /over budget 4 blocks in a row \(2700 us\)/,
  })
  t.match(note(m, m.check({ type: 'native-bypass', cause: 'non-finite-output', detail: 0 })), {
    cause: 'native-non-finite-output',
    evidence: /NaN or infinity/,
  })
  t.match(note(m, m.check({ type: 'native-bypass', cause: 'runaway-output', detail: 0 })), { cause: 'native-runaway-output', evidence: /above 24 dBFS/ })
  t.match(note(m, m.check({ type: 'backend-error' })), { level: 'bypass', cause: 'backend-error' })
  for (const type of ['xrun', 'overrun', 'processed', 'end-of-input'] as const) t.equal(note(m, m.check({ type })), null, `${type}: no fault`)
})

t.test('panel link and controller silence: gone UART bypasses; silence past panelSilentMs bypasses; a line clears it', async (t) => {
  const link = new PanelLinkMonitor()
  t.match(note(link, link.check({ linkUp: false, path: '/dev/ttyTHS1' })), { level: 'bypass', cause: 'panel-link-lost', evidence: /\/dev\/ttyTHS1 is gone/ })
  t.equal(note(link, link.check({ linkUp: true, path: '/dev/ttyTHS1' })), null, 'back')
  const silence = new PanelSilenceMonitor(600)
  t.equal(note(silence, silence.check(1600, 1000, '/dev/pts/3')), null, '600 ms quiet is allowed')
  t.match(note(silence, silence.check(1601, 1000, '/dev/pts/3')), { level: 'bypass', cause: 'panel-controller-silent', evidence: /for 601 ms \(> 600 ms\)/ })
  t.equal(note(silence, silence.check(1700, 1650, '/dev/pts/3')), null, 'heard again')
})

t.test('panel heartbeat timeout: RELAY OFF TIMEOUT while processing bypasses; any other relay report does not', async (t) => {
  const m = new PanelHeartbeatTimeoutMonitor()
  t.match(note(m, m.check({ state: 'OFF', reason: 'TIMEOUT', detail: '152' }, true)), {
    level: 'bypass',
    cause: 'panel-heartbeat-timeout',
    evidence: /no heartbeat for 152 ms/,
  })
  t.match(note(m, m.check({ state: 'OFF', reason: 'TIMEOUT', detail: '' }, true)), { evidence: /for \? ms/ })
  t.equal(note(m, m.check({ state: 'OFF', reason: 'TIMEOUT', detail: '152' }, false)), null, 'already in bypass: expected')
  t.equal(note(m, m.check({ state: 'OFF', reason: 'BUTTON', detail: '' }, true)), null, 'the button dropped it')
  t.equal(note(m, m.check({ state: 'ON', reason: 'HOST', detail: '' }, true)), null)
})

t.test('relay-not-confirmed: expected but unconfirmed for more than 1000 ms; cleared by the confirmation or when no longer expected', async (t) => {
  const m = new RelayConfirmMonitor(1000)
  const off = { expected: true, relay: 'bypass', controller: 'sim-1.0' }
  t.equal(note(m, m.check(5000, off)), null, 'starts counting')
  t.equal(note(m, m.check(6000, off)), null, 'exactly 1000 ms is allowed')
  t.match(note(m, m.check(6001, off)), { level: 'degrade', cause: 'relay-not-confirmed', evidence: /for 1001 ms \(relay bypass, controller sim-1\.0\)/ })
  t.equal(note(m, m.check(6002, { ...off, relay: 'processed' })), null, 'confirmed')
  t.equal(note(m, m.check(6500, off)), null, 'counting starts again')
  t.equal(note(m, m.check(7000, { ...off, expected: false })), null, 'button held or bypass: not expected')
  t.equal(note(m, m.check(7999, off)), null, 'restarted at 7999')
  t.match(note(m, m.check(9000, { ...off, controller: null })), { evidence: /controller silent/ })
})

t.test('runtime-error: every failing tick is a fault; logged for the first five, then every hundredth', async (t) => {
  const m = new TickErrorMonitor()
  t.match(note(m, m.check(new Error('boom'))), { level: 'bypass', cause: 'runtime-error', evidence: 'control tick failed: boom' })
  t.match(m.check('not an Error'), { evidence: 'control tick failed: not an Error' })
  const logged: number[] = []
  for (let i = 3; i <= 200; i++) {
    m.check(new Error('x'))
    if (m.worthLogging) logged.push(m.count)
  }
  t.same(logged, [3, 4, 5, 100, 200])
})

t.test("inference: each kind of fault from the service's health events, and what clears it", async (t) => {
  const m = new InferenceMonitor({ hungMs: 1000, maxLatePerWindow: 2, windowMs: 2000 })
  t.same(noteAll(m, m.check(10_000)), [], 'not armed before inference-started')
  m.onEvent({ type: 'inference-started', at: 0 })
  t.same(noteAll(m, m.check(1000)), [], '1000 ms without a heartbeat is allowed')
  t.match(noteAll(m, m.check(1001)), [{ level: 'degrade', cause: 'inference-hung', evidence: /no inference heartbeat for 1001 ms/ }])
  m.onEvent({ type: 'inference-heartbeat', at: 1002 })
  t.same(noteAll(m, m.check(1003)), [], 'a heartbeat clears it')
  m.onEvent({ type: 'inference-result', at: 1010, latencyMs: 3, deadlineMs: 20, valid: false, detail: 'NaN in scores' })
  t.match(noteAll(m, m.check(1011)), [{ cause: 'inference-garbage', evidence: /NaN in scores/ }])
  t.same(noteAll(m, m.check(1012)), [], 'one-shot')
  for (let i = 0; i < 3; i++) m.onEvent({ type: 'inference-result', at: 1020 + i, latencyMs: 30, deadlineMs: 20, valid: true })
  t.match(
    noteAll(m, m.check(1030)),
    [{ cause: 'inference-latency', evidence: /3 inference results past deadline/ }],
    'the third late result is over the limit of 2',
  )
  m.onEvent({ type: 'inference-error', at: 1040, message: 'session run failed' })
  t.match(noteAll(m, m.check(1041)), [{ cause: 'inference-error', evidence: /session run failed/ }])
  m.onEvent({ type: 'inference-exit', at: 1050, code: 1, signal: null, reason: 'crash' })
  t.match(noteAll(m, m.check(1051)), [{ cause: 'inference-exit', evidence: /crashed \(code 1/ }])
  t.match(noteAll(m, m.check(5000)), [{ cause: 'inference-exit' }], 'lasts until a fresh process')
  m.onEvent({ type: 'inference-started', at: 5001 })
  t.same(noteAll(m, m.check(5002)), [], 'a fresh process clears it')
  m.onEvent({ type: 'inference-hung', at: 5100, message: 'request outstanding 1000 ms' })
  m.onEvent({ type: 'inference-exit', at: 5101, code: null, signal: 'SIGKILL', reason: 'hung' })
  t.match(noteAll(m, m.check(5102)), [{ cause: 'inference-hung' }, { cause: 'inference-hung', evidence: /killed after it hung/ }])
  m.onEvent({ type: 'inference-stopped', at: 5200 })
  t.same(noteAll(m, m.check(99_999)), [], 'a deliberate stop disarms it')
})

t.test('mix-stream: refused packets, a stalled stream or tap drops degrade; never bypass; off clears it', async (t) => {
  const m = new MixStreamMonitor()
  const h = (packets: number, sendErrors: number, tapDrops = 0) => ({ running: true, tapDrops, streams: [{ name: 'vocal', packets, sendErrors }] })
  t.equal(note(m, m.check(null)), null, 'no streamer: nothing to say')
  t.equal(note(m, m.check(h(10, 0))), null, 'the first check arms it')
  t.equal(note(m, m.check(h(35, 0))), null, 'packets flowing')
  t.match(note(m, m.check(h(40, 12))), { level: 'degrade', cause: 'mix-stream', evidence: /mix vocal: 12 packets refused by the ingest/ })
  t.match(note(m, m.check(h(40, 12))), { level: 'degrade', evidence: /no packet sent since the last check/ })
  t.match(note(m, m.check(h(60, 12, 30))), { level: 'degrade', evidence: /30 tap records dropped/ })
  t.equal(note(m, m.check(h(80, 12, 30))), null, 'sending again, nothing dropped since: clear')
  t.equal(note(m, m.check({ running: false, tapDrops: 0, streams: [] })), null, 'stopped: nothing to say')
})

t.test('netaudio: a failover switch is reported once; an input whose sources are all silent is dead', async (t) => {
  const m = new NetAudioMonitor(1000)
  const rx = (o: Partial<NetStreamView>): NetStreamView => ({
    direction: 'rx',
    localPort: 5004,
    priority: 1,
    active: true,
    switches: 0,
    lastSwitchCause: '',
    lastPacketMs: 10_000,
    fillFrames: 48,
    ...o,
  })
  t.same(noteAll(m, m.check(10_001, [rx({})])), [], 'a healthy input: nothing')
  t.same(noteAll(m, m.check(10_001, [rx({ direction: 'tx', lastPacketMs: 0, fillFrames: 0 })])), [], 'transmit streams are not inputs')
  t.match(noteAll(m, m.check(10_002, [rx({ priority: 2, switches: 1, lastSwitchCause: 'source-dead' })])), [
    { level: 'degrade', cause: 'netaudio-failover', evidence: /priority 2 source \(port 5004\): its packets stopped/ },
  ])
  t.same(noteAll(m, m.check(10_003, [rx({ priority: 2, switches: 1 })])), [], 'the same switch is not reported twice')
  t.match(noteAll(m, m.check(11_500, [rx({ lastPacketMs: 10_000, fillFrames: 0, switches: 1 })])), [
    { level: 'degrade', cause: 'netaudio-input-dead', evidence: /no packet for 1500 ms/ },
  ])
  t.match(noteAll(m, m.check(11_500, [rx({ lastPacketMs: 0, fillFrames: 0, switches: 1 })])), [
    { cause: 'netaudio-input-dead', evidence: /no packet for ever/ },
  ])
  t.same(noteAll(m, m.check(11_500, [rx({ lastPacketMs: 10_000, fillFrames: 96, switches: 1 })])), [], 'frames still buffered: not dead yet')
})

t.test('ptp: locked or master is healthy; unlocked and lost degrade (the media clock free-runs)', async (t) => {
  const m = new PtpMonitor()
  t.equal(note(m, m.check(null)), null, 'no PTP configured: nothing to say')
  t.equal(note(m, m.check({ portState: 'SLAVE', masterOffsetNs: 40, health: 'locked' })), null)
  t.equal(note(m, m.check({ portState: 'MASTER', masterOffsetNs: 0, health: 'master' })), null)
  t.match(note(m, m.check({ portState: 'UNCALIBRATED', masterOffsetNs: 250_000, health: 'unlocked' })), {
    level: 'degrade',
    cause: 'ptp-unlocked',
    evidence: /UNCALIBRATED, offset 250000 ns/,
  })
  t.match(note(m, m.check({ portState: '', masterOffsetNs: Number.NaN, health: 'lost' })), { level: 'degrade', cause: 'ptp-lost', evidence: /not answering/ })
})

t.test('every cause in the FaultCause union is raised, by the monitor the cause table names', async (t) => {
  for (const [cause, info] of Object.entries(FAULT_CAUSES)) {
    t.same([...(raised.get(cause as FaultCause) ?? [])], [info.monitor], `${cause} raised by ${info.monitor}`)
  }
  for (const cause of raised.keys()) t.ok(Object.hasOwn(FAULT_CAUSES, cause), `${cause} is in the table`)
})
