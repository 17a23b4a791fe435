// Issue 13, item 3 "on the sim board": the appliance as `firmware run` starts it, on the sim board
// with a feedback loop in its stage (audio.sim.loop: output 1 back into the array through the club
// room, addons/src/dsp/room_path.h). The loop is the engine's own chain, so what is tested is the
// unit's suppressor: the engine's howl detector, LiveInference's fusion, the FeedbackSuppressor in
// the automation's mode and the notches through the engine's command ring.

import t from 'tap'
import type { InferenceReport } from '../../firmware/contract/appliance.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { eventually } from '../mix/unit.ts'
import { out1, unitWithLoop } from './sim-unit.ts'

/** The fader step that takes the loop over its edge (the loop is built at 0 dB: the engine's beam holds it just under). */
const RAISE_DB = 5

t.test("advisory: the engineer pushes output 1 over the loop's edge; the unit howls, raises the alarm and places nothing", async (t) => {
  const { app, inf, reports } = await unitWithLoop(t, 'advisory', 500)
  t.ok(await eventually(() => app.status().state === 'ACTIVE', 30_000), 'ACTIVE')
  const before = await out1(app, 1000)
  app.setOutputGain(0, RAISE_DB, 'test')
  t.ok(await eventually(() => reports.some((r) => r.kind === 'howl' && r.output === 1), 15_000), 'a howl alarm for output 1')
  const howl = reports.find((r) => r.kind === 'howl' && r.output === 1) as Extract<InferenceReport, { kind: 'howl' }>
  t.ok(howl.hz > 100 && howl.hz < 8000, `at ${howl.hz} Hz, inside the PA's band`)
  await new Promise((r) => setTimeout(r, 2000))
  const after = await out1(app, 2000)
  t.ok(after > -6, `output 1 howls: median ${after.toFixed(1)} dBFS (the programme was ${before.toFixed(1)} dBFS before the fader went up ${RAISE_DB} dB)`)
  t.same(inf.feedback.notches(), [], 'advisory: no notch placed')
  t.ok(
    inf.feedback.pending().some((q) => q.alarm.output === 1),
    'a proposal waits for the engineer',
  )
})

t.test('auto, with the unit DEGRADED (too warm): the suppressor still notches the howl and output 1 stays near the programme', async (t) => {
  const { app, inf, reports } = await unitWithLoop(t, 'auto', 500)
  t.ok(await eventually(() => app.status().state === 'ACTIVE', 30_000), 'ACTIVE')
  // Over the board's warning temperature: DEGRADED for as long as it stays warm, the models paused.
  app.setSimTemperature('cpu', 90)
  t.ok(await eventually(() => app.status().state === 'DEGRADED', 5000), `DEGRADED (${app.faults(1)[0]?.cause})`)
  t.equal(app.inferenceEnabled, false, 'inference paused')
  app.setOutputGain(0, RAISE_DB, 'test')
  t.ok(await eventually(() => inf.feedback.notches().some((n) => n.output === 0 && n.enabled), 15_000), 'a notch placed on output 1')
  t.ok(await eventually(() => reports.some((r) => r.kind === 'notches' && r.output === 1 && r.notches.length > 0), 5000), 'published as a notches event')
  await new Promise((r) => setTimeout(r, 3000))
  const held = await out1(app, 3000)
  t.ok(held < -8, `output 1 held: median ${held.toFixed(1)} dBFS over 3 s (howling it reads -6 to 0)`)
  t.equal(app.status().state, 'DEGRADED', 'and the unit was DEGRADED throughout')
  const n = inf.feedback.notches().filter((x) => x.output === 0 && x.enabled)
  t.ok(
    n.every((x) => x.hz > 50 && x.hz < 20000 && x.gainDb < 0),
    `${n.length} notches: ${n.map((x) => `${x.hz} Hz ${x.gainDb} dB`).join(', ')}`,
  )
})

t.test('a bad sim loop is refused with the field named, before the engine starts', async (t) => {
  t.throws(() => new Engine({ sim: { loop: { output: 9, gainDb: 0, room: 'club' } }, outputs: 4 }), { code: 'FW_ERR_BAD_OPTION', message: /sim\.loop\.output/ })
  t.throws(() => new Engine({ sim: { loop: { output: 1, gainDb: 0, room: 'attic' } } }), { code: 'FW_ERR_BAD_OPTION', message: /sim\.loop\.room/ })
  t.throws(() => new Engine({ sim: { loop: { output: 1, inputs: [0], gainDb: 0, room: 'club' } } }), {
    code: 'FW_ERR_BAD_OPTION',
    message: /sim\.loop\.inputs\[0\]/,
  })
  // A room whose loudspeaker stands closer to the microphone than one block of sound travels.
  const e = new Engine({
    blockSize: 512,
    sim: { loop: { output: 1, gainDb: 0, room: { size: [5, 4, 3], absorption: 0.3, speaker: [1, 1, 1], mic: [1.5, 1, 1] } } },
  })
  t.throws(() => e.start(), { message: /direct path .* shorter than a block/ })
})
