// Helpers of the separated-stem test and bench (issue 17, fourth round; docs/mixes.md): the two
// sim talkers, a UDP sink, the GStreamer decode of a captured Opus RTP stream, and the
// correlation of a decoded mix with each talker's own signal.
import { spawnSync } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { simulateStage } from '../../firmware/engine/dsp.ts'

/** Two speech-like talkers: A (220 Hz) at 60 degrees, B (150 Hz) at 200 degrees. */
export const TALKERS = [
  { azimuth: 60, freqHz: 220, levelDb: -20 },
  { azimuth: 200, freqHz: 150, levelDb: -22 },
]
export const FS = 48000

/** A UDP sink on an ephemeral port that keeps the datagrams while `recording`. */
export async function sink(): Promise<{ sock: Socket; port: number; packets: Buffer[]; recording: boolean }> {
  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  const s = { sock, port: sock.address().port, packets: [] as Buffer[], recording: false }
  sock.on('message', (m) => s.recording && s.packets.push(m))
  return s
}

/** The captured RTP packets decoded by GStreamer: the left channel, float. */
export function decode(dir: string, name: string, packets: Buffer[]): Float32Array {
  const framed = join(dir, `${name}.rtpstream`)
  const raw = join(dir, `${name}.f32`)
  writeFileSync(
    framed,
    Buffer.concat(
      packets.flatMap((p) => {
        const len = Buffer.alloc(2)
        len.writeUInt16BE(p.length)
        return [len, p]
      }),
    ),
  )
  const caps = 'application/x-rtp-stream,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111'
  const r = spawnSync(
    'gst-launch-1.0',
    ['-q', 'filesrc', `location=${framed}`, '!', caps, '!', 'rtpstreamdepay', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!'].concat([
      'audio/x-raw,format=F32LE,channels=2,rate=48000',
      '!',
      'filesink',
      `location=${raw}`,
    ]),
    { encoding: 'utf8', timeout: 20_000 },
  )
  if (r.status !== 0) throw new Error(`gst-launch-1.0 failed: ${r.stderr}`)
  const b = readFileSync(raw)
  const all = new Float32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4))
  return all.filter((_, i) => i % 2 === 0)
}

/** In-place radix-2 FFT (inverse: conjugate twiddles, no scaling). */
function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1
    for (; j & bit; bit >>= 1) j ^= bit
    j ^= bit
    if (i < j) {
      ;[re[i], re[j]] = [re[j]!, re[i]!]
      ;[im[i], im[j]] = [im[j]!, im[i]!]
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len
    const wr = Math.cos(ang)
    const wi = Math.sin(ang)
    for (let i = 0; i < n; i += len) {
      let cr = 1
      let ci = 0
      for (let k = 0; k < len / 2; k++) {
        const a = i + k
        const b = a + len / 2
        const xr = re[b]! * cr - im[b]! * ci
        const xi = re[b]! * ci + im[b]! * cr
        re[b] = re[a]! - xr
        im[b] = im[a]! - xi
        re[a] = re[a]! + xr
        im[a] = im[a]! + xi
        const t = cr * wr - ci * wi
        ci = cr * wi + ci * wr
        cr = t
      }
    }
  }
}

const N = 1 << 20
// Where the array separates: below ~800 Hz the sim board's beams are too wide to tell the talkers apart.
const BAND = [800, 4000]

/** x zero-padded to N, band-limited to BAND, as a spectrum. */
function spectrum(x: Float32Array): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(N)
  const im = new Float64Array(N)
  re.set(x.subarray(0, N))
  fft(re, im)
  for (let k = 0; k < N; k++) {
    const f = (Math.min(k, N - k) * FS) / N
    if (f < BAND[0]! || f > BAND[1]!) {
      re[k] = 0
      im[k] = 0
    }
  }
  return { re, im }
}

/** The largest normalised correlation of the (band-limited) mix with the (band-limited) reference at any lag. */
export function bestCorrelation(mix: Float32Array, ref: Float32Array): number {
  const m = spectrum(mix)
  const r = spectrum(ref)
  // Band-limited signals back in time, for their energies.
  const mt = { re: Float64Array.from(m.re), im: Float64Array.from(m.im) }
  const rt = { re: Float64Array.from(r.re), im: Float64Array.from(r.im) }
  fft(mt.re, mt.im, true)
  fft(rt.re, rt.im, true)
  let mixEnergy = 0
  for (let i = 0; i < mix.length; i++) mixEnergy += (mt.re[i]! / N) ** 2
  const prefix = new Float64Array(N + 1)
  for (let i = 0; i < N; i++) prefix[i + 1] = prefix[i]! + (rt.re[i]! / N) ** 2
  // Cross-correlation: ref at lag L against mix, c[L] = sum mix[i] ref[i + L].
  const re = new Float64Array(N)
  const im = new Float64Array(N)
  for (let k = 0; k < N; k++) {
    re[k] = r.re[k]! * m.re[k]! + r.im[k]! * m.im[k]!
    im[k] = r.im[k]! * m.re[k]! - r.re[k]! * m.im[k]!
  }
  fft(re, im, true)
  let best = 0
  for (let lag = 0; lag + mix.length <= ref.length; lag++) {
    const refEnergy = prefix[lag + mix.length]! - prefix[lag]!
    if (refEnergy <= 0) continue
    best = Math.max(best, re[lag]! / N / Math.sqrt(mixEnergy * refEnergy))
  }
  return best
}

/** Each talker's own signal at the array's centre from the engine's start (the sim is deterministic). */
export const references = (seconds: number) =>
  TALKERS.map(
    (s) =>
      simulateStage(
        {
          sampleRate: FS,
          mics: [
            [0, 0, 0],
            [0.001, 0, 0],
          ],
        },
        [{ ...s, elevation: 0, kind: 'speechlike' }],
        -400,
        1,
        seconds * FS,
      )[0]!,
  )
