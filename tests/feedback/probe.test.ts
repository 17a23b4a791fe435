// Detection by probing (issue 13, sixth round): a probe notch on the loop's output at a candidate's
// frequency, judged on the feed before the notches. A howl grown by the loop collapses under its
// probe and is verified and held; a swelling note played through a stable loop (which the fusion
// alone alarms on) does not collapse, is released, and raises no alarm. Programme from flite and a
// synthetic note only.

import t from 'tap'
import { HowlProbe } from '../../firmware/inference/feedback-probe.ts'
import { ROOMS, rmsDb, runLoop } from '../../firmware/process/feedback-loop.ts'
import { lineLevels, strongestLine } from '../bench/feedback-lib.ts'
import { renderSpeech, TEXTS } from './programme.ts'

/** A sine at hz rising `growth` dB/s from -45 dBFS (from 0.5 s) to -12 dBFS, then held, over quiet noise: a swelling held note. */
function swellingNote(hz: number, growth: number, seconds: number): Float32Array {
  const x = new Float32Array(48000 * seconds)
  let s = 7
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const tt = i / 48000
    const lv = Math.min(-12, -45 + growth * Math.max(0, tt - 0.5))
    x[i] = 0.003 * (s / 2 ** 31 - 0.5) + (tt > 0.5 ? 10 ** (lv / 20) * Math.sin(2 * Math.PI * hz * tt) : 0)
  }
  return x
}

t.test('a howl grown by the loop collapses under its probe: verified before +6 dB over programme, and held', async (t) => {
  const dir = t.testdir()
  const speech = (await renderSpeech(dir, TEXTS.join(' '), 'slt')).subarray(0, 48000 * 6)
  const o = { gainDb: 3, room: ROOMS.hall! }
  // Where and when the howl passes +6 dB over the programme, from the same loop without suppression.
  const free = runLoop(speech, o)
  const hz = strongestLine(free.speaker.subarray(free.speaker.length - 2048))
  const lv = lineLevels(free.speaker, hz).map((l) => l - 3.01)
  let six = Infinity
  for (let k = 0; k < lv.length && six === Infinity; k++) {
    const tt = (k * 1024 + 2048) / 48000
    if (lv[k]! >= rmsDb(speech, Math.max(0, tt - 1), tt) + o.gainDb + 6) six = tt
  }
  t.ok(six < 5, `without suppression the loop howls at ${hz.toFixed(1)} Hz, +6 dB over programme at ${six.toFixed(2)} s`)

  const r = runLoop(speech, { ...o, probe: true })
  const a = r.alarms.find((al) => Math.abs(al.hz - hz) <= 20)
  t.ok(a, `an alarm at the howl (${r.alarms.map((al) => `${al.hz} Hz at ${al.t.toFixed(2)} s`).join(', ') || 'none'})`)
  t.ok(a && a.t <= six, `verified at ${a?.t.toFixed(2)} s, before +6 dB (${six.toFixed(2)} s)`)
  t.ok(
    r.probe?.verdicts.some((v) => v.outcome === 'verified' && Math.abs(v.hz - hz) <= 20),
    'by its probe: the line collapsed on the feed before the notches',
  )
  t.ok(
    r.notches.some((n) => Math.abs(n.hz - hz) <= 20),
    `the planner's notch stays (${r.notches.map((n) => `${n.hz} Hz ${n.gainDb} dB`).join(', ')})`,
  )
  const n = speech.length / 48000
  const over = rmsDb(r.speaker, n - 1, n) - (rmsDb(speech, n - 1, n) + o.gainDb)
  t.ok(over <= 3, `held: the last second is ${over.toFixed(1)} dB over the programme times the gain`)
})

t.test('a swelling note through a stable loop is probed and released: no alarm, no notch left', async (t) => {
  const note = swellingNote(733, 20, 5)
  const o = { gainDb: -6, room: ROOMS.club! }
  // The premise: to the fusion alone it looks like a howl (a straight rise at one frequency).
  t.ok(
    runLoop(note, o).alarms.some((al) => Math.abs(al.hz - 733) <= 5),
    'without the probe the fusion alarms on it',
  )
  const r = runLoop(note, { ...o, probe: true })
  t.same(
    r.alarms.map((al) => `${al.hz} Hz at ${al.t.toFixed(2)} s`),
    [],
    'no alarm',
  )
  const probed = r.probe!.verdicts.filter((v) => Math.abs(v.hz - 733) <= 5)
  t.ok(probed.length >= 1, `it was probed (${probed.length} probes)`)
  t.ok(
    probed.every((v) => v.outcome === 'released'),
    `and released (${probed.map((v) => v.outcome).join(', ')})`,
  )
  t.equal(probed.length, 1, 'once: the frequency is held off after a failed probe')
  t.same(r.notches, [], 'no notch left')
  // The probe notch came off (gain 0, disabled) within the probe's time.
  const on = r.notchChanges.find((c) => c.enabled && Math.abs(c.hz - 733) <= 5)
  const off = r.notchChanges.find((c) => !c.enabled && c.slot === on?.slot)
  t.ok(on && off && off.t - on.t <= 0.35, `the probe was on ${on && off ? ((off.t - on.t) * 1000).toFixed(0) : '?'} ms`)
})

t.test('the probe table: at most maxProbes at once, top slots, hold-off after a release, verified on a collapse', async (t) => {
  const p = new HowlProbe({ maxProbes: 2, holdOffS: 5, probeS: 0.2, collapseDb: 6, holdDownS: 0 })
  const why = { reason: 'growing' as const, growthDbPerS: 50 }
  t.same(
    p.trigger(1, 0, 500, why).map((n) => [n.slot, n.gainDb]),
    [[31, -12]],
    'first probe: slot 31, -12 dB',
  )
  t.same(
    p.trigger(1, 0, 900, why).map((n) => n.slot),
    [30],
    'second: slot 30',
  )
  t.same(p.trigger(1, 0, 1500, why), [], 'a third waits (up to 1 s): maxProbes 2')
  t.same(p.trigger(1, 0, 501, why), [], 'one probe per line')
  const levels: Record<number, number> = { 500: -20, 900: -30 }
  t.same(p.measure(1.02, (hz) => levels[hz] ?? -90).verdicts, [], 'first reading: the line before the notch acts')
  levels[500] = -27 // collapsed by 7 dB
  levels[900] = -29
  const s = p.measure(1.1, (hz) => levels[hz] ?? -90)
  t.same(
    s.verdicts.map((v) => [v.hz, v.outcome]),
    [[500, 'verified']],
    '500 Hz collapsed: verified',
  )
  t.same(
    s.alarms.map((a) => [a.hz, a.levelDb, a.growthDbPerS]),
    [[500, -20, 50]],
    'an alarm with frequency, level and growth',
  )
  t.same(
    s.notches.map((n) => [n.slot, n.hz, n.enabled]),
    [
      [31, 500, false],
      [31, 1500, true],
    ],
    'its probe notch off (the planner keeps its own), and the 1500 Hz trigger that waited takes the slot',
  )
  const r = p.measure(1.25, (hz) => levels[hz] ?? -90)
  t.same(
    r.verdicts.map((v) => [v.hz, v.outcome]),
    [[900, 'released']],
    '900 Hz did not collapse in probeS: released',
  )
  t.same(p.trigger(3, 0, 900, why), [], 'held off')
  t.equal(p.trigger(7, 0, 900, why).length, 1, 'probed again after holdOffS')
})

t.test('bad probe settings are refused with FW_ERR_FEEDBACK_SETTINGS before the loop runs', async (t) => {
  const x = new Float32Array(4800)
  for (const probe of [{ maxProbes: 0 }, { depthDb: 0 }, { probeS: 0.1, settleS: 0.2 }, { collapseDb: Number.NaN }, { looseTrigger: 'yes' }, { nope: 1 }])
    t.throws(() => runLoop(x, { gainDb: 0, room: ROOMS.small!, probe: probe as never }), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, JSON.stringify(probe))
  t.throws(() => new HowlProbe({ holdOffS: -1 }), { code: 'FW_ERR_FEEDBACK_SETTINGS' })
})
