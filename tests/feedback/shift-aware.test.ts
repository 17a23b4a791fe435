// Notches that work with the frequency shift (issue 13, fifth round): with a shift df on the
// output, a howl rises by df every loop round trip and re-forms below the loop's peak, so the
// fusion (told the shift: HowlFusionOptions.shiftHz) accepts a line that glides upward and places
// the notch in the middle of the band it grew in. The loop case is the simulated acoustic loop
// (the club, flite speech) at a gain where the shift alone howls.

import t from 'tap'
import { loadNative } from '../../firmware/engine/native.ts'
import { type HowlCandidate, HowlFusion, SHIFTED_HOWL_THRESHOLDS } from '../../firmware/inference/feedback.ts'
import { ROOMS, rmsDb, runLoop } from '../../firmware/process/feedback-loop.ts'
import { renderSpeech, TEXTS } from './programme.ts'

/** A candidate of a clean line: high PAPR, nothing swelling with it. */
function line(hz: number, levelDb: number, growthDbPerS: number): HowlCandidate {
  return {
    hz,
    levelDb,
    growthDbPerS,
    paprDb: 26,
    phprDb: 20,
    pnprDb: 15,
    ipmp: 1,
    ageFrames: 12,
    fitR2: 0.99,
    maxStepDb: 1,
    harmonicGrowthDbPerS: 0,
    lineHowl: -1,
    lineGrowthDbPerS: 0,
    lineResidualDb: 0,
    lineBend: 1,
    lineHzStd: 0,
  }
}

t.test('a line gliding up 150 Hz/s as it grows is a howl when the fusion knows the shift (5 Hz), at the middle of its glide', async (t) => {
  const feed = (f: HowlFusion) => {
    const alarms = []
    for (let i = 0; i < 10; i++) {
      const tt = i * 0.0213
      alarms.push(...f.push(tt, 0, [line(1000 + 150 * tt, -40 + 60 * tt, 60)]))
    }
    return alarms
  }
  t.same(feed(new HowlFusion()), [], 'without the shift a gliding line is not a steady howl: no alarm')
  const a = feed(new HowlFusion({ shiftHz: 5 }))
  t.equal(a.length, 1, 'told the shift: one alarm')
  t.equal(a[0]?.reason, 'growing', 'a growing howl')
  const hz = a[0]?.hz ?? 0
  t.ok(hz > 1002 && hz < 1020, `placed inside the band it grew in (${hz} Hz; 1000 to 1029 Hz)`)
  t.same(feed(new HowlFusion({ shiftHz: 0.1 })), [], 'a glide far faster than the shift allows (0.1 Hz over 5 ms at most: 20 Hz/s) is not taken')
})

t.test('with a 5 Hz shift, notches stop the club loop at a gain where the shift alone howls', async (t) => {
  const dir = t.testdir()
  const x = (await renderSpeech(dir, TEXTS.join(' '), 'slt')).subarray(0, 48000 * 10)
  const g = 7
  const room = ROOMS.club!
  const last = (r: { speaker: Float32Array }) => rmsDb(r.speaker, 8, 10)
  const programme = rmsDb(x, 8, 10) + g
  const alone = runLoop(x, { gainDb: g, room, shiftHz: 5 })
  t.ok(last(alone) > programme + 3, `the shift alone howls (last 2 s ${last(alone).toFixed(1)} dBFS, programme x gain ${programme.toFixed(1)})`)
  const blind = runLoop(x, { gainDb: g, room, shiftHz: 5, suppress: true, fusion: { shiftHz: 0 } })
  t.ok(last(blind) > programme + 3, `notches with a fusion blind to the shift: still howls (${last(blind).toFixed(1)} dBFS, ${blind.notches.length} notches)`)
  const aware = runLoop(x, { gainDb: g, room, shiftHz: 5, suppress: true })
  t.ok(last(aware) <= programme + 3, `notches with the shift-aware fusion: stable (${last(aware).toFixed(1)} dBFS)`)
  t.ok(aware.notches.length >= 1, `${aware.notches.length} notches at ${aware.notches.map((n) => n.hz).join(', ')} Hz`)
})

t.test('the offline loop and the engine read a shifted output with the same PNPR threshold', async (t) => {
  const native = (loadNative().features as { shiftedPnprDb: number }).shiftedPnprDb
  t.equal(SHIFTED_HOWL_THRESHOLDS.pnprDb, native, `SHIFTED_HOWL_THRESHOLDS.pnprDb ${SHIFTED_HOWL_THRESHOLDS.pnprDb} = the engine's kShiftedPnprDb ${native}`)
})
