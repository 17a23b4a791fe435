// The adaptive feedback canceller (addons/src/dsp/afc.h) as a user of the loop would check it: open
// loop, a known path (the small room's impulse response from the loop itself) driven by white noise
// u, and a white source at the microphone not correlated with u; the canceller's estimate of the
// path comes within -20 dB of it (misalignment ||F - F^|| / ||F||). Bad settings are refused, by the
// binding (a RangeError) and by the loop's options (FW_ERR_FEEDBACK_SETTINGS, nothing run).

import t from 'tap'
import { loadNative } from '../../firmware/engine/native.ts'
import { FirmwareError } from '../../firmware/errors.ts'
import { misalignmentDb, ROOMS, runLoop } from '../../firmware/process/feedback-loop.ts'
import { fft } from '../helpers/fft.ts'

interface NativeAfc {
  run(mic: Float32Array, u: Float32Array): Float32Array
  taps(len: number): Float32Array
}
const { Afc, FeedbackLoop } = loadNative().features as {
  Afc: new (o: unknown) => NativeAfc
  FeedbackLoop: new (o: unknown) => { impulseResponse: Float32Array }
}

const FS = 48000

function noise(n: number, amp: number, seed: number): Float32Array {
  let s = seed
  const x = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647
    x[i] = amp * (s / 2147483647 - 0.5)
  }
  return x
}

t.test('a known path and a white source not correlated with u: the misalignment falls below -20 dB', async (t) => {
  const h = new FeedbackLoop({ gainDb: 0, room: { ...ROOMS.small, maxSeconds: 0.25 } }).impulseResponse
  const seconds = 30
  const n = FS * seconds
  const u = noise(n, 0.5, 1)
  const y = noise(n, 0.1, 7) // the source at the microphone
  const direct = h.findIndex((v) => v !== 0)
  // y += h * u: one 2^21-point FFT each (longer than n + the path, so the circular convolution is the linear one).
  const m = 1 << 21
  const [ur, ui, hr, hi] = [0, 0, 0, 0].map(() => new Float64Array(m)) as [Float64Array, Float64Array, Float64Array, Float64Array]
  ur.set(u)
  hr.set(h)
  fft(ur, ui)
  fft(hr, hi)
  for (let k = 0; k < m; k++) {
    const re = ur[k]! * hr[k]! - ui[k]! * hi[k]!
    ui[k] = ur[k]! * hi[k]! + ui[k]! * hr[k]!
    ur[k] = re
  }
  fft(ur, ui, true)
  for (let i = 0; i < n; i++) y[i] = y[i]! + ur[i]! / m
  const afc = new Afc({ mu: 0.1 })
  const at: number[] = []
  for (let s = 0; s < seconds; s++) {
    afc.run(y.subarray(s * FS, (s + 1) * FS), u.subarray(s * FS, (s + 1) * FS))
    at.push(misalignmentDb(h, afc.taps(h.length)))
  }
  t.ok(direct >= 256, `the path starts at lag ${direct}, inside what a 256-sample block models`)
  t.ok(at[0]! > -6, `after 1 s still ${at[0]!.toFixed(1)} dB: it learns, it was not handed the path`)
  t.ok(at[seconds - 1]! < -20, `misalignment after ${seconds} s: ${at[seconds - 1]!.toFixed(1)} dB (1 s steps: ${at.map((v) => v.toFixed(1)).join(' ')})`)
})

t.test('bad settings are refused: by the binding, and by the loop with FW_ERR_FEEDBACK_SETTINGS', async (t) => {
  for (const bad of [{ blockSize: 300 }, { blockSize: 32 }, { partitions: 0 }, { mu: 0 }, { mu: 1.5 }, { lpcOrder: 1 }, { lpcOrder: 40 }, { mu: Number.NaN }])
    t.throws(() => new Afc(bad), RangeError, `binding: ${JSON.stringify(bad)}`)
  const x = new Float32Array(FS)
  for (const bad of [{ blockSize: 300 }, { partitions: 200 }, { mu: -1 }, { lpcOrder: 1 }, { mu: Number.NaN }]) {
    try {
      runLoop(x, { gainDb: 0, room: ROOMS.club!, afc: bad })
      t.fail(`loop ran with ${JSON.stringify(bad)}`)
    } catch (e) {
      t.ok(e instanceof FirmwareError && e.code === 'FW_ERR_FEEDBACK_SETTINGS', `loop: ${JSON.stringify(bad)}: ${(e as Error).message}`)
    }
  }
})
