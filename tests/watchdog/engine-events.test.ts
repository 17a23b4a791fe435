// The engine's events, from the audio thread to a fault: the binding's plain records decode into
// the typed EngineEvent union (firmware/engine/events.ts, every field checked, no cast), and the
// NativeEventMonitor turns them into faults. A record that does not decode is counted and
// dropped, never turned into a wrong fault.
import t from 'tap'
import { createEngineFromProfile } from '../../firmware/board/engine.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { decodeEngineEvent, decodeEngineEvents } from '../../firmware/engine/events.ts'
import type { EngineEvent } from '../../firmware/engine/types.ts'
import type { Fault } from '../../firmware/watchdog/monitors.ts'
import { NativeEventMonitor } from '../../firmware/watchdog/native-events.ts'
import { until } from '../helpers/until.ts'

const profile = loadProfile('sim')

t.test('records as the binding makes them decode; wrong or missing fields do not', async (t) => {
  t.same(decodeEngineEvent({ type: 'native-bypass', block: 12, cause: 'non-finite-output', detail: 0 }), {
    type: 'native-bypass',
    block: 12,
    cause: 'non-finite-output',
    detail: 0,
  })
  t.same(decodeEngineEvent({ type: 'xrun', block: 3, count: 2 }), { type: 'xrun', block: 3, count: 2 })
  t.same(decodeEngineEvent({ type: 'overrun', block: 4, usedUs: 2000, budgetUs: 1333 }), { type: 'overrun', block: 4, usedUs: 2000, budgetUs: 1333 })
  t.same(decodeEngineEvent({ type: 'backend-error', block: 9 }), { type: 'backend-error', block: 9 })
  t.same(decodeEngineEvent({ type: 'processed', block: 1 }), { type: 'processed', block: 1 })
  t.same(decodeEngineEvent({ type: 'end-of-input', block: 1 }), { type: 'end-of-input', block: 1 })
  t.equal(decodeEngineEvent({ type: 'native-bypass', block: 12, cause: 'gremlins', detail: 0 }), null, 'an unknown native cause')
  t.equal(decodeEngineEvent({ type: 'native-bypass', block: 12, cause: 'dsp-overrun' }), null, 'detail missing')
  t.equal(decodeEngineEvent({ type: 'xrun', block: '3', count: 2 }), null, 'block of the wrong type')
  t.equal(decodeEngineEvent({ type: 'overrun', block: 4, usedUs: 2000 }), null, 'budgetUs missing')
  t.equal(decodeEngineEvent({ type: 'meteor', block: 1 }), null, 'an unknown type')
  const d = decodeEngineEvents([
    { type: 'processed', block: 1 },
    { type: 'meteor', block: 2 },
    { type: 'xrun', block: 3, count: 1 },
  ])
  t.same(d, {
    events: [
      { type: 'processed', block: 1 },
      { type: 'xrun', block: 3, count: 1 },
    ],
    undecoded: 1,
  })
})

t.test('a NaN block on the real engine: the audio thread goes dry, poll() hands a typed native-bypass, the monitor makes the fault', async (t) => {
  const engine = createEngineFromProfile(profile, { heartbeatIntervalMs: 1000, startProcessed: true, doa: false })
  engine.start()
  t.teardown(() => engine.stop())
  await until(() => engine.stats().mix === 1, 3000, 'processed')
  const monitor = new NativeEventMonitor(engine.options)
  const events: EngineEvent[] = []
  const faults: Fault[] = []
  let undecoded = 0
  engine.injectNonFinite(2)
  await until(
    () => {
      const p = engine.poll()
      undecoded += p.undecoded ?? 0
      for (const ev of p.events) {
        events.push(ev)
        const f = monitor.check(ev)
        if (f) faults.push(f)
      }
      return faults.length > 0
    },
    3000,
    "a fault from the engine's events",
  )
  t.equal(undecoded, 0, 'every record the binding made decoded')
  t.match(
    events.find((e) => e.type === 'native-bypass'),
    { type: 'native-bypass', cause: 'non-finite-output', block: Number },
  )
  t.match(faults, [{ level: 'bypass', cause: 'native-non-finite-output', evidence: 'audio thread went dry: a NaN or infinity left the DSP chain' }])
})
