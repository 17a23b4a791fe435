// Sources to mix from (issue 17 item 1, docs/mixes.md): the multi-source localiser, the tracker
// and the beam + post-filter per tracked source on scenes with known sources (real speech from
// espeak-ng, first-order image sources; tests/separation/scene.ts): two talkers that cross (each
// pausing once) and three (plus one moving on the far side), on the sim board's 8-mic ring (5 cm)
// and the rack's 16-mic ring (10 cm). Per source: median DOA error, identity switches, missed
// frames; SI-SDR improvement over the scene at the array centre of the stem (beam + post-filter)
// and of the plain delay-and-sum beam, steered by the tracker and, for comparison, by the truth.
import { localise, separateTracks, type TrackedScene, trackFrames } from '../../firmware/mix/separation.ts'
import { scoreTracking, type Track } from '../../firmware/mix/tracker.ts'
import { correlation, renderScene, ring, siSdr, type Talker, TEXTS } from '../separation/scene.ts'
import { type BenchRow, type BenchSection, fixed } from './lib.ts'

const TALKERS: Talker[] = [
  { voice: 'en+m3', text: TEXTS[0]!, from: 30, to: 150, pauses: [[2.0, 2.8]] },
  { voice: 'en+f3', text: TEXTS[1]!, from: 150, to: 30, pauses: [[4.5, 5.2]] },
  { voice: 'en+m1', text: TEXTS[2]!, from: 300, to: 230, pauses: [[1.0, 1.5]] },
]

/** The scene's truth as tracker output: one track per talker, always on (oracle steering). */
function oracle(scene: ReturnType<typeof renderScene>, frames: TrackedScene['frames'], n: number): TrackedScene {
  const tracks: Track[][] = frames.map((f) =>
    scene
      .truthAt(f.t)
      .sources.slice(0, n)
      .map((s, i) => ({ id: i + 1, azimuth: s.azimuth, velocity: 0, confirmed: true, hits: 1, age: 1, misses: 0 })),
  )
  const t0 = frames[0]!.t
  const t1 = frames[frames.length - 1]!.t
  return { frames, tracks, summary: Array.from({ length: n }, (_, i) => ({ id: i + 1, start: t0, end: t1, azimuth: [] })) }
}

const section: BenchSection = {
  name: 'separation',
  async run(ctx) {
    const seconds = ctx.quick ? 4 : 8
    const rows: BenchRow[] = []
    for (const [arrayName, geometry] of [
      ['8-mic ring 5 cm', ring(8, 0.05)],
      ['16-mic ring 10 cm', ring(16, 0.1)],
    ] as const) {
      for (const n of [2, 3]) {
        ctx.log(`${arrayName}, ${n} talkers, ${seconds} s`)
        const talkers = TALKERS.slice(0, n).map((k) => ({
          ...k,
          pauses: (k.pauses ?? []).map(([a, b]): [number, number] => [(a * seconds) / 8, (b * seconds) / 8]),
        }))
        const scene = renderScene(geometry, talkers, seconds)
        let t0 = performance.now()
        const frames = localise(geometry, scene.mics)
        const locS = (performance.now() - t0) / 1000
        const tracked = trackFrames(frames)
        const f = scoreTracking(
          frames.map((x) => scene.truthAt(x.t)),
          tracked.tracks,
        )
        t0 = performance.now()
        const sep = separateTracks(geometry, scene.mics, tracked)
        const sepS = (performance.now() - t0) / 1000
        const truthSep = separateTracks(geometry, scene.mics, oracle(scene, frames, n))
        const label = `${arrayName}, ${n} talkers`
        const per = (v: number[], d = 1) => v.map((x) => fixed(x, d)).join(' / ')
        rows.push(
          { metric: `${label}: median DOA error per talker`, value: per(f.medianErrorDeg), unit: 'deg' },
          { metric: `${label}: identity switches per talker`, value: f.identitySwitches.join(' / ') },
          {
            metric: `${label}: missed frames per talker`,
            value: f.missedFrames.map((m, i) => `${m}/${f.activeFrames[i]}`).join(' / '),
            note: `${tracked.summary.length} track ids in all`,
          },
        )
        // Per talker, its output assembled frame by frame from the stem of the track matched to it
        // (identity switches forgiven: the separation alone).
        const hop = frames.length > 1 ? Math.round((frames[1]!.t - frames[0]!.t) * 48000) : 512
        const assembled = scene.references.map((_, i) => {
          const out = new Float32Array(scene.references[i]!.length)
          f.matches.forEach((m, fi) => {
            const id = m[i]!
            if (id < 0) return
            const c = Math.round(frames[fi]!.t * 48000)
            const x = sep.stems.get(id)!
            for (let k = Math.max(0, c - hop / 2); k < Math.min(out.length, c + hop / 2); k++) out[k] = x[k]!
          })
          return out
        })
        const stemI: number[] = []
        const matchedI: number[] = []
        const dasI: number[] = []
        const oStemI: number[] = []
        const oDasI: number[] = []
        scene.references.forEach((ref, i) => {
          const base = siSdr(scene.centre, ref)
          let id = -1
          let c = -2
          for (const [k, x] of sep.stems) {
            const v = correlation(x, ref)
            if (v > c) {
              c = v
              id = k
            }
          }
          stemI.push(siSdr(sep.stems.get(id)!, ref) - base)
          matchedI.push(siSdr(assembled[i]!, ref) - base)
          dasI.push(siSdr(sep.beams.get(id)!, ref) - base)
          oStemI.push(siSdr(truthSep.stems.get(i + 1)!, ref) - base)
          oDasI.push(siSdr(truthSep.beams.get(i + 1)!, ref) - base)
        })
        rows.push(
          { metric: `${label}: SI-SDR improvement, beam + post-filter (tracked)`, value: per(stemI), unit: 'dB', note: 'per talker, its best-correlated stem' },
          { metric: `${label}: SI-SDR improvement, delay-and-sum (tracked)`, value: per(dasI), unit: 'dB' },
          {
            metric: `${label}: SI-SDR improvement, beam + post-filter (tracked, matched per frame)`,
            value: per(matchedI),
            unit: 'dB',
            note: 'the stems of the tracks matched to the talker, frame by frame',
          },
          { metric: `${label}: SI-SDR improvement, beam + post-filter (true paths)`, value: per(oStemI), unit: 'dB' },
          { metric: `${label}: SI-SDR improvement, delay-and-sum (true paths)`, value: per(oDasI), unit: 'dB' },
          {
            metric: `${label}: localiser / separator CPU per second of audio`,
            value: `${fixed((locS / seconds) * 100, 1)} / ${fixed((sepS / seconds) * 100, 1)}`,
            unit: '% core',
            note: 'whole-recording calls, one thread',
          },
        )
      }
    }
    return rows
  },
}
export default section
