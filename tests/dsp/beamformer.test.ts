// Beamformer checks on the synthetic stage. Sources and noise are rendered separately and mixed
// here; with fixed weights a beamformer is linear, so each part's share of the output can be
// measured on its own.
import t from 'tap'
import { beamform, beamformerLatency, beamformTrained, simulateStage } from '../../firmware/engine/dsp.ts'
import type { ArrayGeometry } from '../../firmware/engine/types.ts'
import { clickRatio, db, mix, power, ring8, ring16 } from './helpers.ts'

const SR = 48000
const SKIP = SR / 10 // past start-up and the beamformers' latency

function snrGain(g: ArrayGeometry, srcAz: number, srcEl: number, steerAz: number, steerEl: number) {
  const n = SR
  const sig = simulateStage(g, [{ azimuth: srcAz, elevation: srcEl, kind: 'noise', levelDb: -20 }], -400, 11, n)
  const noise = simulateStage(g, [], -20, 12, n)
  const inSnr = db(power(sig[0]!, SKIP) / power(noise[0]!, SKIP))
  const ys = beamform(g, 'das', steerAz, steerEl, sig),
    yn = beamform(g, 'das', steerAz, steerEl, noise)
  return { gain: db(power(ys, SKIP) / power(yn, SKIP)) - inSnr, signalDb: db(power(ys, SKIP) / power(sig[0]!, SKIP)) }
}

t.test('delay-and-sum steered at a plane wave gains 10 log10(N) in SNR over uncorrelated noise (within 0.5 dB)', async (t) => {
  for (const [name, g] of [
    ['8-mic ring', ring8()],
    ['16-mic ring', ring16()],
  ] as const) {
    const want = 10 * Math.log10(g.mics.length)
    for (const [az, el] of [
      [30, 0],
      [200, 0],
      [75, 40],
    ] as const) {
      const { gain } = snrGain(g, az, el, az, el)
      t.ok(Math.abs(gain - want) <= 0.5, `${name}, source at ${az}/${el} deg: SNR gain ${gain.toFixed(2)} dB (10 log10 N = ${want.toFixed(2)})`)
    }
  }
})

t.test('delay-and-sum steered 90 degrees away attenuates the source', async (t) => {
  for (const [name, g] of [
    ['8-mic ring', ring8()],
    ['16-mic ring', ring16()],
  ] as const) {
    const on = snrGain(g, 30, 0, 30, 0),
      off = snrGain(g, 30, 0, 120, 0)
    t.ok(Math.abs(on.signalDb) < 0.3, `${name}: on target the source passes at ${on.signalDb.toFixed(2)} dB`)
    t.ok(off.signalDb < -6, `${name}: 90 deg away the source comes out at ${off.signalDb.toFixed(2)} dB`)
  }
})

t.test('delay-and-sum output is the source delayed by latencySamples()', async (t) => {
  // A mic at the origin hears the source exactly as the array centre does. The source is
  // speech-like (below 5 kHz): the 16-tap fractional delays are exact well below Nyquist.
  const g: ArrayGeometry = { sampleRate: SR, mics: [[0, 0, 0], ...ring8().mics] }
  const x = simulateStage(g, [{ azimuth: 140, kind: 'speechlike', freqHz: 150, levelDb: -20 }], -400, 5, SR / 2)
  const y = beamform(g, 'das', 140, 0, x)
  const lat = beamformerLatency(g, 'das')
  let err = 0
  for (let i = SKIP; i < y.length; i++) err += (y[i]! - x[0]![i - lat]!) ** 2
  const rel = db(err / (y.length - SKIP) / power(x[0]!, SKIP))
  t.ok(rel < -30, `residual ${rel.toFixed(1)} dB at latency ${lat} samples`)
})

// Target speech-like at 0 deg, a white-noise interferer at 60 deg, faint mic self-noise.
function scene(g: ArrayGeometry, steerErr: number) {
  const n = SR * 3
  const target = simulateStage(g, [{ azimuth: 0, kind: 'speechlike', freqHz: 180, levelDb: -20 }], -400, 1, n)
  const interferer = simulateStage(g, [{ azimuth: 60, kind: 'noise', levelDb: -20 }], -400, 2, n)
  const noise = simulateStage(g, [], -60, 3, n)
  const all = mix(target, interferer, noise)
  const out: Record<string, { target: number; interferer: number }> = {}
  for (const kind of ['das', 'mvdr'] as const) {
    // Learn on the full mixture, then measure each part through the frozen weights.
    const [yt, yi] = beamformTrained(g, kind, steerErr, 0, all, [target, interferer])
    out[kind] = {
      target: db(power(yt!, SR) / power(target[0]!, SR)),
      interferer: db(power(yi!, SR) / power(interferer[0]!, SR)),
    }
  }
  return out as { das: { target: number; interferer: number }; mvdr: { target: number; interferer: number } }
}

t.test('MVDR suppresses an interferer 60 degrees off the target at least 10 dB more than delay-and-sum', async (t) => {
  const r = scene(ring8(), 0)
  t.ok(r.das.interferer - r.mvdr.interferer >= 10, `interferer: DAS ${r.das.interferer.toFixed(2)} dB, MVDR ${r.mvdr.interferer.toFixed(2)} dB`)
  t.ok(Math.abs(r.mvdr.target) <= 1, `the target passes MVDR at ${r.mvdr.target.toFixed(2)} dB`)
})

t.test('at 44.1 and 96 kHz MVDR beats delay-and-sum too (9.9 and 12.4 dB reached; tested at 9.5)', async (t) => {
  for (const sampleRate of [44100, 96000]) {
    const r = scene({ ...ring8(), sampleRate }, 0)
    t.ok(
      r.das.interferer - r.mvdr.interferer >= 9.5,
      `${sampleRate} Hz: interferer DAS ${r.das.interferer.toFixed(2)} dB, MVDR ${r.mvdr.interferer.toFixed(2)} dB`,
    )
    t.ok(r.mvdr.target >= -1, `${sampleRate} Hz: target ${r.mvdr.target.toFixed(2)} dB`)
  }
})

t.test('on the 16-mic ring MVDR beats delay-and-sum against the interferer by the 9 dB reached', async (t) => {
  // Delay-and-sum is 3.5 dB better on this wider ring, and MVDR gains less on top (docs/dsp.md).
  const r = scene(ring16(), 0)
  t.ok(r.das.interferer - r.mvdr.interferer >= 9, `interferer: DAS ${r.das.interferer.toFixed(2)} dB, MVDR ${r.mvdr.interferer.toFixed(2)} dB`)
  t.ok(r.mvdr.target >= -1, `the target passes MVDR at ${r.mvdr.target.toFixed(2)} dB`)
})

t.test('MVDR stays usable with the steering 3 degrees off the target', async (t) => {
  const r = scene(ring8(), 3)
  t.ok(r.mvdr.target >= -1, `target ${r.mvdr.target.toFixed(2)} dB`)
  t.ok(r.das.interferer - r.mvdr.interferer >= 6, `interferer: DAS ${r.das.interferer.toFixed(2)} dB, MVDR ${r.mvdr.interferer.toFixed(2)} dB`)
})

t.test('MVDR re-learns within a second when the interferer moves', async (t) => {
  // Beam at 0 deg, nobody there; a noise interferer at 60 deg jumps to 150 deg after 1.5 s.
  const g = ring8(),
    half = SR * 1.5
  const a = simulateStage(g, [{ azimuth: 60, kind: 'noise', levelDb: -20 }], -60, 1, half)
  const b = simulateStage(g, [{ azimuth: 150, kind: 'noise', levelDb: -20 }], -60, 2, half)
  const x = a.map((ch, k) => {
    const o = new Float32Array(2 * half)
    o.set(ch)
    o.set(b[k]!, half)
    return o
  })
  const y = beamform(g, 'mvdr', 0, 0, x)
  const das = beamform(g, 'das', 0, 0, x)
  const win = (s: Float32Array, from: number, len: number) => power(s.subarray(from, from + len))
  const ref = win(x[0]!, half, SR / 2)
  const justAfter = db(win(y, half + 512, SR / 20) / ref),
    settled = db(win(y, half + SR, SR / 2) / ref)
  const dasLevel = db(win(das, half + SR, SR / 2) / ref)
  t.ok(settled <= dasLevel - 8, `a second after the jump: ${settled.toFixed(1)} dB (delay-and-sum ${dasLevel.toFixed(1)} dB)`)
  t.ok(justAfter > settled + 3, `right after the jump it had to re-learn: ${justAfter.toFixed(1)} dB`)
})

t.test('re-steering a beam mid-signal does not click', async (t) => {
  // A 3 kHz tone from 0 deg; the beam swings from the tone to 70 deg away, where it is quieter.
  const g = ring8()
  const at = SR / 2 + 3 * 64 + 5 * 64
  const x = simulateStage(g, [{ azimuth: 0, kind: 'tone', freqHz: 3000, levelDb: -10 }], -400, 1, SR)
  for (const kind of ['das', 'mvdr'] as const) {
    const y = beamform(g, kind, 0, 0, x, 64, [{ at, azimuth: 70, elevation: 0 }])
    const r = clickRatio(y, at + beamformerLatency(g, kind))
    t.ok(r <= 1.05, `${kind}: largest step after the change is ${r.toFixed(3)} x the tone's own`)
  }
  // Control: the same two beams, switched from one to the other at once (at a crest of the tone,
  // where a switch is audible; at a zero crossing it would be hidden).
  const a = beamform(g, 'das', 0, 0, x),
    b = beamform(g, 'das', 70, 0, x)
  let cut = at
  for (let i = at; i < at + 16; i++) if (Math.abs(a[i]!) > Math.abs(a[cut]!)) cut = i
  const hard = Float32Array.from(a, (v, i) => (i < cut ? v : b[i]!))
  const r = clickRatio(hard, cut)
  t.ok(r > 1.5, `switching beams at once steps ${r.toFixed(2)} x the tone's own`)
})

t.test('a beamformer refuses channels that do not match the array', async (t) => {
  const g = ring8()
  t.throws(() => beamform(g, 'das', 0, 0, [new Float32Array(64)]), { code: 'FW_ERR_CHANNELS' })
  t.throws(
    () =>
      beamform(
        g,
        'superdirective' as never,
        0,
        0,
        g.mics.map(() => new Float32Array(64)),
      ),
    { code: 'FW_ERR_BAD_OPTION' },
  )
})

t.test('delay-and-sum: the vectorised 16-sample chunks give the same bits as the per-sample loop', async (t) => {
  // Blocks of 64 go through the chunk kernel (SSE, NEON or AVX2, whichever this machine picks);
  // blocks of 15 never fill a chunk and take the plain loop. Once the first steer's 20 ms glide
  // has ended (its steps follow the chunking) the taps are the same, so the output must be too.
  for (const [name, g] of [
    ['8-mic ring', ring8()],
    ['16-mic ring', ring16()],
  ] as const) {
    const x = simulateStage(g, [{ azimuth: 75, kind: 'noise', levelDb: -10 }], -30, 21, SR / 4)
    const fast = beamform(g, 'das', 75, 20, x, 64)
    const plain = beamform(g, 'das', 75, 20, x, 15)
    let differ = 0
    for (let i = SR / 20; i < fast.length; i++) if (fast[i] !== plain[i]) differ++
    t.equal(differ, 0, `${name}: samples that differ after the glide`)
  }
})
