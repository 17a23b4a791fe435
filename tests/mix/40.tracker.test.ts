// Source tracking (firmware/mix/tracker.ts) on scenes with known truth: two and three talkers that
// move, cross and pause, seen through a localiser that finds each talker 90 % of the frames with a
// spread of a few degrees and adds a false direction 5 % of the frames. Seeded: every run is the
// same. Figures per source: median DOA error, identity switches, missed frames.
import t from 'tap'
import { SourceTracker, scoreTracking, type Track, type TruthFrame } from '../../firmware/mix/tracker.ts'
import { rng } from '../helpers/rng.ts'

interface Talker {
  from: number
  to: number
  /** [start, end) frames of silence. */
  pauses: Array<[number, number]>
}

function scene(talkers: Talker[], frames: number, sigmaDeg: number, seed: number): { truth: TruthFrame[]; candidates: number[][] } {
  const r = rng(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
  const truth: TruthFrame[] = []
  const candidates: number[][] = []
  for (let i = 0; i < frames; i++) {
    const sources = talkers.map((k) => ({
      azimuth: (((k.from + ((k.to - k.from) * i) / (frames - 1)) % 360) + 360) % 360,
      active: !k.pauses.some(([a, b]) => i >= a && i < b),
    }))
    truth.push({ sources })
    const c: number[] = []
    for (const s of sources) if (s.active && r() < 0.9) c.push(s.azimuth + sigmaDeg * gauss())
    if (r() < 0.05) c.push(r() * 360)
    candidates.push(c.sort(() => r() - 0.5))
  }
  return { truth, candidates }
}

function run(talkers: Talker[], sigmaDeg: number, seed: number) {
  const frames = 375 // 4 s of 512-sample hops at 48 kHz
  const { truth, candidates } = scene(talkers, frames, sigmaDeg, seed)
  const tracker = new SourceTracker()
  const out: Track[][] = candidates.map((c) => tracker.update(c))
  return scoreTracking(truth, out)
}

const two: Talker[] = [
  { from: 30, to: 150, pauses: [[120, 170]] },
  { from: 150, to: 30, pauses: [[250, 320]] },
]
const three: Talker[] = [
  ...two,
  {
    from: 330,
    to: 210,
    pauses: [
      [60, 100],
      [200, 260],
    ],
  },
]

for (const [name, talkers] of [
  ['two talkers crossing, each pausing once', two],
  ['three talkers, two crossing, all pausing', three],
] as const) {
  t.test(`${name}: tracks follow the talkers through the crossing and the pauses`, async (t) => {
    for (const [label, sigma] of [
      ['spread 5 deg (an 8-mic ring, as assumed)', 5],
      ['spread 3 deg (a 16-mic ring, as assumed)', 3],
    ] as const) {
      for (const seed of [1, 2, 3]) {
        const f = run([...talkers], sigma, seed)
        t.comment(
          `${label}, seed ${seed}: median error ${f.medianErrorDeg.map((e) => e.toFixed(1)).join('/')} deg, switches ${f.identitySwitches.join('/')}, missed ${f.missedFrames.join('/')} of ${f.activeFrames.join('/')} active frames`,
        )
        // Not yet zero: a crossing or a long pause still swaps an id now and then (docs/mixes.md).
        for (const [i, n] of f.identitySwitches.entries()) t.ok(n <= 2, `${label}, seed ${seed}, source ${i}: ${n} identity switches (<= 2)`)
        for (const [i, e] of f.medianErrorDeg.entries()) t.ok(e < sigma, `source ${i}: median error ${e.toFixed(1)} < ${sigma} deg`)
        for (const [i, m] of f.missedFrames.entries())
          t.ok(m < 0.1 * f.activeFrames[i]!, `source ${i}: ${m} missed of ${f.activeFrames[i]} active frames (< 10 %)`)
      }
    }
  })
}

t.test('a talker who moved during a pause keeps its id and its track does not fly off', async (t) => {
  // As the localiser sees a quieter talker behind a louder one: found in a third of the frames.
  // At 60 deg for 50 frames, silent for 60 (it walks on), then from 75 deg on at 0.16 deg a frame.
  const r = rng(7)
  const tracker = new SourceTracker()
  const ids = new Set<number>()
  let worst = 0
  for (let i = 0; i < 300; i++) {
    const truth = i < 50 ? 60 : 75 + 0.16 * Math.max(0, i - 110)
    const heard = i < 50 || (i >= 110 && (i === 110 || r() < 0.33))
    const out = tracker.update(heard ? [truth] : [])
    for (const k of out) ids.add(k.id)
    if (i >= 110) worst = Math.max(worst, ...out.map((k) => Math.abs(k.azimuth - truth)))
  }
  t.same([...ids], [1], 'one id throughout')
  t.ok(worst < 4, `after it speaks again the track stays within 4 deg of it (worst ${worst.toFixed(1)} deg)`)
})
