// Helpers of the separated-stem test and bench (issue 17, fourth round; docs/mixes.md): the two
// sim talkers, a UDP sink, the GStreamer decode of a captured Opus RTP stream, and the
// correlation of a decoded mix with each talker's own signal.
import { spawnSync } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { simulateStage } from '../../firmware/engine/dsp.ts'
import { fft, locate } from '../helpers/fft.ts'

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

const N = 1 << 20
// Where the array separates: below ~800 Hz the sim board's beams are too wide to tell the talkers apart.
const BAND = [800, 4000]

/** x band-limited to BAND (a zero-padded FFT, bins outside the band cleared), as long as x. */
function bandLimited(x: Float32Array): Float32Array {
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
  fft(re, im, true)
  return Float32Array.from(re.subarray(0, Math.min(x.length, N)), (v) => v / N)
}

/** The largest normalised correlation of the (band-limited) mix with the (band-limited) reference at any lag. */
export function bestCorrelation(mix: Float32Array, ref: Float32Array): number {
  return locate(bandLimited(ref), bandLimited(mix)).corr
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
