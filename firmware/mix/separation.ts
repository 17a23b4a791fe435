// Sources to mix from (issue 17 item 1): the multi-source localiser (SRP-PHAT, up to four peaks a
// frame, addons/src/dsp/ssl.*), the tracker fed from it (tracker.ts), and a beam + post-filter per
// tracked source (addons/src/sep/beam_separator.*). Policy here (options checked and defaulted,
// tracks summarised for the report, a stem per track id); the addon does the DSP.
import { validateGeometry } from '../engine/geometry.ts'
import { loadNative } from '../engine/native.ts'
import type { ArrayGeometry } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'
import { SourceTracker, type Track, type TrackerOptions } from './tracker.ts'

export interface LocaliserOptions {
  /** Analysis frame, a power of two 256..8192. Defaults to 1024. */
  frameSize: number
  /** Samples between frames, 1..frameSize. Defaults to frameSize / 2. */
  hop: number
  /** Peaks per frame, 1..4. Defaults to 4. */
  maxSources: number
  /** A peak's energy (mean PHAT pair correlation at it, 0..1) below this is dropped. Defaults to 0.05 (noise peaks sit at 0.02-0.04). */
  minEnergy: number
  /** ...or below this fraction of the frame's strongest peak. Defaults to 0.1. */
  relEnergy: number
  /** One-pole average of the pair correlations across frames, 0..0.95. Defaults to 0.5. */
  smoothing: number
}

export interface SeparatorOptions {
  /** STFT frame, a power of two 256..8192 (hop: half of it). Defaults to 1024. */
  frameSize: number
  /** Sharpness g of the post-filter's mask P_j^g / sum P_i^g, 0 (off: gain 1/J everywhere) to 4. Defaults to 2. */
  sharpness: number
  /** Smallest gain of the mask, 0..1 (1: no post-filter, the plain delay-and-sum beam). Defaults to 0.05. */
  floor: number
  /** Smoothing of the beam powers across frames, 0..0.95. Defaults to 0.5. */
  smoothing: number
}

export interface Peak {
  azimuth: number
  elevation: number
  energy: number
}

export interface LocaliserFrame {
  /** Frame centre, seconds from the start of the channels. */
  t: number
  peaks: Peak[]
}

/** A tracked source over a whole recording, as the offline report gives it. */
export interface TrackSummary {
  id: number
  /** First and last frame the track was confirmed, seconds. */
  start: number
  end: number
  /** [t, azimuth] pairs, seconds and degrees, decimated to at most `perSecond` a second. */
  azimuth: Array<[number, number]>
}

export interface TrackedScene {
  frames: LocaliserFrame[]
  /** Per localiser frame, the confirmed tracks after it. */
  tracks: Track[][]
  summary: TrackSummary[]
}

interface NativeSep {
  localise(g: ArrayGeometry, ch: Float32Array[], o: LocaliserOptions): { hop: number; frameSize: number; frames: Float64Array[] }
  separate(
    g: ArrayGeometry,
    ch: Float32Array[],
    o: SeparatorOptions & { sources: number },
    directions: Float64Array,
  ): { stems: Float32Array[]; beams: Float32Array[]; residual: Float32Array; latency: number; hop: number }
}

const OPTION = checker('FW_ERR_BAD_OPTION', (field, complaint) => `${field} ${complaint}`)

function native(): NativeSep {
  const s = loadNative().sep as NativeSep | undefined
  if (!s) throw new FirmwareError('FW_ERR_ENGINE', 'the native engine has no separation module; rebuild it with "npm run build:addon"')
  return s
}

function powerOfTwo(v: unknown, field: string): number {
  const n = wholeNumberIn(OPTION, v, field, 256, 8192)
  if ((n & (n - 1)) !== 0) throw new FirmwareError('FW_ERR_BAD_OPTION', `${field} must be a power of two from 256 to 8192, got ${n}`)
  return n
}

function channelsFor(g: ArrayGeometry, ch: Float32Array[]): Float32Array[] {
  if (!Array.isArray(ch) || ch.length !== g.mics.length || !ch.every((c) => c instanceof Float32Array && c.length === ch[0]!.length)) {
    throw new FirmwareError('FW_ERR_CHANNELS', `the array has ${g.mics.length} mics: give one Float32Array per mic, all of one length`)
  }
  return ch
}

export function resolveLocaliser(o: Partial<LocaliserOptions> = {}): LocaliserOptions {
  const frameSize = powerOfTwo(o.frameSize ?? 1024, 'frameSize')
  return {
    frameSize,
    hop: wholeNumberIn(OPTION, o.hop ?? frameSize / 2, 'hop', 1, frameSize),
    maxSources: wholeNumberIn(OPTION, o.maxSources ?? 4, 'maxSources', 1, 4),
    minEnergy: numberIn(OPTION, o.minEnergy ?? 0.05, 'minEnergy', { min: 0, max: 1 }),
    relEnergy: numberIn(OPTION, o.relEnergy ?? 0.1, 'relEnergy', { min: 0, max: 1 }),
    smoothing: numberIn(OPTION, o.smoothing ?? 0.5, 'smoothing', { min: 0, max: 0.95 }),
  }
}

export function resolveSeparator(o: Partial<SeparatorOptions> = {}): SeparatorOptions {
  return {
    frameSize: powerOfTwo(o.frameSize ?? 1024, 'frameSize'),
    sharpness: numberIn(OPTION, o.sharpness ?? 2, 'sharpness', { min: 0, max: 4 }),
    floor: numberIn(OPTION, o.floor ?? 0.05, 'floor', { min: 0, max: 1 }),
    smoothing: numberIn(OPTION, o.smoothing ?? 0.5, 'smoothing', { min: 0, max: 0.95 }),
  }
}

/** Up to maxSources directions per frame, strongest first; silent frames have none. */
export function localise(geometry: ArrayGeometry, channels: Float32Array[], options: Partial<LocaliserOptions> = {}): LocaliserFrame[] {
  const g = validateGeometry(geometry)
  const o = resolveLocaliser(options)
  const r = native().localise(g, channelsFor(g, channels), o)
  return r.frames.map((f, i) => {
    const peaks: Peak[] = []
    for (let k = 0; k + 2 < f.length; k += 3) peaks.push({ azimuth: f[k]!, elevation: f[k + 1]!, energy: f[k + 2]! })
    return { t: (r.frameSize / 2 + i * r.hop) / g.sampleRate, peaks }
  })
}

/** The tracker over the localiser's frames, and each track's life and path for the report. */
export function trackFrames(frames: LocaliserFrame[], options: Partial<TrackerOptions> = {}, perSecond = 10): TrackedScene {
  const tracker = new SourceTracker(options)
  const tracks = frames.map((f) => tracker.update(f.peaks.map((p) => p.azimuth)))
  const byId = new Map<number, TrackSummary>()
  const lastKept = new Map<number, number>()
  tracks.forEach((list, i) => {
    const t = frames[i]!.t
    for (const tr of list) {
      let s = byId.get(tr.id)
      if (!s) {
        s = { id: tr.id, start: t, end: t, azimuth: [] }
        byId.set(tr.id, s)
      }
      s.end = t
      if (t - (lastKept.get(tr.id) ?? Number.NEGATIVE_INFINITY) >= 1 / perSecond - 1e-9) {
        s.azimuth.push([round(t, 3), round(tr.azimuth, 1)])
        lastKept.set(tr.id, t)
      }
    }
  })
  return { frames, tracks, summary: [...byId.values()].sort((a, b) => a.id - b.id) }
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d

export interface SeparatedTracks {
  /** Per track id (in summary order): the post-filtered beam, aligned with the input. */
  stems: Map<number, Float32Array>
  /** The same tracks' plain delay-and-sum beams (for comparison). */
  beams: Map<number, Float32Array>
  /** The mic average minus the sum of the stems. */
  residual: Float32Array
}

/**
 * A beam + post-filter per track, steered along its path; a track's stem is silent outside its
 * life. At most four tracks at a time share the beams (slots), so a run may have more track ids.
 */
export function separateTracks(
  geometry: ArrayGeometry,
  channels: Float32Array[],
  scene: TrackedScene,
  options: Partial<SeparatorOptions> = {},
): SeparatedTracks {
  const g = validateGeometry(geometry)
  const o = resolveSeparator(options)
  const ch = channelsFor(g, channels)
  const len = ch[0]?.length ?? 0
  const hop = o.frameSize / 2
  const slots = 4
  const hops = Math.ceil(len / hop) + 2
  const dirs = new Float64Array(hops * slots * 2).fill(Number.NaN)
  // Slot of each track id, given at its first frame and kept to its end.
  const slotOf = new Map<number, number>()
  const owner: Array<number | null> = new Array(slots).fill(null)
  const ends = new Map(scene.summary.map((s) => [s.id, s.end]))
  const frameAt = (t: number) => {
    const f = scene.frames
    if (f.length === 0) return -1
    const step = f.length > 1 ? f[1]!.t - f[0]!.t : 1
    return Math.max(0, Math.min(f.length - 1, Math.round((t - f[0]!.t) / step)))
  }
  // Per slot and hop: the track id the hop's output belongs to.
  const hopOwner: Array<Int32Array> = Array.from({ length: slots }, () => new Int32Array(hops).fill(-1))
  for (let h = 0; h < hops; h++) {
    // Hop h is the frame over [(h + 1) hop - frameSize, (h + 1) hop).
    const t = ((h + 1) * hop - o.frameSize / 2) / g.sampleRate
    const fi = frameAt(t)
    const list = fi >= 0 ? scene.tracks[fi]! : []
    for (let s = 0; s < slots; s++) {
      const id = owner[s] ?? null
      if (id !== null && !list.some((tr) => tr.id === id) && t > (ends.get(id) ?? 0)) owner[s] = null
    }
    for (const tr of list) {
      if (slotOf.has(tr.id) && owner[slotOf.get(tr.id)!] === tr.id) continue
      const free = owner.indexOf(null)
      if (free < 0) continue
      owner[free] = tr.id
      slotOf.set(tr.id, free)
    }
    for (let s = 0; s < slots; s++) {
      const id = owner[s] ?? null
      const tr = id === null ? undefined : list.find((x) => x.id === id)
      if (!tr) continue
      dirs[(h * slots + s) * 2] = tr.azimuth
      dirs[(h * slots + s) * 2 + 1] = 0
      hopOwner[s]![h] = id!
    }
  }
  const r = native().separate(g, ch, { ...o, sources: slots }, dirs)
  const stems = new Map<number, Float32Array>()
  const beams = new Map<number, Float32Array>()
  for (const s of scene.summary) {
    stems.set(s.id, new Float32Array(len))
    beams.set(s.id, new Float32Array(len))
  }
  // Output sample i + latency is input sample i; a hop's output spans the frame it was made from.
  // The outputs run `latency` samples past the input (the tail flushed with silence).
  for (let s = 0; s < slots; s++) {
    const so = r.stems[s]!
    const bo = r.beams[s]!
    for (let i = 0; i < len; i++) {
      // The hop whose frame is centred nearest sample i.
      const h = Math.round((i + o.frameSize / 2) / hop) - 1
      const id = hopOwner[s]![Math.max(0, Math.min(hops - 1, h))]!
      if (id < 0) continue
      stems.get(id)![i] = so[i + r.latency]!
      beams.get(id)![i] = bo[i + r.latency]!
    }
  }
  const residual = r.residual.slice(r.latency, r.latency + len)
  return { stems, beams, residual }
}
