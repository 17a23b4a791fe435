// On stage: the engine's howl records reach LiveInference on each tick; a growing line becomes a
// feedback alarm (frequency, level, growth) for the listeners and the suppressor.

import t from 'tap'
import type { FeatureFrames } from '../../firmware/engine/types.ts'
import type { FeedbackAlarm } from '../../firmware/inference/feedback.ts'
import { LiveInference } from '../../firmware/inference/live.ts'
import type { InferenceService } from '../../firmware/inference/service.ts'

function frames(howl: FeatureFrames['howl']): FeatureFrames {
  return { logMel: new Float32Array(0), logMelT: -1, vad: new Float32Array(0), vadT: -1, spectra: [], howl, dropped: 0 }
}

t.test('a growing line in the howl records raises one alarm with frequency, level and growth', async (t) => {
  const alarms: FeedbackAlarm[] = []
  const placed: FeedbackAlarm[] = []
  const live = new LiveInference({ active: () => undefined } as unknown as InferenceService, null, { onFeedback: (a) => alarms.push(a) })
  live.setFeedbackSink({ alarm: (a) => placed.push(a), observe: () => {} })
  // 40 frames (21 ms) of a 2 kHz line growing 30 dB/s from -30 dBFS, as the feature tap publishes it
  // (HOWL_FLOATS 16: the last 5, the line follower's, read "no follower").
  for (let k = 0; k < 40; k++) {
    const t = k * 0.0213
    const level = -30 + 30 * t
    live.feed(
      frames([{ output: 1, t, candidates: Float32Array.from([2000 + 0.2 * Math.sin(k), level, 30, 24, 30, 30, 1, 12 + k, 0.99, 1.5, 0, -1, 0, 0, 0, 0]) }]),
    )
  }
  t.equal(alarms.length, 1, 'one alarm')
  t.match(alarms[0], { output: 1, reason: 'growing' })
  t.ok(Math.abs(alarms[0]!.hz - 2000) < 1 && alarms[0]!.levelDb > -30 && alarms[0]!.growthDbPerS > 20, JSON.stringify(alarms[0]))
  t.same(placed, alarms, 'the suppressor got it too')
})

t.test('with the models paused by the watchdog (DEGRADED) the howl path still raises the alarm: it needs no model', async (t) => {
  const alarms: FeedbackAlarm[] = []
  const placed: FeedbackAlarm[] = []
  const live = new LiveInference({ active: () => undefined } as unknown as InferenceService, null, { onFeedback: (a) => alarms.push(a) })
  live.setFeedbackSink({ alarm: (a) => placed.push(a), observe: () => {} })
  live.setEnabled(false)
  for (let k = 0; k < 40; k++) {
    const t = k * 0.0213
    live.feed(frames([{ output: 1, t, candidates: Float32Array.from([2000, -30 + 30 * t, 30, 24, 30, 30, 1, 12 + k, 0.99, 1.5, 0, -1, 0, 0, 0, 0]) }]))
  }
  t.equal(alarms.length, 1, 'one alarm while the models are paused')
  t.same(placed, alarms, 'and the suppressor got it')
  t.equal(live.stats().vadWindows, 0, 'nothing went to the models')
})

t.test('on the unit each output has its own fusion, told its shift: a line gliding up as it grows is an alarm on the shifted output only', async (t) => {
  const alarms: FeedbackAlarm[] = []
  const live = new LiveInference({ active: () => undefined } as unknown as InferenceService, null, { onFeedback: (a) => alarms.push(a) })
  // `feedback shift 1 5`: the shift control tells live inference (FeedbackShiftControl.onShift).
  live.setShift(0, 5)
  for (let k = 0; k < 10; k++) {
    const t = k * 0.0213
    // The same gliding, growing line (150 Hz/s, 60 dB/s) on output 0 (shifted) and output 1 (not).
    const c = Float32Array.from([1000 + 150 * t, -40 + 60 * t, 60, 26, 20, 15, 1, 12, 0.99, 1, 0, -1, 0, 0, 1, 0])
    live.feed(
      frames([
        { output: 0, t, candidates: c },
        { output: 1, t, candidates: c.slice() },
      ]),
    )
  }
  t.equal(alarms.length, 1, `one alarm: ${JSON.stringify(alarms)}`)
  t.equal(alarms[0]?.output, 0, 'on the shifted output')
  t.ok((alarms[0]?.hz ?? 0) > 1002 && (alarms[0]?.hz ?? 0) < 1020, `inside the band it grew in (${alarms[0]?.hz} Hz)`)
})
