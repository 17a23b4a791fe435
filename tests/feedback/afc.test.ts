// The adaptive feedback canceller (addons/src/dsp/afc.h) as a user of the loop would check it: open
// loop, a known path (the small room's impulse response from the loop itself) driven by white noise
// u, and a white source at the microphone not correlated with u; the canceller's estimate of the
// path comes within -20 dB of it (misalignment ||F - F^|| / ||F||). Bad settings are refused, by the
// binding (a RangeError) and by the loop's options (FW_ERR_FEEDBACK_SETTINGS, nothing run). The
// real CLI in a child process: `firmware process --loop-gain DB --afc` reports the canceller's
// settings and its final misalignment (loop.afc); --afc without --loop-gain is refused, nothing written.

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadNative } from '../../firmware/engine/native.ts'
import { FirmwareError } from '../../firmware/errors.ts'
import { misalignmentDb, ROOMS, runLoop } from '../../firmware/process/feedback-loop.ts'
import { writeWav } from '../../firmware/wav/wav.ts'
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

t.test('firmware process --loop-gain --afc: the report carries the canceller and its misalignment', async (t) => {
  const repo = join(import.meta.dirname, '..', '..')
  const firmware = (cwd: string, ...args: string[]) =>
    spawnSync(join(repo, 'node_modules', '.bin', 'node'), [join(repo, 'bin', 'firmware.js'), 'process', ...args], { cwd, encoding: 'utf8', timeout: 60_000 })
  const dir = t.testdir()
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, noise(FS * 4, 0.2, 3))
  const r = firmware(dir, '--in', 'show.wav', '--out', 'o.wav', '--report', 'r.json', '--loop-gain', '-6', '--room', 'small', '--afc')
  t.equal(r.status, 0, `runs: ${r.stderr}`)
  t.match(r.stdout, /AFC \(misalignment -?\d+\.\d dB\)/, `the summary says so: ${r.stdout.trim()}`)
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'))
  t.match(rep.loop.afc, { blockSize: 256, partitions: 48, lpcOrder: 16 }, 'the settings in loop.afc')
  t.ok(Number.isFinite(rep.loop.afc.misalignmentDb), `the final misalignment: ${rep.loop.afc.misalignmentDb} dB`)
  const bad = firmware(dir, '--in', 'show.wav', '--out', 'x.wav', '--report', 'x.json', '--afc')
  t.equal(bad.status, 1, '--afc without --loop-gain exits 1')
  t.match(bad.stderr, /FW_ERR_USAGE/, 'with the code')
  t.same(readdirSync(dir).sort(), ['o.wav', 'r.json', 'show.wav'], 'nothing more written')
})
