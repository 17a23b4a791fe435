// Mix profiles: named recipes a listener can choose among, once the operator publishes them.
// A profile says, per source (an engine output: a beam or a line channel), a gain in dB and a
// pan, a gain for the bed (the mean of the inputs: the room and the band as the array hears
// them), and a gentle compressor. Everything is checked here (FW_ERR_MIX_PROFILE names the field
// and what was there); the addon gets linear gains it only re-checks for type.
import { FirmwareError } from '../errors.ts'
import { checker, numberIn, oneOf, record, text } from '../validate.ts'

/** Sources a profile can name: the engine's first 8 outputs (addons/src/mix/tap.h). */
export const MIX_SOURCES = 8
/** A gain at or below this is "off" (the source is left out). */
export const MIX_OFF_DB = -60

export interface MixSource {
  /** Engine output index, 0..7. */
  output: number
  /** dB, -60 (off) .. +12. */
  gainDb: number
  /** -1 left .. +1 right. Defaults to 0. */
  pan: number
}

export interface MixCompressor {
  /** dBFS, -40..0. Defaults to -18. */
  thresholdDb: number
  /** 1..4 (gentle: never a limiter). Defaults to 2. */
  ratio: number
  /** dB, 0..12. Defaults to 0. */
  makeupDb: number
}

/** A tracked talker mixed in (issue 17): the post-filtered stem the streamer's separator steers at the track. */
export interface MixTrackSource {
  /** `track:N`: the track with this id. */
  track: number | null
  /** `track:nearest:AZ`: the confirmed track nearest this azimuth, degrees 0..360. */
  nearestDeg: number | null
  /** dB, -60 (off) .. +12. */
  gainDb: number
  /** -1 left .. +1 right. Defaults to 0. */
  pan: number
}

/** Tracked sources one profile, and all published profiles together, may mix (addons/src/mix/render.h kMaxStems). */
export const MIX_TRACKS = 4

export interface MixProfile {
  /** 1..32 characters: letters, digits, '-' and '_'. */
  name: string
  /** What a listener reads when choosing, up to 120 characters. */
  description: string
  sources: MixSource[]
  /** dB, -60 (off) .. +6. */
  bedDb: number
  /** Absent: no compressor. */
  compressor: MixCompressor | null
  /** Tracked talkers mixed in; absent or empty: none. Publishing never moves an engine beam. */
  tracks?: MixTrackSource[]
}

/** `track:N@DB` or `track:nearest:AZ@DB` (comma-separated, or `none`) as the profile's tracked sources. */
export function parseTracks(spec: string): MixTrackSource[] {
  if (spec === 'none') return []
  return spec.split(',').map((item) => {
    const m = /^track:(?:([1-9]\d{0,8})|nearest:(\d{1,3}(?:\.\d+)?))@([+-]?\d{1,2}(?:\.\d+)?)$/.exec(item)
    if (!m || (m[2] !== undefined && Number(m[2]) > 360))
      throw new FirmwareError(
        'FW_ERR_MIX_PROFILE',
        `mix profile tracks: each must be track:N@DB or track:nearest:AZ@DB (AZ 0..360), or none, got ${JSON.stringify(item)}`,
      )
    return { track: m[1] ? Number(m[1]) : null, nearestDeg: m[2] !== undefined ? Number(m[2]) : null, gainDb: Number(m[3]), pan: 0 }
  })
}

/** Which track a tracked source names, as the commands write it (also its separator slot's key). */
export const trackKey = (t: { track: number | null; nearestDeg: number | null }): string =>
  t.track !== null ? `track:${t.track}` : `track:nearest:${t.nearestDeg}`

const c = checker('FW_ERR_MIX_PROFILE', (f, m) => `mix profile ${f}: ${m}`)
const NAME = /^[A-Za-z0-9_-]{1,32}$/

/** Checks a profile from outside (a command, the store); throws FW_ERR_MIX_PROFILE naming the field. */
export function validateProfile(v: unknown): MixProfile {
  const o = record(c, v, 'profile')
  const name = text(c, o.name, 'name')
  if (!NAME.test(name))
    throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile name: must be 1..32 letters, digits, '-' or '_', got ${JSON.stringify(name)}`)
  const description = o.description === undefined || o.description === '' ? '' : text(c, o.description, 'description')
  if (description.length > 120)
    throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile description: must be at most 120 characters, got ${description.length}`)
  if (!Array.isArray(o.sources)) throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile sources: must be an array, got ${JSON.stringify(o.sources)}`)
  const seen = new Set<number>()
  const sources = o.sources.map((s, i): MixSource => {
    const so = record(c, s, `sources[${i}]`)
    const output = numberIn(c, so.output, `sources[${i}].output`, { min: 0, max: MIX_SOURCES - 1, integer: true })
    if (seen.has(output)) throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile sources[${i}].output: output ${output} is named twice`)
    seen.add(output)
    return {
      output,
      gainDb: numberIn(c, so.gainDb, `sources[${i}].gainDb`, { min: MIX_OFF_DB, max: 12 }),
      pan: so.pan === undefined ? 0 : numberIn(c, so.pan, `sources[${i}].pan`, { min: -1, max: 1 }),
    }
  })
  const bedDb = o.bedDb === undefined ? MIX_OFF_DB : numberIn(c, o.bedDb, 'bedDb', { min: MIX_OFF_DB, max: 6 })
  if (sources.length === 0 && bedDb <= MIX_OFF_DB && !(Array.isArray(o.tracks) && o.tracks.length > 0))
    throw new FirmwareError('FW_ERR_MIX_PROFILE', 'mix profile sources: a profile needs at least one source or the bed')
  let compressor: MixCompressor | null = null
  if (o.compressor !== undefined && o.compressor !== null) {
    const co = record(c, o.compressor, 'compressor')
    compressor = {
      thresholdDb: co.thresholdDb === undefined ? -18 : numberIn(c, co.thresholdDb, 'compressor.thresholdDb', { min: -40, max: 0 }),
      ratio: co.ratio === undefined ? 2 : numberIn(c, co.ratio, 'compressor.ratio', { min: 1, max: 4 }),
      makeupDb: co.makeupDb === undefined ? 0 : numberIn(c, co.makeupDb, 'compressor.makeupDb', { min: 0, max: 12 }),
    }
  }
  if (o.tracks !== undefined && !Array.isArray(o.tracks))
    throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile tracks: must be an array, got ${JSON.stringify(o.tracks)}`)
  const tracks = ((o.tracks as unknown[] | undefined) ?? []).map((v, i): MixTrackSource => {
    const to = record(c, v, `tracks[${i}]`)
    const track = to.track === undefined || to.track === null ? null : numberIn(c, to.track, `tracks[${i}].track`, { min: 1, max: 999_999_999, integer: true })
    const nearestDeg =
      to.nearestDeg === undefined || to.nearestDeg === null ? null : numberIn(c, to.nearestDeg, `tracks[${i}].nearestDeg`, { min: 0, max: 360 })
    if ((track === null) === (nearestDeg === null))
      throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile tracks[${i}]: give exactly one of track (track:N) and nearestDeg (track:nearest:AZ)`)
    return {
      track,
      nearestDeg,
      gainDb: numberIn(c, to.gainDb, `tracks[${i}].gainDb`, { min: MIX_OFF_DB, max: 12 }),
      pan: to.pan === undefined ? 0 : numberIn(c, to.pan, `tracks[${i}].pan`, { min: -1, max: 1 }),
    }
  })
  if (tracks.length > MIX_TRACKS)
    throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile tracks: at most ${MIX_TRACKS} tracked sources, got ${tracks.length}`)
  const keys = tracks.map(trackKey)
  const twice = keys.find((k, i) => keys.indexOf(k) !== i)
  if (twice) throw new FirmwareError('FW_ERR_MIX_PROFILE', `mix profile tracks: ${twice} is named twice`)
  for (const k of Object.keys(o)) oneOf(c, k, 'field', ['name', 'description', 'sources', 'bedDb', 'compressor', 'tracks'])
  return { name, description, sources, bedDb, compressor, ...(tracks.length ? { tracks } : {}) }
}

const lin = (db: number): number => (db <= MIX_OFF_DB ? 0 : 10 ** (db / 20))

/** The addon's form of a checked profile (addons/src/mix/render.h): linear gains per output, and
 *  per separator slot (slots: track key -> slot, as MixStreams assigned them). */
export function nativeProfile(
  p: MixProfile,
  slots: ReadonlyMap<string, number> = new Map(),
): {
  gains: number[]
  pans: number[]
  stemGains: number[]
  stemPans: number[]
  bedGain: number
  compressor: { thresholdDb: number; ratio: number; kneeDb: number; attackMs: number; releaseMs: number; makeupDb: number; enabled: boolean }
} {
  const gains = new Array<number>(MIX_SOURCES).fill(0)
  const pans = new Array<number>(MIX_SOURCES).fill(0)
  for (const s of p.sources) {
    gains[s.output] = lin(s.gainDb)
    pans[s.output] = s.pan
  }
  const stemGains = new Array<number>(MIX_TRACKS).fill(0)
  const stemPans = new Array<number>(MIX_TRACKS).fill(0)
  for (const t of p.tracks ?? []) {
    const slot = slots.get(trackKey(t))
    if (slot === undefined) continue
    stemGains[slot] = lin(t.gainDb)
    stemPans[slot] = t.pan
  }
  const k = p.compressor
  return {
    gains,
    pans,
    stemGains,
    stemPans,
    bedGain: lin(p.bedDb),
    compressor: {
      thresholdDb: k?.thresholdDb ?? -18,
      ratio: k?.ratio ?? 2,
      kneeDb: 6,
      attackMs: 10,
      releaseMs: 250,
      makeupDb: k?.makeupDb ?? 0,
      enabled: k !== null,
    },
  }
}

/** The examples the issue names: a vocal-forward mix (voice on output 0) and the plain PA mix. */
export const EXAMPLE_PROFILES: readonly MixProfile[] = [
  {
    name: 'vocal-forward',
    description: 'Voice lifted, band lowered: for hard-of-hearing listeners',
    sources: [{ output: 0, gainDb: 9, pan: 0 }],
    bedDb: -6,
    compressor: { thresholdDb: -18, ratio: 2, makeupDb: 0 },
  },
]
