// The published mixes, streaming: the operator publishes a profile to an ingest (a media
// server's RTP port); this hands the native streamer (addons/src/mix/streamer.h) the set of
// published profiles. The streamer runs on its own thread off the engine's mix tap, so a
// failure here (a dead media server, a slow thread) never reaches the PA path; its health goes
// to the watchdog (firmware/watchdog/mix-stream.ts) as DEGRADED.
import type { MixPort } from '../engine/engine.ts'
import { FirmwareError } from '../errors.ts'
import { checker, numberIn, text } from '../validate.ts'
import { MIX_TRACKS, type MixProfile, type MixTrackSource, nativeProfile, trackKey } from './profile.ts'

/** One separator slot: the tracked source it is kept for (the first published profile naming it). */
export interface StemSlot {
  slot: number
  key: string
  source: Pick<MixTrackSource, 'track' | 'nearestDeg'>
}

/** Where a published mix goes: the media server's RTP ingest for it. */
export interface MixIngest {
  /** IPv4 address of the media server. */
  host: string
  /** Its RTP port for this mix (a Janus streaming mountpoint's audio port). */
  port: number
  /** Opus bitrate, bit/s, 16000..256000. Defaults to 96000. */
  bitrate: number
}

const c = checker('FW_ERR_MIX_STREAM', (f, m) => `mix ingest ${f}: ${m}`)
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/

export function validateIngest(v: Partial<MixIngest>): MixIngest {
  const host = text(c, v.host, 'host')
  if (!IPV4.test(host)) throw new FirmwareError('FW_ERR_MIX_STREAM', `mix ingest host: must be an IPv4 address, got ${JSON.stringify(host)}`)
  return {
    host,
    port: numberIn(c, v.port, 'port', { min: 1, max: 65535, integer: true }),
    bitrate: v.bitrate === undefined ? 96000 : numberIn(c, v.bitrate, 'bitrate', { min: 16000, max: 256000, integer: true }),
  }
}

export class MixStreams {
  readonly #port: MixPort
  readonly #frameMs: 10 | 20
  #published: Map<string, { profile: MixProfile; ingest: MixIngest }> = new Map()
  #slots: StemSlot[] = []
  #started = false

  /** frameMs: Opus frame, 10 or 20 ms. Defaults to 20. */
  constructor(port: MixPort, frameMs: 10 | 20 = 20) {
    this.#port = port
    this.#frameMs = frameMs
  }

  /** Publishes (or re-publishes with new settings) a checked profile to an ingest. */
  publish(profile: MixProfile, ingest: MixIngest): void {
    const next = new Map(this.#published)
    next.set(profile.name, { profile, ingest })
    this.#apply(next)
  }

  unpublish(name: string): void {
    if (!this.#published.has(name)) throw new FirmwareError('FW_ERR_MIX_STREAM', `mix ${name} is not published`)
    const next = new Map(this.#published)
    next.delete(name)
    this.#apply(next)
  }

  /** A stored profile changed: published streams pick it up at the next frame. */
  update(profile: MixProfile): void {
    const cur = this.#published.get(profile.name)
    if (!cur) return
    const next = new Map(this.#published)
    next.set(profile.name, { profile, ingest: cur.ingest })
    this.#apply(next)
  }

  published(): Array<{ name: string; ingest: MixIngest }> {
    return [...this.#published].map(([name, p]) => ({ name, ingest: p.ingest }))
  }

  /** The separator slots the published profiles' tracked sources use now. */
  slots(): readonly StemSlot[] {
    return this.#slots
  }

  /** Where each slot points (LiveTracking, each tick): index = slot. */
  setDirections(dirs: Array<{ azimuth: number; active: boolean }>): void {
    if (this.#started) this.#port.setDirections(dirs.map((d) => ({ azimuth: d.azimuth, elevation: 0, active: d.active })))
  }

  stats(): ReturnType<MixPort['stats']> {
    return this.#started ? this.#port.stats() : null
  }

  stop(): void {
    if (this.#started) this.#port.stop()
    this.#started = false
  }

  #apply(next: Map<string, { profile: MixProfile; ingest: MixIngest }>): void {
    // A slot per distinct tracked source over every published profile; slots already given keep their index.
    const keys: StemSlot[] = []
    for (const [, p] of next)
      for (const t of p.profile.tracks ?? [])
        if (!keys.some((k) => k.key === trackKey(t))) keys.push({ slot: -1, key: trackKey(t), source: { track: t.track, nearestDeg: t.nearestDeg } })
    if (keys.length > MIX_TRACKS)
      throw new FirmwareError(
        'FW_ERR_MIX_PROFILE',
        `the published mixes would name ${keys.length} tracked sources (${keys.map((k) => k.key).join(', ')}); at most ${MIX_TRACKS} at once; nothing changed`,
      )
    const slots: StemSlot[] = []
    for (const k of keys) {
      const old = this.#slots.find((s) => s.key === k.key)
      if (old) slots.push(old)
    }
    for (const k of keys) {
      if (slots.some((s) => s.key === k.key)) continue
      let free = 0
      while (slots.some((s) => s.slot === free)) free++
      slots.push({ ...k, slot: free })
    }
    const slotOf = new Map(slots.map((s) => [s.key, s.slot]))
    if (!this.#started) {
      this.#port.start(this.#frameMs)
      this.#started = true
    }
    try {
      this.#port.setStreams(
        [...next].map(([name, p]) => ({
          name,
          host: p.ingest.host,
          port: p.ingest.port,
          ssrc: 0,
          bitrate: p.ingest.bitrate,
          profile: nativeProfile(p.profile, slotOf),
        })),
      )
    } catch (e) {
      throw new FirmwareError('FW_ERR_MIX_STREAM', `the mix streamer refused the change: ${(e as Error).message}`, { cause: e })
    }
    this.#published = next
    this.#slots = slots.sort((a, b) => a.slot - b.slot)
  }
}
