// SRP-PHAT direction-of-arrival checks on the synthetic stage at 0 dB SNR (source level equal to
// each mic's own noise level).
import t from 'tap'
import { describeLayout, doa, simulateStage } from '../../firmware/engine/dsp.ts'
import type { ArrayGeometry, SimSource } from '../../firmware/engine/types.ts'
import { angleDiff, line8, median, ring8, ring16 } from './helpers.ts'

const SR = 48000

function track(g: ArrayGeometry, source: SimSource, seed: number, noiseDb = -20) {
  const x = simulateStage(g, [source], noiseDb, seed, SR)
  return doa(g, x, 1024)
}

t.test('DOA on an 8-mic ring at 0 dB SNR: median azimuth error at most 1 degree', async (t) => {
  const g = ring8()
  const errors: number[] = []
  for (const [k, az] of [20, 75, 130, 200, 250, 330].entries()) {
    const tr = track(g, { azimuth: az, kind: 'noise', levelDb: -20 }, 100 + k)
    t.ok(tr.length >= 80, `source at ${az} deg: ${tr.length} estimates in 1 s`)
    const err = median(tr.map((e) => angleDiff(e.azimuth, az)))
    errors.push(err)
    t.ok(err <= 1, `source at ${az} deg: median error ${err.toFixed(2)} deg`)
  }
  t.comment(`worst median error ${Math.max(...errors).toFixed(2)} deg over ${errors.length} azimuths`)
})

t.test('DOA on a speech-like source with the 8-mic ring: 1 degree at 20 dB SNR on all frames, at 0 dB on voiced frames', async (t) => {
  // A speech-like source is silent half the time and its energy sits low, where a 10 cm ring
  // resolves little; at 0 dB broadband SNR only its confident (voiced) frames carry direction.
  // The engine gates auto-steering the same way (doaMinConfidence, 0.2 by default).
  const g = ring8()
  for (const [k, az] of [20, 130, 250].entries()) {
    const src = { azimuth: az, kind: 'speechlike' as const, freqHz: 160, levelDb: -20 }
    const at20 = track(g, src, 300 + k, -40)
    const err20 = median(at20.map((e) => angleDiff(e.azimuth, az)))
    t.ok(err20 <= 1, `20 dB SNR, source at ${az} deg: median error ${err20.toFixed(2)} deg over all frames`)
    const voiced = track(g, src, 300 + k, -20).filter((e) => e.confidence >= 0.2)
    const err0 = median(voiced.map((e) => angleDiff(e.azimuth, az)))
    t.ok(voiced.length >= 20 && err0 <= 1, `0 dB SNR, source at ${az} deg: median error ${err0.toFixed(2)} deg over ${voiced.length} voiced frames`)
  }
})

t.test('no systematic bias: at 40 dB SNR every azimuth comes out within 0.1 degree (rings)', async (t) => {
  // Guards the lag grid and its interpolation: a bias would show as a fixed error at some angles.
  for (const [name, g] of [
    ['8-mic ring', ring8()],
    ['16-mic ring', ring16()],
  ] as const) {
    let worst = 0,
      where = 0
    for (let az = 3; az < 360; az += 23) {
      const x = simulateStage(g, [{ azimuth: az, kind: 'noise', levelDb: -20 }], -60, az, 12000)
      const err = median(doa(g, x, 1024).map((e) => angleDiff(e.azimuth, az)))
      if (err > worst) {
        worst = err
        where = az
      }
    }
    t.ok(worst <= 0.1, `${name}: worst median error ${worst.toFixed(3)} deg (at ${where} deg)`)
  }
})

t.test('the estimate follows a source that moves, within a tenth of a second', async (t) => {
  // The pair correlations are averaged over about three hops; a jump of the source from 30 to
  // 200 degrees must show within 100 ms.
  const g = ring8()
  const a = simulateStage(g, [{ azimuth: 30, kind: 'noise', levelDb: -20 }], -30, 1, SR / 2)
  const b = simulateStage(g, [{ azimuth: 200, kind: 'noise', levelDb: -20 }], -30, 2, SR / 2)
  const x = a.map((ch, k) => {
    const o = new Float32Array(SR)
    o.set(ch)
    o.set(b[k]!, SR / 2)
    return o
  })
  const tr = doa(g, x, 1024)
  const after = tr.filter((e) => e.t >= 0.6)
  t.ok(
    after.length > 30 && after.every((e) => angleDiff(e.azimuth, 200) < 2),
    `from 100 ms after the jump every estimate is within 2 deg of 200 (${after.length} estimates)`,
  )
  const before = tr.filter((e) => e.t < 0.49)
  t.ok(
    before.every((e) => angleDiff(e.azimuth, 30) < 2),
    'and before it, of 30',
  )
})

t.test('DOA on the 16-mic ring at 0 dB SNR, source above the horizon: azimuth and elevation', async (t) => {
  const g = ring16()
  for (const [az, el] of [
    [45, 0],
    [160, 30],
    [290, 15],
  ] as const) {
    const tr = track(g, { azimuth: az, elevation: el, kind: 'noise', levelDb: -20 }, 7)
    const azErr = median(tr.map((e) => angleDiff(e.azimuth, az)))
    const elErr = median(tr.map((e) => Math.abs(e.elevation - el)))
    t.ok(azErr <= 1, `source at ${az}/${el}: median azimuth error ${azErr.toFixed(2)} deg`)
    // A horizontal ring resolves elevation poorly near the horizon (cos changes slowly there).
    t.ok(elErr <= 5, `source at ${az}/${el}: median elevation error ${elErr.toFixed(2)} deg`)
  }
})

t.test('DOA on a linear array at 0 dB SNR gives the angle to its axis within 1 degree (median)', async (t) => {
  const layout = describeLayout(line8)
  t.equal(layout.shape, 'linear')
  t.same(layout.axis, [1, 0, 0], 'axis runs from mic 0 toward the last mic')
  for (const [k, angle] of [30, 60, 90, 120, 150].entries()) {
    // A source at azimuth 360 - angle is at the same angle to the axis (mirror image).
    const az = k % 2 ? 360 - angle : angle
    const tr = track(line8, { azimuth: az, kind: 'noise', levelDb: -20 }, 200 + k)
    const err = median(tr.map((e) => Math.abs(e.azimuth - angle)))
    t.ok(err <= 1, `source at ${az} deg (angle ${angle} to the axis): median error ${err.toFixed(2)} deg`)
    t.ok(
      tr.every((e) => e.elevation === 0 && e.azimuth >= 0 && e.azimuth <= 180),
      'angles in 0..180, elevation 0',
    )
  }
})

t.test('confidence is high for a clear source, low for diffuse noise, and silence gives no estimate', async (t) => {
  const g = ring8()
  const clear = track(g, { azimuth: 100, kind: 'noise', levelDb: -20 }, 1, -40)
  const diffuse = doa(g, simulateStage(g, [], -20, 2, SR), 1024)
  const cClear = median(clear.map((e) => e.confidence)),
    cDiffuse = median(diffuse.map((e) => e.confidence))
  t.ok(
    clear.every((e) => e.confidence >= 0 && e.confidence <= 1),
    'confidence within 0..1',
  )
  t.ok(cClear > 0.8, `clear source: median confidence ${cClear.toFixed(2)}`)
  t.ok(cDiffuse < 0.3 && cDiffuse < cClear / 3, `noise only: median confidence ${cDiffuse.toFixed(2)}`)
  const silent = doa(
    g,
    g.mics.map(() => new Float32Array(SR / 2)),
    1024,
  )
  t.equal(silent.length, 0, 'no estimates from digital silence')
})

t.test('the DOA track is timed at frame centres, one estimate per hop', async (t) => {
  const g = ring8()
  const tr = track(g, { azimuth: 10, kind: 'noise', levelDb: -20 }, 3)
  t.equal(tr[0]!.t, 512 / SR, 'first estimate at the centre of the first 1024-sample frame')
  t.ok(Math.abs(tr[1]!.t - tr[0]!.t - 512 / SR) < 1e-9, 'then every 512 samples')
  const x = simulateStage(g, [{ azimuth: 10, kind: 'noise', levelDb: -20 }], -20, 3, SR)
  const wide = doa(g, x, 2048, 2048)
  t.equal(wide[0]!.t, 1024 / SR, 'a 2048 frame: first estimate at 1024 samples')
  t.ok(Math.abs(wide[1]!.t - wide[0]!.t - 2048 / SR) < 1e-9, 'a hop of a whole frame: every 2048 samples')
  t.ok(median(wide.map((e) => angleDiff(e.azimuth, 10))) <= 1, 'and just as accurate')
  t.throws(() => doa(g, x, 1024, 2048), { code: 'FW_ERR_BAD_OPTION', message: /hop/ })
})
