// The published mixes, streaming: the operator publishes a profile to an ingest (a media
// server's RTP port); this hands the native streamer (addons/src/mix/streamer.h) the set of
// published profiles. The streamer runs on its own thread off the engine's mix tap, so a
// failure here (a dead media server, a slow thread) never reaches the PA path; its health goes
// to the watchdog (firmware/watchdog/mix-stream.ts) as DEGRADED.
import type { MixPort } from '../engine/engine.ts'
import { FirmwareError } from '../errors.ts'
import { checker, numberIn, text } from '../validate.ts'
import { type MixProfile, nativeProfile } from './profile.ts'

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

  stats(): ReturnType<MixPort['stats']> {
    return this.#started ? this.#port.stats() : null
  }

  stop(): void {
    if (this.#started) this.#port.stop()
    this.#started = false
  }

  #apply(next: Map<string, { profile: MixProfile; ingest: MixIngest }>): void {
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
          profile: nativeProfile(p.profile),
        })),
      )
    } catch (e) {
      throw new FirmwareError('FW_ERR_MIX_STREAM', `the mix streamer refused the change: ${(e as Error).message}`, { cause: e })
    }
    this.#published = next
  }
}
