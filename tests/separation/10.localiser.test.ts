// The multi-source localiser (addons/src/dsp/ssl.*) and the tracker fed from it, on scenes with
// known sources: real speech (espeak-ng) from talkers in a room with first-order reflections
// (tests/separation/scene.ts), heard by the sim board's 8-mic ring (5 cm) and a 16-mic ring (10 cm).
import t from 'tap'
import { localise, trackFrames } from '../../firmware/mix/separation.ts'
import { angleDiff, scoreTracking } from '../../firmware/mix/tracker.ts'
import { renderScene, ring, TEXTS } from './scene.ts'

t.test('the localiser finds two and three fixed talkers within 5 degrees', async (t) => {
  for (const [label, geometry, talkers] of [
    ['8-mic ring, 2 talkers at 40 and 160', ring(8, 0.05), [40, 160]],
    ['16-mic ring, 3 talkers at 40, 160 and 280', ring(16, 0.1), [40, 160, 280]],
  ] as const) {
    const scene = renderScene(
      geometry,
      talkers.map((az, i) => ({ voice: ['en+m3', 'en+f3', 'en+m1'][i]!, text: TEXTS[i]!, from: az, to: az })),
      2,
    )
    const frames = localise(geometry, scene.mics).filter((f) => f.t > 0.1)
    for (const [i, az] of talkers.entries()) {
      // Share of frames with a peak within 5 degrees of this talker, and the median error there.
      const errs = frames.flatMap((f) => {
        const d = Math.min(...f.peaks.map((p) => Math.abs(angleDiff(p.azimuth, az))))
        return d <= 5 ? [d] : []
      })
      const share = errs.length / frames.length
      const median = errs.sort((a, b) => a - b)[errs.length >> 1] ?? Number.NaN
      t.comment(`${label}: talker ${i} at ${az}: found in ${(share * 100).toFixed(0)} % of frames, median error ${median.toFixed(2)} deg`)
      t.ok(share > 0.4, `${label}: talker ${i} found within 5 deg in ${(share * 100).toFixed(0)} % of frames (> 40 %)`)
      t.ok(median < 3, `${label}: talker ${i} median error ${median.toFixed(2)} < 3 deg`)
    }
    const spurious = frames.reduce((n, f) => n + f.peaks.filter((p) => talkers.every((az) => Math.abs(angleDiff(p.azimuth, az)) > 10)).length, 0)
    t.comment(`${label}: ${spurious} peaks off every talker (reflections, noise) in ${frames.length} frames`)
  }
})

t.test('the tracker keeps its ids through a crossing on the localiser output', async (t) => {
  const geometry = ring(16, 0.1)
  const seconds = 4
  const scene = renderScene(
    geometry,
    [
      { voice: 'en+m3', text: TEXTS[0]!, from: 40, to: 140 },
      { voice: 'en+f3', text: TEXTS[1]!, from: 140, to: 40 },
    ],
    seconds,
  )
  const tracked = trackFrames(localise(geometry, scene.mics))
  const f = scoreTracking(
    tracked.frames.map((x) => scene.truthAt(x.t)),
    tracked.tracks,
  )
  t.comment(
    `median error ${f.medianErrorDeg.map((e) => e.toFixed(2)).join('/')} deg, switches ${f.identitySwitches.join('/')}, missed ${f.missedFrames.join('/')} of ${f.activeFrames.join('/')}`,
  )
  for (const [i, n] of f.identitySwitches.entries()) t.ok(n <= 1, `talker ${i}: ${n} identity switches (<= 1)`)
  for (const [i, e] of f.medianErrorDeg.entries()) t.ok(e < 3, `talker ${i}: median error ${e.toFixed(2)} < 3 deg`)
  for (const [i, m] of f.missedFrames.entries()) t.ok(m < 0.25 * f.activeFrames[i]!, `talker ${i}: ${m} of ${f.activeFrames[i]} frames missed (< 25 %)`)
})
