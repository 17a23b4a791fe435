// Live tracks (issue 17, third round): with tracking on, the engine's DOA thread also runs the
// multi-peak localiser (addons/src/dsp/ssl.*) and pushes each frame's peaks into a ring; this
// side drains it every `tickMs`, runs the tracker (tracker.ts) on the frames, and publishes the
// tracks as `inference` reports of kind 'tracks' on each change of the set of confirmed ids and
// otherwise at most `reportEveryMs` apart. Off by default; on/off is kept in the store
// (<dataDir>/tracking.json, checksummed with its last-known-good copy) and comes back after a
// restart. Nothing here runs on the audio or the DOA thread.
// Fourth round: each tick also aims the mix streamer's separator slots (the tracked sources the
// published mixes name, streams.ts) at their tracks. That is the streamer's own separator: no
// engine beam moves, the PA never hears a listener's mix.
import { join } from 'node:path'
import type { ApplianceEvent } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { type DocumentSchema, defaultStoreLogger, StoredDocument, type StoreLogger } from '../store/document.ts'
import type { MixTrackSource } from './profile.ts'
import type { StemSlot } from './streams.ts'
import { angleDiff, SourceTracker, type TrackerOptions } from './tracker.ts'

/** The engine as tracking needs it (firmware/engine/engine.ts: setTracking, pollPeaks). */
export interface PeakSource {
  setTracking?(on: boolean): boolean
  pollPeaks?(): { frames: Array<{ t: number; azimuth: number[]; energy: number[] }>; dropped: number; on: boolean }
  readonly options?: { readonly beams: readonly unknown[] }
}

export interface LiveTrack {
  id: number
  /** Degrees, 0 along +x, counter-clockwise toward +y. */
  azimuth: number
  confirmed: boolean
  /** Seconds since the track was first seen (engine time). */
  age: number
}

export interface TrackingStatus {
  on: boolean
  /** Direction updates handed to the mix streamer's separator (published mixes naming a track) since the start. */
  aims: number
  /** False: this unit's engine cannot track (no array, or its DOA runs inline on the audio thread). */
  available: boolean
  /** Localiser frames drained and dropped (the ring was full) since the engine started. */
  frames: number
  dropped: number
}

export interface LiveTrackingOptions {
  /** How often the ring is drained, ms. Defaults to 50. */
  tickMs: number
  /** Shortest time between two reports whose confirmed ids did not change, ms. Defaults to 250 (4 a second). */
  reportEveryMs: number
  tracker: Partial<TrackerOptions>
}

interface TrackingDocument {
  on: boolean
}

export const trackingSchema: DocumentSchema<TrackingDocument> = {
  kind: 'tracking',
  version: 1,
  migrations: {},
  validate(d): TrackingDocument {
    if (typeof d !== 'object' || d === null || typeof (d as TrackingDocument).on !== 'boolean') throw new Error('tracking.on must be true or false')
    return { on: (d as TrackingDocument).on }
  },
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits

export class LiveTracking {
  readonly #engine: PeakSource
  readonly #doc: StoredDocument<TrackingDocument>
  readonly #publish: (ev: ApplianceEvent) => void
  readonly #o: LiveTrackingOptions
  #on = false
  #tracker: SourceTracker
  #born = new Map<number, number>()
  #now = 0
  #frames = 0
  #dropped = 0
  #timer: NodeJS.Timeout | null = null
  #lastIds = ''
  #lastReport = 0
  #available: boolean | undefined
  #slots: () => readonly StemSlot[] = () => []
  #aim: ((dirs: Array<{ azimuth: number; active: boolean }>) => void) | null = null
  /** Per slot key, the azimuth its track was last seen at (a paused talker keeps its stem there). */
  #lastAz = new Map<string, number>()
  #aims = 0

  constructor(
    dataDir: string,
    engine: PeakSource,
    publish: (ev: ApplianceEvent) => void,
    options: Partial<LiveTrackingOptions> = {},
    log: StoreLogger = defaultStoreLogger,
  ) {
    this.#engine = engine
    this.#doc = new StoredDocument(join(dataDir, 'tracking.json'), trackingSchema, log)
    this.#publish = publish
    this.#o = { tickMs: 50, reportEveryMs: 250, tracker: {}, ...options }
    this.#tracker = new SourceTracker(this.#o.tracker)
  }

  /** Whether this engine can track (asked once: setTracking answers whether it could, off changes nothing here). */
  get available(): boolean {
    this.#available ??= typeof this.#engine.pollPeaks === 'function' && (this.#engine.setTracking?.(this.#on) ?? false)
    return this.#available
  }

  /** Loads the stored setting and turns tracking on when it was on. */
  async open(): Promise<void> {
    const r = await this.#doc.load()
    if (r?.data.on && this.available) this.#start()
  }

  /** Turns tracking on or off and stores it. Refused (FW_ERR_TRACKING, nothing changed) when the engine cannot track. */
  async set(on: boolean): Promise<TrackingStatus> {
    const turnOn = on && !this.#on
    // The engine says whether it can (false: no DOA thread, nothing was turned on).
    if (turnOn && !(this.#engine.setTracking?.(true) ?? false)) {
      throw new FirmwareError(
        'FW_ERR_TRACKING',
        "this unit's engine cannot track sources (it has no array, or its DOA runs on the audio thread); nothing changed",
      )
    }
    try {
      await this.#doc.save({ on })
    } catch (e) {
      if (turnOn) this.#engine.setTracking?.(false)
      throw e
    }
    if (turnOn) this.#start()
    else if (!on && this.#on) this.#stop()
    return this.status()
  }

  status(): TrackingStatus {
    return { on: this.#on, available: this.available, frames: this.#frames, dropped: this.#dropped, aims: this.#aims }
  }

  /**
   * Where the separator slots of the published mixes come from (MixStreams.slots), and how their
   * directions reach the streamer (MixStreams.setDirections): refreshed each tick while tracking runs.
   */
  stemsFrom(slots: () => readonly StemSlot[], aim: (dirs: Array<{ azimuth: number; active: boolean }>) => void): void {
    this.#slots = slots
    this.#aim = aim
  }

  /** Refuses (FW_ERR_TRACKING) a tracked source that cannot be followed now: tracking off, no such track. */
  checkTrack(t: Pick<MixTrackSource, 'track' | 'nearestDeg'>): void {
    if (!this.#aim) throw new FirmwareError('FW_ERR_TRACKING', 'this unit has no mix streamer to separate a tracked source; nothing changed')
    if (!this.#on) throw new FirmwareError('FW_ERR_TRACKING', 'tracking is off: "tracking on" first, then name a track; nothing changed')
    if (t.track !== null && !this.#tracker.all().some((x) => x.id === t.track)) {
      const ids = this.tracks().map((x) => x.id)
      throw new FirmwareError('FW_ERR_TRACKING', `no track ${t.track} (now: ${ids.length ? ids.join(', ') : 'none'}; see "tracks"); nothing changed`)
    }
  }

  /** The tracks now, confirmed first (empty while off). */
  tracks(): LiveTrack[] {
    if (!this.#on) return []
    return this.#tracker
      .all()
      .map((t) => ({ id: t.id, azimuth: round(t.azimuth, 1), confirmed: t.confirmed, age: round(this.#now - (this.#born.get(t.id) ?? this.#now), 2) }))
      .sort((a, b) => Number(b.confirmed) - Number(a.confirmed) || a.id - b.id)
  }

  /** Stops the timer and the DOA thread's localiser (the stored setting stays as it is). */
  close(): void {
    if (this.#on) this.#engine.setTracking?.(false)
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#on = false
  }

  #start(): void {
    if (!(this.#engine.setTracking?.(true) ?? false)) return
    this.#engine.pollPeaks?.() // stale frames from an earlier run are not this run's
    this.#tracker = new SourceTracker(this.#o.tracker)
    this.#born.clear()
    this.#lastIds = ''
    this.#on = true
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs)
    this.#timer.unref()
  }

  #stop(): void {
    this.#engine.setTracking?.(false)
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#on = false
    this.#born.clear()
    // The tracks are gone: say so once.
    this.#lastAz.clear()
    this.#aimSlots()
    if (this.#lastIds !== '') this.#publish({ type: 'inference', report: { kind: 'tracks', tracks: [], t: this.#now } })
    this.#lastIds = ''
  }

  /** Each slot at its track (the last place it was seen when it pauses); a slot never seen is silent. */
  #aimSlots(): void {
    const slots = this.#slots()
    if (!this.#aim || slots.length === 0) return
    const confirmed = this.#on ? this.#tracker.tracks() : []
    const dirs = Array.from({ length: 4 }, () => ({ azimuth: 0, active: false }))
    for (const s of slots) {
      const f = s.source
      const t =
        f.track !== null
          ? confirmed.find((x) => x.id === f.track)
          : confirmed.reduce<(typeof confirmed)[number] | undefined>(
              (best, x) => (!best || Math.abs(angleDiff(x.azimuth, f.nearestDeg!)) < Math.abs(angleDiff(best.azimuth, f.nearestDeg!)) ? x : best),
              undefined,
            )
      if (t) this.#lastAz.set(s.key, t.azimuth)
      const az = this.#lastAz.get(s.key)
      if (az !== undefined && s.slot < dirs.length) dirs[s.slot] = { azimuth: round(az, 1), active: true }
    }
    // The other confirmed tracks take the free slots (no mix hears them): the post-filter keeps a
    // bin for a stem only as far as it is that beam's and not a competitor's.
    for (const x of confirmed) {
      const free = dirs.findIndex((d, i) => !d.active && !slots.some((s) => s.slot === i))
      if (free < 0) break
      if (dirs.some((d) => d.active && Math.abs(angleDiff(d.azimuth, x.azimuth)) < 15)) continue
      dirs[free] = { azimuth: round(x.azimuth, 1), active: true }
    }
    this.#aim(dirs)
    this.#aims++
  }

  #tick(): void {
    const p = this.#engine.pollPeaks?.()
    if (!p) return
    this.#dropped = p.dropped
    for (const f of p.frames) {
      this.#now = f.t
      this.#tracker.update(f.azimuth)
      this.#frames++
      for (const t of this.#tracker.all()) if (!this.#born.has(t.id)) this.#born.set(t.id, f.t)
    }
    if (p.frames.length === 0) return
    this.#aimSlots()
    const live = new Set(this.#tracker.all().map((t) => t.id))
    for (const id of this.#born.keys()) if (!live.has(id)) this.#born.delete(id)
    const tracks = this.tracks()
    const ids = tracks
      .filter((t) => t.confirmed)
      .map((t) => t.id)
      .join(',')
    const now = Date.now()
    if (ids === this.#lastIds && (ids === '' || now - this.#lastReport < this.#o.reportEveryMs)) return
    this.#lastIds = ids
    this.#lastReport = now
    this.#publish({
      type: 'inference',
      report: { kind: 'tracks', tracks: tracks.map((t) => ({ id: t.id, azimuth: t.azimuth, confirmed: t.confirmed })), t: round(this.#now, 3) },
    })
  }
}

/** Live tracking on a running unit: the setting in its data directory, reports on its event stream. */
export async function startTracking(
  app: { profile: { dataDir: string }; engine: PeakSource; publish(ev: ApplianceEvent): void },
  warn: (message: string) => void,
  options: Partial<LiveTrackingOptions> = {},
): Promise<LiveTracking> {
  const live = new LiveTracking(
    app.profile.dataDir,
    app.engine,
    (ev) => app.publish(ev),
    options,
    (level, m) => level === 'warn' && warn(m),
  )
  await live.open().catch((e: Error) => warn(`tracking stays off: ${e.message}`))
  return live
}
