// The ring-out (issue 13, sixth round): at the sound check the gain goes up step by step on quiet
// pink noise, each howl the live detector finds gets a fixed notch, and the loop then takes more
// gain before it howls. Checked as an engineer would: the same room, other noise, the gain raised
// until the loudspeaker runs away, with and without the rung-out notches.

import t from 'tap'
import type { Notch } from '../../firmware/inference/feedback.ts'
import { ROOMS, rmsDb, runLoop } from '../../firmware/process/feedback-loop.ts'
import { PinkNoise, ringOut } from '../../firmware/process/feedback-ringout.ts'
import { check, programmes } from '../bench/feedback-lib.ts'

const NOISE_DB = -50

/** 4 s of pink noise at NOISE_DB (seed 99: not the ring-out's own noise). */
function noise(): Float32Array {
  const x = new Float32Array(48000 * 4)
  new PinkNoise(99).fill(x, 10 ** (NOISE_DB / 20))
  return x
}

/** The first gain (0.5 dB steps from 0 dB: the hall is stable there) at which the loudspeaker's last second is 20 dB over the noise times the gain: it howls. */
function howlsAt(room: string, notches: Notch[]): number {
  const x = noise()
  for (let g = 0; g <= 14; g += 0.5) {
    const r = runLoop(x, { gainDb: g, room: ROOMS[room]!, notches })
    if (rmsDb(r.speaker, 3, 4) > NOISE_DB + g + 20) return g
  }
  return Infinity
}

t.test('the rung-out notches raise the gain at which the hall howls on pink noise', async (t) => {
  const r = ringOut(ROOMS.hall!, { maxNotches: 8 })
  t.equal(r.notches.length, 8, `8 fixed notches at ${r.notches.map((n) => n.hz).join(', ')} Hz`)
  t.same(
    r.notches.map((n) => n.slot),
    [31, 30, 29, 28, 27, 26, 25, 24],
    'in the top slots: the live planner keeps slots 0 to 15',
  )
  t.ok(
    r.notches.every((n) => n.gainDb <= -6 && n.gainDb >= -18 && n.q >= 30 && n.q <= 120),
    'each as deep as the options allow, Q within bounds',
  )
  t.equal(r.stoppedBy, 'notches', 'stopped at the budget: the next howl had no notch left')
  t.same(ringOut(ROOMS.hall!, { maxNotches: 8 }).notches, r.notches, 'deterministic: the same room and options give the same notches')
  const without = howlsAt('hall', [])
  const withNotches = howlsAt('hall', r.notches)
  t.ok(without > 0 && Number.isFinite(without), `without notches it howls at ${without} dB (stable at 0 dB, where the scan starts)`)
  t.ok(withNotches - without >= 1.5, `with the 8 notches it howls at ${withNotches} dB: ${withNotches - without} dB more (at least 1.5)`)
  t.ok(
    r.log.some((e) => e.event === 'notch' && e.by === undefined) && r.log.some((e) => e.event === 'howl' && e.by === 'alarm'),
    'the log holds each howl (found by the fusion) and each notch',
  )
})

t.test('the stability check sees a howl that saturates the loudspeaker, which the level criterion read as stable', async (t) => {
  const x = (await programmes(t.testdir(), 12, 0, 1))[0]!.x.subarray(0, 48000 * 10)
  const run = (y: Float32Array, o: Parameters<typeof runLoop>[1]) => Promise.resolve(runLoop(y, o))
  // The small room with the live notches at +15 dB: the loop howls into the loudspeaker's tanh.
  const howl = await check(run, x, { room: 'small', suppress: true }, 15)
  t.ok(howl.level, 'the old criterion (the last 2 s within 3 dB of the programme times the gain) reads it as stable')
  t.notOk(
    howl.probe,
    `the probe: ${howl.tailDecayDb.toFixed(1)} dB of decay after the programme, ${howl.frozenDecayDb.toFixed(1)} dB with the notches frozen (at least 3 for stable)`,
  )
  t.notOk(howl.stable, 'the sixth-round check: howling')
  const calm = await check(run, x, { room: 'small', suppress: true }, -1)
  t.ok(calm.stable && calm.tailDecayDb > 20, `at -1 dB the loop is stable and the probe dies away (${calm.tailDecayDb.toFixed(0)} dB)`)
})

t.test('bad ring-out options are refused with FW_ERR_FEEDBACK_SETTINGS before anything runs', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['no notch', { maxNotches: 0 }],
    ['more than the 24 fixed notches (the live ones need slots)', { maxNotches: 25 }],
    ['a start over the target', { startDb: 6, targetDb: 3 }],
    ['a zero step', { stepDb: 0 }],
    ['a first depth deeper than the deepest', { depthDb: -20, maxDepthDb: -12 }],
    ['a Q range upside down', { qMin: 100, qMax: 50 }],
    ['an unknown option', { gain: 3 }],
    ['a number as text', { maxNotches: '8' }],
    ['a shift over 20 Hz', { shiftHz: 30 }],
  ]
  for (const [what, o] of bad) t.throws(() => ringOut(ROOMS.hall!, o), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, what)
  t.throws(() => ringOut({ ...ROOMS.hall!, absorption: 2 }), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, 'a room out of range')
})
