// Scenes with known sources for the localiser, tracker and separator (tests/separation,
// tests/bench/separation.bench.ts): real speech (espeak-ng, resampled by sox to 48 kHz) from
// talkers that move along the stage and pause, heard by an array in a shoebox room through the
// image-source model (Allen & Berkley) to first order: the direct path and one reflection off
// each wall and the floor, each a spherical wave (delay and 1/r) with fractional delays (cubic
// Lagrange). Also rendered: each talker's direct sound at the array's centre (the reference a
// separated stem is scored against) and the whole scene at the centre (the unprocessed input).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ArrayGeometry } from '../../firmware/engine/types.ts'
import type { TruthFrame } from '../../firmware/mix/tracker.ts'
import { readWav } from '../../firmware/wav/wav.ts'
import { rng } from '../helpers/rng.ts'

const C = 343
const FS = 48000

export interface Talker {
  /** espeak-ng voice, e.g. en+m3. */
  voice: string
  text: string
  /** Azimuth at the start and the end (degrees; moves linearly, the short way is not taken). */
  from: number
  to: number
  /** [start, end) seconds of silence. */
  pauses?: Array<[number, number]>
  /** Distance from the array centre, metres. Defaults to 2. */
  distance?: number
}

export interface Scene {
  geometry: ArrayGeometry
  mics: Float32Array[]
  /** Per talker: its direct sound at the array centre. */
  references: Float32Array[]
  /** Everything (direct, reflections, noise) at the array centre. */
  centre: Float32Array
  /** Per talker: azimuth and activity at time t (seconds). */
  truthAt(t: number): TruthFrame
  seconds: number
}

export const ring = (n: number, radius: number): ArrayGeometry => ({
  sampleRate: FS,
  mics: Array.from({ length: n }, (_, k) => {
    const a = (2 * Math.PI * k) / n
    return [radius * Math.cos(a), radius * Math.sin(a), 0] as [number, number, number]
  }),
})

const speechCache = new Map<string, Float32Array>()
let cacheDir: string | null = null

/** espeak-ng's rendering of `text`, 48 kHz float, at -26 dBFS RMS over its voiced part. */
export function speech(voice: string, text: string): Float32Array {
  const key = `${voice}\n${text}`
  const hit = speechCache.get(key)
  if (hit) return hit
  if (!cacheDir) {
    cacheDir = mkdtempSync(join(tmpdir(), 'sep-speech-'))
    process.once('exit', () => rmSync(cacheDir!, { recursive: true, force: true }))
  }
  const raw = join(cacheDir, `${speechCache.size}-raw.wav`)
  const out = join(cacheDir, `${speechCache.size}.wav`)
  execFileSync('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text])
  execFileSync('sox', [raw, '-r', '48000', '-e', 'floating-point', '-b', '32', out, 'gain', '-6'])
  const x = readWav(out).data as Float32Array
  let e = 0
  let n = 0
  for (const v of x) {
    if (Math.abs(v) <= 1e-3) continue
    e += v * v
    n++
  }
  const g = 10 ** (-26 / 20) / Math.sqrt(e / Math.max(1, n))
  const y = Float32Array.from(x, (v) => v * g)
  speechCache.set(key, y)
  return y
}

interface Room {
  size: [number, number, number]
  /** The array centre in the room. */
  centre: [number, number, number]
  /** Pressure reflection coefficient of the walls and floor. */
  beta: number
}

const ROOM: Room = { size: [10, 8, 4], centre: [5, 4, 1.5], beta: 0.6 }

/** Adds x delayed by d(i) samples and scaled by g(i) (both per sample) into out (cubic Lagrange). */
function addDelayed(out: Float32Array, x: Float32Array, delay: Float64Array, gain: Float64Array): void {
  for (let i = 0; i < out.length; i++) {
    const p = i - delay[i]!
    const k = Math.floor(p)
    if (k < 1 || k + 2 >= x.length) continue
    const f = p - k
    const xm = x[k - 1]!
    const x0 = x[k]!
    const x1 = x[k + 1]!
    const x2 = x[k + 2]!
    const v = x0 + f * (0.5 * (x1 - xm) + f * (xm - 2.5 * x0 + 2 * x1 - 0.5 * x2 + f * (0.5 * (x2 - xm) + 1.5 * (x0 - x1))))
    out[i]! += gain[i]! * v
  }
}

/**
 * Renders the scene: `seconds` long, talkers at array height, mic noise at noiseDb (dBFS RMS),
 * reflections off the four walls and the floor unless `reflections` is false.
 */
export function renderScene(
  geometry: ArrayGeometry,
  talkers: Talker[],
  seconds: number,
  opts: { noiseDb?: number; reflections?: boolean; seed?: number } = {},
): Scene {
  const len = Math.round(seconds * FS)
  const m = geometry.mics.length
  const mics = Array.from({ length: m }, () => new Float32Array(len))
  const centre = new Float32Array(len)
  const references: Float32Array[] = []
  const [L, W, H] = ROOM.size
  const [cx, cy, cz] = ROOM.centre
  const step = 64
  const azAt = (k: Talker, t: number) => k.from + ((k.to - k.from) * t) / seconds
  for (const k of talkers) {
    const dry = speech(k.voice, k.text)
    // The talker's signal with pauses cut in (20 ms ramps), as long as the scene plus the
    // longest delay.
    const pad = 4096
    const x = new Float32Array(len + pad)
    for (let i = 0; i < x.length; i++) {
      const t = (i - pad) / FS
      let g = 1
      for (const [a, b] of k.pauses ?? []) g = Math.min(g, Math.min(1, Math.max(0, Math.max(a - t, t - b) / 0.02)))
      x[i] = g * (dry[(i - pad + dry.length * 8) % dry.length] ?? 0)
    }
    const dist = k.distance ?? 2
    const pos = (t: number): [number, number, number] => {
      const a = (azAt(k, t) * Math.PI) / 180
      return [cx + dist * Math.cos(a), cy + dist * Math.sin(a), cz]
    }
    // Image sources: the talker and its mirror in each wall and the floor.
    const images: Array<{ map: (p: [number, number, number]) => [number, number, number]; g: number }> = [{ map: (p) => p, g: 1 }]
    if (opts.reflections !== false) {
      images.push(
        { map: ([x0, y, z]) => [-x0, y, z], g: ROOM.beta },
        { map: ([x0, y, z]) => [2 * L - x0, y, z], g: ROOM.beta },
        { map: ([x0, y, z]) => [x0, -y, z], g: ROOM.beta },
        { map: ([x0, y, z]) => [x0, 2 * W - y, z], g: ROOM.beta },
        { map: ([x0, y, z]) => [x0, y, -z], g: ROOM.beta },
      )
      void H
    }
    const ref = new Float32Array(len)
    const delay = new Float64Array(len)
    const gain = new Float64Array(len)
    const render = (target: Float32Array, at: [number, number, number], img: (typeof images)[number]) => {
      for (let b = 0; b < len; b += step) {
        const p = img.map(pos(b / FS))
        const d = Math.hypot(p[0] - at[0], p[1] - at[1], p[2] - at[2])
        for (let i = b; i < Math.min(len, b + step); i++) {
          delay[i] = (d / C) * FS - pad
          gain[i] = (img.g * dist) / d
        }
      }
      addDelayed(target, x, delay, gain)
    }
    for (const img of images) {
      for (let c = 0; c < m; c++) {
        const mp = geometry.mics[c]!
        render(mics[c]!, [cx + mp[0], cy + mp[1], cz + mp[2]], img)
      }
      render(centre, [cx, cy, cz], img)
    }
    render(ref, [cx, cy, cz], images[0]!)
    references.push(ref)
  }
  const r = rng(opts.seed ?? 1)
  const sigma = 10 ** ((opts.noiseDb ?? -60) / 20)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
  for (const ch of mics) for (let i = 0; i < len; i++) ch[i]! += sigma * gauss()
  for (let i = 0; i < len; i++) centre[i]! += sigma * gauss()
  return {
    geometry,
    mics,
    references,
    centre,
    seconds,
    truthAt: (t) => ({
      sources: talkers.map((k) => ({
        azimuth: ((azAt(k, t) % 360) + 360) % 360,
        active: !(k.pauses ?? []).some(([a, b]) => t >= a && t < b),
      })),
    }),
  }
}

/** Scale-invariant SDR of `est` against `ref`, dB (Le Roux et al. 2019), over samples [from, to). */
export function siSdr(est: Float32Array, ref: Float32Array, from = 0, to = Math.min(est.length, ref.length)): number {
  let dot = 0
  let rr = 0
  for (let i = from; i < to; i++) {
    dot += est[i]! * ref[i]!
    rr += ref[i]! * ref[i]!
  }
  const a = dot / rr
  let s = 0
  let e = 0
  for (let i = from; i < to; i++) {
    const t = a * ref[i]!
    s += t * t
    e += (est[i]! - t) ** 2
  }
  return 10 * Math.log10(s / e)
}

/** Pearson correlation of two signals. */
export function correlation(a: Float32Array, b: Float32Array): number {
  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    ab += a[i]! * b[i]!
    aa += a[i]! * a[i]!
    bb += b[i]! * b[i]!
  }
  return ab / Math.sqrt(aa * bb)
}

export const TEXTS = [
  'Good evening everyone, and welcome to the show. Tonight we have a wonderful programme of music and stories for you, so please sit back and enjoy it.',
  'The weather on the coast will stay cold and windy through the weekend, with heavy rain arriving from the west on Sunday afternoon and clearing by Monday.',
  'Seven brave knights rode north across the frozen river, carrying lanterns, maps and bread, searching for the old castle hidden beyond the silver mountains.',
]
