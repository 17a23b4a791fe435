// Sound-source tracking (the SST half of ODAS's SSL + SST), the first part of issue 17 item 1:
// per analysis frame, the localiser's candidate directions (azimuths, degrees) go in; up to four
// tracks with ids that survive crossings and pauses come out. Each track is an alpha-beta filter
// on the azimuth (position and angular velocity); each frame the assignment of candidates to
// tracks with the lowest total cost is searched exhaustively (at most 4 tracks x a handful of
// candidates), so two talkers crossing keep their ids by their velocities, and a talker who pauses
// coasts (velocity decaying) until it speaks again or stays silent past `coastFrames`.
// Fed from the array by the multi-peak localiser (separation.ts, addons/src/dsp/ssl.*);
// tests/mix/40.tracker.test.ts feeds it synthetic candidates with known truth.

export interface TrackerOptions {
  /** At most this many tracks. Defaults to 4. */
  maxTracks: number
  /** A candidate farther than this from a track's prediction is not its, degrees. Defaults to 25. */
  gateDeg: number
  /** Spread of a candidate around its source, degrees (scales the cost). Defaults to 8. */
  sigmaDeg: number
  /** alpha-beta gains. Default 0.5 and 0.08. */
  alpha: number
  beta: number
  /** Hits (within `confirmWithin` frames) that confirm a new track. Defaults to 3 of 5. */
  confirmHits: number
  confirmWithin: number
  /** A confirmed track without a candidate for this many frames ends (a pause longer than this). Defaults to 150. */
  coastFrames: number
  /** Fastest a source moves, degrees per frame (a talker running across a stage 2 m away: about 1). Defaults to 1. */
  maxVelocity: number
  /** A track found again after this many frames without a candidate jumps to it, its velocity untouched. Defaults to 3. */
  reacquireAfter: number
}

export interface Track {
  id: number
  azimuth: number
  /** Degrees per frame. */
  velocity: number
  confirmed: boolean
  hits: number
  age: number
  misses: number
}

const DEFAULTS: TrackerOptions = {
  maxTracks: 4,
  gateDeg: 25,
  sigmaDeg: 8,
  alpha: 0.5,
  beta: 0.08,
  confirmHits: 3,
  confirmWithin: 5,
  coastFrames: 150,
  maxVelocity: 1,
  reacquireAfter: 3,
}

/** a - b wrapped to (-180, 180]. */
export function angleDiff(a: number, b: number): number {
  let d = (a - b) % 360
  if (d > 180) d -= 360
  if (d <= -180) d += 360
  return d
}

const wrap = (a: number): number => ((a % 360) + 360) % 360

export class SourceTracker {
  readonly #o: TrackerOptions
  #tracks: Track[] = []
  #nextId = 1

  constructor(options: Partial<TrackerOptions> = {}) {
    this.#o = { ...DEFAULTS, ...options }
  }

  /** One frame: the candidates' azimuths (degrees). Returns the confirmed tracks after it. */
  update(candidates: readonly number[]): Track[] {
    const o = this.#o
    for (const t of this.#tracks) {
      t.azimuth = wrap(t.azimuth + t.velocity)
      // A silent talker slows down (it may have stopped); one hidden by another track (a
      // crossing: the localiser sees one peak for both) keeps its speed, to come out the far side.
      const hidden = this.#tracks.some((u) => u !== t && u.confirmed && Math.abs(angleDiff(u.azimuth, t.azimuth)) < 3 * o.sigmaDeg)
      if (t.misses > 0 && !hidden) t.velocity *= 0.95
      t.age++
    }
    const assign = this.#assign(candidates)
    const used = new Set<number>()
    this.#tracks.forEach((t, i) => {
      const c = assign[i]!
      if (c < 0) {
        t.misses++
        return
      }
      used.add(c)
      const r = angleDiff(candidates[c]!, t.azimuth)
      // Close to another track (a crossing), a candidate may be either talker's: trust the
      // prediction and keep the velocity, so the two pass through each other instead of bouncing.
      const near = this.#tracks.some((u) => u !== t && u.confirmed && Math.abs(angleDiff(u.azimuth, t.azimuth)) < 3 * o.sigmaDeg)
      if (t.misses >= o.reacquireAfter && !near) {
        // Found again after a pause: the talker is where the candidate is; how far it moved
        // meanwhile says nothing about its speed now (updating the velocity by it sent tracks
        // flying off after every pause).
        t.azimuth = wrap(candidates[c]!)
      } else {
        t.azimuth = wrap(t.azimuth + (near ? 0.1 : o.alpha) * r)
        if (!near) t.velocity += o.beta * r
      }
      t.velocity = Math.max(-o.maxVelocity, Math.min(o.maxVelocity, t.velocity))
      t.misses = 0
      t.hits++
      if (!t.confirmed && t.hits >= o.confirmHits) t.confirmed = true
    })
    this.#tracks = this.#tracks.filter((t) => (t.confirmed ? t.misses <= o.coastFrames : t.misses < 2 && t.age < o.confirmWithin + t.hits))
    candidates.forEach((az, c) => {
      if (used.has(c) || this.#tracks.length >= o.maxTracks) return
      // A candidate near an existing track is that track's echo, not a new source.
      if (this.#tracks.some((t) => Math.abs(angleDiff(az, t.azimuth)) < o.gateDeg)) return
      this.#tracks.push({ id: this.#nextId++, azimuth: wrap(az), velocity: 0, confirmed: false, hits: 1, age: 0, misses: 0 })
    })
    return this.tracks()
  }

  tracks(): Track[] {
    return this.#tracks.filter((t) => t.confirmed).map((t) => ({ ...t }))
  }

  /** Every track, tentative ones too (the live `tracks` command shows them). */
  all(): Track[] {
    return this.#tracks.map((t) => ({ ...t }))
  }

  /** For each track, the candidate index it takes (-1: none), by the lowest total cost. */
  #assign(c: readonly number[]): number[] {
    const o = this.#o
    const n = this.#tracks.length
    const miss = (o.gateDeg / o.sigmaDeg) ** 2
    const cost = this.#tracks.map((t) =>
      c.map((az) => {
        const d = Math.abs(angleDiff(az, t.azimuth))
        // Confirmed tracks are preferred over tentative ones for a shared candidate.
        return d > o.gateDeg ? Number.POSITIVE_INFINITY : (d / o.sigmaDeg) ** 2 + (t.confirmed ? 0 : 0.5)
      }),
    )
    let best = Number.POSITIVE_INFINITY
    let bestPick: number[] = new Array<number>(n).fill(-1)
    const pick: number[] = new Array<number>(n).fill(-1)
    const taken = new Array<boolean>(c.length).fill(false)
    const search = (i: number, sum: number) => {
      if (sum >= best) return
      if (i === n) {
        best = sum
        bestPick = [...pick]
        return
      }
      pick[i] = -1
      search(i + 1, sum + miss)
      for (let k = 0; k < c.length; k++) {
        const v = cost[i]![k]!
        if (taken[k] || v === Number.POSITIVE_INFINITY) continue
        taken[k] = true
        pick[i] = k
        search(i + 1, sum + v)
        taken[k] = false
        pick[i] = -1
      }
    }
    search(0, 0)
    return bestPick
  }
}

export interface TruthFrame {
  /** Per source: its azimuth and whether it is sounding this frame. */
  sources: ReadonlyArray<{ azimuth: number; active: boolean }>
}

export interface TrackingFigures {
  /** Per source: median |error| over frames it is active and matched, degrees. */
  medianErrorDeg: number[]
  /** Per source: how often the track matched to it changed id while it was active. */
  identitySwitches: number[]
  /** Per source: active frames with no confirmed track within `matchDeg`. */
  missedFrames: number[]
  activeFrames: number[]
  /** Per frame, per source: the id of the track matched to it (-1: none). */
  matches: number[][]
}

/** Scores tracker output against the truth (the nearest confirmed track within matchDeg, each track used once). */
export function scoreTracking(truth: readonly TruthFrame[], out: ReadonlyArray<readonly Track[]>, matchDeg = 20): TrackingFigures {
  const ns = truth[0]?.sources.length ?? 0
  const errs: number[][] = Array.from({ length: ns }, () => [])
  const switches = new Array<number>(ns).fill(0)
  const missed = new Array<number>(ns).fill(0)
  const active = new Array<number>(ns).fill(0)
  const lastId = new Array<number>(ns).fill(-1)
  const matches: number[][] = []
  truth.forEach((f, i) => {
    const matched = new Array<number>(ns).fill(-1)
    matches.push(matched)
    const tracks = [...(out[i] ?? [])]
    const sDone = new Set<number>()
    const tDone = new Set<number>()
    const take = (si: number, ti: number, d: number) => {
      sDone.add(si)
      tDone.add(ti)
      errs[si]!.push(d)
      const id = tracks[ti]!.id
      matched[si] = id
      if (lastId[si]! >= 0 && lastId[si] !== id) switches[si]!++
      lastId[si] = id
    }
    // CLEAR-MOT's rule: a source keeps the track it had while that track stays within matchDeg
    // (two talkers a degree apart at a crossing are not re-paired by whichever is nearer).
    f.sources.forEach((s, si) => {
      if (!s.active || lastId[si]! < 0) return
      const ti = tracks.findIndex((t) => t.id === lastId[si])
      if (ti < 0 || tDone.has(ti)) return
      const d = Math.abs(angleDiff(tracks[ti]!.azimuth, s.azimuth))
      if (d <= matchDeg) take(si, ti, d)
    })
    const pairs: Array<{ s: number; t: number; d: number }> = []
    f.sources.forEach((s, si) => {
      if (!s.active || sDone.has(si)) return
      tracks.forEach((t, ti) => {
        if (tDone.has(ti)) return
        const d = Math.abs(angleDiff(t.azimuth, s.azimuth))
        if (d <= matchDeg) pairs.push({ s: si, t: ti, d })
      })
    })
    pairs.sort((a, b) => a.d - b.d)
    for (const p of pairs) if (!sDone.has(p.s) && !tDone.has(p.t)) take(p.s, p.t, p.d)
    f.sources.forEach((s, si) => {
      if (!s.active) return
      active[si]!++
      if (!sDone.has(si)) missed[si]!++
    })
  })
  const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b)
    return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN
  }
  return { medianErrorDeg: errs.map(median), identitySwitches: switches, missedFrames: missed, activeFrames: active, matches }
}
