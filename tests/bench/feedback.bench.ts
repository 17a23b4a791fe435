// Feedback (issue 13 items 2 and 3): the howl detector and the notch suppressor on the simulated
// acoustic loop (firmware/process/feedback-loop.ts), with programme that shares nothing with the
// models' training generators (fluidsynth from three Debian soundfonts; flite voices and festival).
//   detection   howls grown by the loop over rooms x loop gains x programmes: share caught before
//               the howl is 6 dB over the programme, and the time from "howl at programme level"
//               to the alarm; worst programme family shown
//   false alarms  alarms per hour over rendered music and speech with no loop (the detector over the
//               feature path offline, far faster than real time)
//   added stable gain  the largest loop gain that stays stable, suppression off vs on (bisection),
//               and the programme cost: log-spectral distance on vs off 3 dB under the off limit
//   cost        HowlDetector time per analysis frame against the band spectrum's own
//   probing     (sixth round; BENCH_FEEDBACK_PROBE=0 skips it) the same loops with detection by
//               probing (LoopOptions.probe): caught before +6 dB (the time of +6 dB from the loop
//               WITHOUT suppression: the probe changes the howl), time to the verified alarm; the
//               false-alarm programme through a STABLE loop (PROBE_STABLE_DB, the rooms in turn)
//               with probing: false alarms per hour, probes per minute, and the programme cost
//               (log-spectral distance with vs without probing, on the first pieces)
import { loadNative } from '../../firmware/engine/native.ts'
import { decodeRows, type FeedbackAlarm, HowlFusion } from '../../firmware/inference/feedback.ts'
import type { ProbeVerdict } from '../../firmware/inference/feedback-probe.ts'
import { startFeedbackClassifier } from '../../firmware/process/feedback-classifier.ts'
import { type LoopOptions, type LoopResult, ROOMS, rmsDb, runLoop, runLoopWithClassifier } from '../../firmware/process/feedback-loop.ts'
import { limit as limitOf, lineLevels, logSpectralDistance, programmes, quantile, scan as scanOf, strongestLine } from './feedback-lib.ts'
import { type BenchRow, type BenchSection, fixed } from './lib.ts'

const features = loadNative().features as {
  howl(x: Float32Array): { frames: number; rows: Float32Array }
  bandSpectrum(x: Float32Array): unknown
}

/** Detection by probing: the stable loop's gain for the false-alarm and cost figures (dB over the point where the loop's largest gain is 0 dB; its howl limits are 0.7-2.5 dB over that point). */
const PROBE_STABLE_DB = -6
const probing = process.env.BENCH_FEEDBACK_PROBE !== '0'

/** The detector's shortest latencies (s): one 2048-sample analysis frame, and that plus the 4 hops of
 *  the fusion's shortest growth window (5 frames of 1024-sample hops). */
const FRAME_S = 2048 / 48000
const GROWTH_RULE_S = (2048 + 4 * 1024) / 48000

/** The loop's round trip: the direct path's delay (first tap of the room's response) and the
 *  energy centroid of the response (ms). */
function roundTrip(room: string): { directMs: number; centroidMs: number } {
  const loop = new (loadNative().features as { FeedbackLoop: new (o: unknown) => { impulseResponse: Float32Array } }).FeedbackLoop({
    gainDb: 0,
    room: { ...ROOMS[room]!, maxSeconds: 0.25 },
  })
  const h = loop.impulseResponse
  let peak = 0
  for (const v of h) peak = Math.max(peak, Math.abs(v))
  let first = 0
  while (first < h.length && Math.abs(h[first]!) < peak * 1e-3) first++
  let e = 0
  let te = 0
  for (let i = 0; i < h.length; i++) {
    e += h[i]! * h[i]!
    te += i * h[i]! * h[i]!
  }
  return { directMs: (first / 48000) * 1000, centroidMs: (te / Math.max(e, 1e-30) / 48000) * 1000 }
}

/**
 * The loop's own growth rate at loop gain g (dB/s): the loop driven by a 50 ms burst of noise at
 * -60 dBFS and then silence, the level of its strongest line read every 256 samples and fitted
 * between -50 and -20 dBFS (well under the loudspeaker's saturation; no programme in the way). NaN
 * when it never gets there: a loop whose largest gain over frequency is over 0 dB is not unstable
 * unless the phase there turns too (small and studio at +1 and +2 dB decay).
 */
function loopGrowth(room: string, g: number): number {
  const loop = new (loadNative().features as { FeedbackLoop: new (o: unknown) => { run(x: Float32Array): { speaker: Float32Array } } }).FeedbackLoop({
    gainDb: g,
    room: { ...ROOMS[room]!, maxSeconds: 0.25 },
  })
  const n = 48000 * 6
  const x = new Float32Array(n)
  let seed = 5
  for (let i = 0; i < 2400; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    x[i] = 0.002 * (seed / 2 ** 31 - 0.5)
  }
  const spk = loop.run(x).speaker
  // The strongest line once it stands out (the last stretch under -23 dBFS RMS).
  let end = n - 2048
  for (let s = 0; s + 2048 <= n; s += 4800) if (rmsDb(spk, s / 48000, (s + 2048) / 48000) < -23) end = s
  const hz = strongestLine(spk.subarray(end, end + 2048))
  const lv = lineLevels(spk.subarray(0, end + 2048), hz, 256)
  const pts = lv.map((l, k) => [(k * 256 + 2048) / 48000, l] as const).filter(([t, l]) => t > 0.1 && l >= -50 && l <= -20)
  if (pts.length < 3) return Number.NaN // it never grows from -50 to -20 dBFS: the loop is stable at this gain
  const m = pts.length
  const sx = pts.reduce((a, [t]) => a + t, 0)
  const sy = pts.reduce((a, [, l]) => a + l, 0)
  const sxx = pts.reduce((a, [t]) => a + t * t, 0)
  const sxy = pts.reduce((a, [t, l]) => a + t * l, 0)
  return (m * sxy - sx * sy) / (m * sxx - sx * sx)
}

/**
 * The howl's course at a finer step than the detector's frames (2048-sample frames every 256
 * samples, 5.3 ms): when it reaches the programme's level and +6 dB over it, and its growth
 * (least-squares slope from programme level to +12 dB, or 0.3 s after +6 dB, at least 3 readings).
 */
function howlCourse(spk: Float32Array, x: Float32Array, hz: number, g: number): { reach: number; six: number; growth: number } {
  const lv = lineLevels(spk, hz, 256).map((l) => l - 3.01)
  const tOf = (k: number) => (k * 256 + 2048) / 48000
  const prog = lv.map((_, k) => rmsDb(x, Math.max(0, tOf(k) - 1), tOf(k)) + g)
  let reach = -1
  let six = -1
  let top = -1
  for (let k = 0; k < lv.length; k++) {
    if (reach < 0 && lv[k]! >= prog[k]!) reach = k
    if (six < 0 && lv[k]! >= prog[k]! + 6) six = k
    if (six >= 0 && top < 0 && (lv[k]! >= prog[k]! + 12 || tOf(k) - tOf(six) >= 0.3)) top = k
  }
  if (six < 0) return { reach: -1, six: -1, growth: Number.NaN }
  const from = Math.max(0, Math.min(reach < 0 ? six : reach, (top < 0 ? lv.length - 1 : top) - 2))
  const to = top < 0 ? lv.length - 1 : top
  let sx = 0
  let sy = 0
  let sxx = 0
  let sxy = 0
  for (let k = from; k <= to; k++) {
    const t = tOf(k)
    sx += t
    sy += lv[k]!
    sxx += t * t
    sxy += t * lv[k]!
  }
  const m = to - from + 1
  const growth = (m * sxy - sx * sy) / Math.max(1e-12, m * sxx - sx * sx)
  return { reach: reach < 0 ? Number.NaN : tOf(reach), six: tOf(six), growth }
}

const section: BenchSection = {
  name: 'feedback',
  async run(ctx) {
    const rows: BenchRow[] = []
    const q = ctx.quick
    // The classifier's second opinion (models/crowd_state.onnx in the inference service), as on the
    // unit; BENCH_FEEDBACK_CLASSIFIER=0 runs the detector alone, for the before/after comparison.
    const cls = process.env.BENCH_FEEDBACK_CLASSIFIER === '0' ? null : await startFeedbackClassifier()
    const loopRun = (x: Float32Array, o: LoopOptions): Promise<LoopResult> => (cls ? runLoopWithClassifier(x, o, cls.classify) : Promise.resolve(runLoop(x, o)))
    try {
      // --- Detection over loops.
      const loopProgs = await programmes(ctx.tmp, 12, q ? 3 : 6, q ? 2 : 5)
      const rooms = q ? ['small', 'hall'] : Object.keys(ROOMS)
      const gains = q ? [2, 4] : [1, 2, 3, 4, 6]
      const byFamily = new Map<string, { howls: number; caught: number; latency: number[] }>()
      // The physics of each howl (round 4): per room and per loop gain, caught / howls, growth and
      // time from programme level to +6 dB (fine step); and the caught rate on the howls that take
      // longer than the detector's shortest latencies to get from programme level to +6 dB.
      const trips = new Map(rooms.map((r) => [r, roundTrip(r)]))
      const byRoom = new Map<string, { howls: number; caught: number }>()
      const byGain = new Map<number, { howls: number; caught: number }>()
      const physics = new Map<string, { growth: number[]; toSix: number[] }>()
      const slower = { frame: { howls: 0, caught: 0 }, rule: { howls: 0, caught: 0 }, ruleAndStart: { howls: 0, caught: 0 } }
      // Probing: per family caught / howls, the verified alarm's time after programme level, and the
      // same cases' fusion result (before) from this run, so before / after read in one run.
      const probeFam = new Map<string, { howls: number; caught: number; latency: number[] }>()
      const probeRoom = new Map<string, { howls: number; caught: number }>()
      let loops = 0
      for (const p of loopProgs) {
        const x = p.x.subarray(0, 48000 * 8)
        for (const room of rooms)
          for (const g of gains) {
            loops++
            const r = await loopRun(x, { gainDb: g, room: ROOMS[room]! })
            const hz = strongestLine(r.speaker.subarray(r.speaker.length - 2048))
            const lv = lineLevels(r.speaker, hz).map((l) => l - 3.01) // as RMS
            // The programme at the loudspeaker: its short-term RMS (1 s) plus the loop gain.
            let reach = -1
            let six = -1
            for (let k = 0; k < lv.length; k++) {
              const t = (k * 1024 + 2048) / 48000
              const prog = rmsDb(x, Math.max(0, t - 1), t) + g
              if (reach < 0 && lv[k]! >= prog) reach = t
              if (six < 0 && lv[k]! >= prog + 6) six = t
            }
            if (six < 0) continue // never 6 dB over the programme: not counted as a howl
            const f = byFamily.get(p.family) ?? { howls: 0, caught: 0, latency: [] }
            f.howls++
            const a = r.alarms.find((al: FeedbackAlarm) => Math.abs(al.hz - hz) <= 20)
            if (a && a.t <= six) f.caught++
            else
              ctx.log(
                `missed: ${p.family} ${room} +${g} dB, howl ${fixed(hz, 1)} Hz at programme level ${fixed(reach, 2)} s, +6 dB ${fixed(six, 2)} s; alarms ${r.alarms.map((al) => `${al.hz} Hz ${fixed(al.t, 2)} s`).join(', ') || 'none'}`,
              )
            if (a) f.latency.push(a.t - reach)
            byFamily.set(p.family, f)
            const hit = a !== undefined && a.t <= six
            const course = howlCourse(r.speaker, x, hz, g)
            const toSix = course.six - (Number.isNaN(course.reach) ? 0 : course.reach)
            for (const [m, key] of [
              [byRoom, room],
              [byGain, g],
            ] as const) {
              const e = (m as Map<unknown, { howls: number; caught: number }>).get(key) ?? { howls: 0, caught: 0 }
              e.howls++
              if (hit) e.caught++
              ;(m as Map<unknown, { howls: number; caught: number }>).set(key, e)
            }
            const ph = physics.get(`${room} +${g}`) ?? { growth: [], toSix: [] }
            ph.growth.push(course.growth)
            ph.toSix.push(toSix)
            physics.set(`${room} +${g}`, ph)
            if (toSix > FRAME_S) {
              slower.frame.howls++
              if (hit) slower.frame.caught++
            }
            if (toSix > GROWTH_RULE_S) {
              slower.rule.howls++
              if (hit) slower.rule.caught++
            }
            // The loop runs at its gain from the first sample, so some howls pass +6 dB before the
            // detector has had its shortest latency of signal at all.
            if (toSix > GROWTH_RULE_S && course.six > GROWTH_RULE_S) {
              slower.ruleAndStart.howls++
              if (hit) slower.ruleAndStart.caught++
            }
            if (probing) {
              // The same loop with probing (no classifier: the probe is the second opinion). Caught:
              // a verified alarm at the howl before the unsuppressed run's +6 dB.
              const pr = runLoop(x, { gainDb: g, room: ROOMS[room]!, probe: true })
              const pa = pr.alarms.find((al: FeedbackAlarm) => Math.abs(al.hz - hz) <= 20)
              const pf = probeFam.get(p.family) ?? { howls: 0, caught: 0, latency: [] }
              pf.howls++
              if (pa && pa.t <= six) pf.caught++
              if (pa) pf.latency.push(pa.t - reach)
              probeFam.set(p.family, pf)
              const rr = probeRoom.get(room) ?? { howls: 0, caught: 0 }
              rr.howls++
              if (pa && pa.t <= six) rr.caught++
              probeRoom.set(room, rr)
              if (!pa || pa.t > six)
                ctx.log(
                  `probe missed: ${p.family} ${room} +${g} dB, howl ${fixed(hz, 1)} Hz, programme level ${fixed(reach, 2)} s, +6 dB ${fixed(six, 2)} s (unsuppressed); verified ${pa ? fixed(pa.t, 2) : 'never'}; probes ${pr.probe!.verdicts.map((v: ProbeVerdict) => `${fixed(v.hz, 0)} Hz ${fixed(v.startT, 2)}-${fixed(v.t, 2)} s ${v.outcome}`).join(', ')}`,
                )
            }
            const trip = trips.get(room)!
            ctx.log(
              `howl: ${p.family} ${room} +${g} dB, ${fixed(hz, 1)} Hz: round trip ${fixed(trip.directMs, 1)} ms (centroid ${fixed(trip.centroidMs, 1)} ms), growth ${fixed(course.growth, 0)} dB/s, programme level ${fixed(course.reach, 3)} s -> +6 dB ${fixed(course.six, 3)} s (${fixed(toSix * 1000, 0)} ms); ${hit ? 'caught' : 'missed'}`,
            )
          }
      }
      let howls = 0
      let caught = 0
      const lat: number[] = []
      let worst = { family: '', rate: 2 }
      for (const [family, f] of byFamily) {
        howls += f.howls
        caught += f.caught
        lat.push(...f.latency)
        const rate = f.caught / Math.max(1, f.howls)
        if (rate < worst.rate) worst = { family, rate }
        rows.push({
          metric: `howls caught before +6 dB over programme: ${family}`,
          value: `${f.caught}/${f.howls}`,
          note: `median alarm ${fixed(quantile(f.latency, 0.5) * 1000, 0)} ms after the howl reached programme level`,
        })
      }
      rows.push({
        metric: 'howls caught before +6 dB over programme (all)',
        value: fixed((100 * caught) / Math.max(1, howls), 1),
        unit: '%',
        target: '>= 95 %',
        note: `${caught}/${howls} howls from ${loops} loops (${rooms.length} rooms x gains ${gains.join('/')} dB x ${loopProgs.length} programmes); worst ${worst.family} ${fixed(100 * worst.rate, 0)} %`,
      })
      for (const room of rooms) {
        const e = byRoom.get(room) ?? { howls: 0, caught: 0 }
        const trip = trips.get(room)!
        rows.push({
          metric: `physics: ${room}, round trip ${fixed(trip.directMs, 1)} ms (direct path; energy centroid ${fixed(trip.centroidMs, 1)} ms)`,
          value: `${e.caught}/${e.howls}`,
          note: `caught; per loop gain: the loop's own growth (no programme), then the time from programme level to +6 dB (median, least): ${gains
            .map((g) => {
              const ph = physics.get(`${room} +${g}`)
              const own = loopGrowth(room, g)
              const head = `+${g} dB ${Number.isNaN(own) ? 'stable (decays)' : `${fixed(own, 0)} dB/s`}`
              return ph ? `${head}, ${fixed(quantile(ph.toSix, 0.5) * 1000, 0)} ms (${fixed(Math.min(...ph.toSix) * 1000, 0)})` : `${head}, no howl past +6 dB`
            })
            .join('; ')}`,
        })
      }
      for (const g of gains) {
        const e = byGain.get(g) ?? { howls: 0, caught: 0 }
        const all = [...physics].filter(([k]) => k.endsWith(` +${g}`)).flatMap(([, v]) => v.toSix)
        rows.push({
          metric: `howls caught before +6 dB at loop gain +${g} dB`,
          value: `${e.caught}/${e.howls}`,
          note: `programme level to +6 dB: median ${fixed(quantile(all, 0.5) * 1000, 0)} ms, ${all.filter((v) => v <= FRAME_S).length} of ${all.length} within one 2048-sample frame (${fixed(FRAME_S * 1000, 1)} ms)`,
        })
      }
      rows.push({
        metric: `howls caught, on those taking over ${fixed(FRAME_S * 1000, 1)} ms (one 2048-sample frame) from programme level to +6 dB`,
        value: fixed((100 * slower.frame.caught) / Math.max(1, slower.frame.howls), 1),
        unit: '%',
        note: `${slower.frame.caught}/${slower.frame.howls} (raw: ${caught}/${howls})`,
      })
      rows.push({
        metric: `howls caught, on those taking over ${fixed(GROWTH_RULE_S * 1000, 0)} ms (a frame and the 4 hops of the shortest growth window)`,
        value: fixed((100 * slower.rule.caught) / Math.max(1, slower.rule.howls), 1),
        unit: '%',
        note: `${slower.rule.caught}/${slower.rule.howls}`,
      })
      rows.push({
        metric: `howls caught, on those taking over ${fixed(GROWTH_RULE_S * 1000, 0)} ms to +6 dB and passing it later than ${fixed(GROWTH_RULE_S * 1000, 0)} ms into the run`,
        value: fixed((100 * slower.ruleAndStart.caught) / Math.max(1, slower.ruleAndStart.howls), 1),
        unit: '%',
        note: `${slower.ruleAndStart.caught}/${slower.ruleAndStart.howls}`,
      })
      rows.push({
        metric: 'time from howl at programme level to alarm, median / p90',
        value: `${fixed(quantile(lat, 0.5) * 1000, 0)} / ${fixed(quantile(lat, 0.9) * 1000, 0)}`,
        unit: 'ms',
      })
      if (probing) {
        let ph = 0
        let pc = 0
        const plat: number[] = []
        let pworst = { family: '', rate: 2 }
        for (const [family, f] of probeFam) {
          ph += f.howls
          pc += f.caught
          plat.push(...f.latency)
          const rate = f.caught / Math.max(1, f.howls)
          if (rate < pworst.rate) pworst = { family, rate }
          const before = byFamily.get(family)!
          rows.push({
            metric: `probing: howls caught before +6 dB over programme: ${family}`,
            value: `${f.caught}/${f.howls}`,
            note: `without probing (the rows above, same run): ${before.caught}/${before.howls}; median verified alarm ${fixed(quantile(f.latency, 0.5) * 1000, 0)} ms after programme level`,
          })
        }
        rows.push({
          metric: 'probing: howls caught before +6 dB over programme (all)',
          value: fixed((100 * pc) / Math.max(1, ph), 1),
          unit: '%',
          target: '>= 95 %',
          note: `${pc}/${ph} (without probing ${caught}/${howls}); +6 dB is when the same loop WITHOUT suppression passes it (the probe's notch changes the howl); caught = a verified alarm (its line collapsed under the probe) by then; no classifier; worst ${pworst.family} ${fixed(100 * pworst.rate, 0)} %; per room ${[...probeRoom].map(([r, e]) => `${r} ${e.caught}/${e.howls}`).join(', ')}`,
        })
        rows.push({
          metric: 'probing: time from howl at programme level to the verified alarm, median / p90',
          value: `${fixed(quantile(plat, 0.5) * 1000, 0)} / ${fixed(quantile(plat, 0.9) * 1000, 0)}`,
          unit: 'ms',
        })
      }

      // --- False alarms per hour, no loop.
      const faProgs = await programmes(ctx.tmp, 60, q ? 4 : 36, q ? 4 : 60)
      const fa = new Map<string, { alarms: number; seconds: number }>()
      let procMs = 0
      for (const p of faProgs) {
        const t0 = performance.now()
        const fusion = new HowlFusion()
        let n = 0
        let nextCls = 26400
        for (const fr of decodeRows(features.howl(p.x).rows)) {
          const end = Math.round(fr.t * 48000)
          if (cls && end >= nextCls) {
            nextCls += 12000
            fusion.classifier(fr.t, await cls.classify(p.x.subarray(end - 26400, end)))
          }
          for (const a of fusion.push(fr.t, 0, fr.candidates)) {
            n++
            ctx.log(
              `false alarm: ${p.family} at ${fixed(a.t, 2)} s, ${a.hz} Hz ${a.levelDb} dBFS, ${a.reason} (${a.growthDbPerS} dB/s, classifier ${a.classifier})`,
            )
          }
        }
        procMs += performance.now() - t0
        const e = fa.get(p.family) ?? { alarms: 0, seconds: 0 }
        e.alarms += n
        e.seconds += p.x.length / 48000
        fa.set(p.family, e)
      }
      let faAll = 0
      let faS = 0
      for (const [family, e] of fa) {
        faAll += e.alarms
        faS += e.seconds
        rows.push({
          metric: `false alarms per hour: ${family}`,
          value: fixed((e.alarms * 3600) / e.seconds, 1),
          unit: '/h',
          note: `${e.alarms} in ${fixed(e.seconds / 60, 1)} min`,
        })
      }
      rows.push({
        metric: 'false alarms per hour (all music and speech)',
        value: fixed((faAll * 3600) / faS, 1),
        unit: '/h',
        target: '<= 1 /h',
        note: `${faAll} in ${fixed(faS / 60, 1)} min, detector ${fixed(faS / (procMs / 1000), 0)}x real time`,
      })
      if (probing) {
        // Probing needs a loop (on stage there always is one): each piece through a stable loop, the
        // rooms in turn. Every alarm is false (the loop cannot howl); probes and their cost counted.
        const pfa = new Map<string, { alarms: number; seconds: number; probes: number }>()
        const outcomes = new Map<string, number>()
        const cost: number[] = []
        let probeS = 0
        let fusionLoopAlarms = 0
        for (const [i, p] of faProgs.entries()) {
          const room = Object.keys(ROOMS)[i % 4]!
          const o = { gainDb: PROBE_STABLE_DB, room: ROOMS[room]! }
          const pr = runLoop(p.x, { ...o, probe: true })
          // Before: the fusion alone (the loudspeaker feed, no probe) through the same stable loop.
          const plain = runLoop(p.x, o)
          fusionLoopAlarms += plain.alarms.length
          const e = pfa.get(p.family) ?? { alarms: 0, seconds: 0, probes: 0 }
          e.alarms += pr.alarms.length
          e.seconds += p.x.length / 48000
          e.probes += pr.probe!.started
          pfa.set(p.family, e)
          probeS += pr.probe!.probeSeconds
          for (const v of pr.probe!.verdicts) outcomes.set(v.outcome, (outcomes.get(v.outcome) ?? 0) + 1)
          for (const a of pr.alarms)
            ctx.log(`probing false alarm: ${p.family} (${room}, ${PROBE_STABLE_DB} dB) at ${fixed(a.t, 2)} s, ${a.hz} Hz ${a.levelDb} dBFS`)
          // The programme cost on the first pieces of each kind: the loudspeaker feed with vs without probing.
          if (cost.length < (q ? 4 : 12) && (i < (q ? 2 : 6) || i >= faProgs.length - (q ? 2 : 6))) cost.push(logSpectralDistance(plain.speaker, pr.speaker))
        }
        let all = 0
        let secs = 0
        let probes = 0
        for (const [family, e] of pfa) {
          all += e.alarms
          secs += e.seconds
          probes += e.probes
          rows.push({
            metric: `probing: false alarms per hour through a stable loop: ${family}`,
            value: fixed((e.alarms * 3600) / e.seconds, 1),
            unit: '/h',
            note: `${e.alarms} in ${fixed(e.seconds / 60, 1)} min; ${fixed((e.probes * 60) / e.seconds, 1)} probes a minute`,
          })
        }
        rows.push({
          metric: 'probing: false alarms per hour through a stable loop (all music and speech)',
          value: fixed((all * 3600) / secs, 1),
          unit: '/h',
          target: '<= 1 /h',
          note: `${all} in ${fixed(secs / 60, 1)} min at loop gain ${PROBE_STABLE_DB} dB (rooms in turn); verdicts ${JSON.stringify(Object.fromEntries(outcomes))}; before (the fusion alone on the loudspeaker feed, no probe, the same stable loops): ${fusionLoopAlarms} (${fixed((fusionLoopAlarms * 3600) / secs, 1)} /h)`,
        })
        rows.push({
          metric: 'probing: probes per minute of programme, and the share of time a probe notch is on',
          value: `${fixed((probes * 60) / secs, 1)} / ${fixed((100 * probeS) / secs, 2)} %`,
          note: 'stable loop, all music and speech',
        })
        rows.push({
          metric: 'probing: programme cost on a stable loop (log-spectral distance with vs without probing), median / worst',
          value: `${fixed(quantile(cost, 0.5), 2)} / ${fixed(Math.max(...cost), 2)}`,
          unit: 'dB',
          note: `${cost.length} pieces (music and speech), semitone bins 100 Hz-8 kHz, a 2048-sample frame every second`,
        })
      }

      // --- Added stable gain (bisection), and the programme cost.
      // The stability check, its bisection and its upward scan: tests/bench/feedback-lib.ts.
      const limit = (x: Float32Array, room: string, suppress: boolean): Promise<number> => limitOf(loopRun, x, { room, suppress }, q)
      const scan = (x: Float32Array, room: string, from: number): Promise<number> => scanOf(loopRun, x, { room, suppress: true }, from, q)
      const asg: number[] = []
      const asgScan: number[] = []
      const lsd: number[] = []
      const lsdLeft: number[] = []
      const asgProgs = [loopProgs[0]!, loopProgs[loopProgs.length - 1]!]
      // BENCH_FEEDBACK_ASG=0 skips this part (its figures are the notch planner's, unchanged by probing).
      for (const p of process.env.BENCH_FEEDBACK_ASG === '0' ? [] : asgProgs)
        for (const room of q ? ['hall'] : ['small', 'club', 'hall']) {
          const x = p.x.subarray(0, 48000 * 10)
          const off = await limit(x, room, false)
          const on = await limit(x, room, true)
          const onScan = await scan(x, room, off)
          asg.push(on - off)
          asgScan.push(onScan - off)
          const g = off - 3
          const a = runLoop(x, { gainDb: g, room: ROOMS[room]!, suppress: false }).speaker
          const b = await loopRun(x, { gainDb: g, room: ROOMS[room]!, suppress: true })
          const d = logSpectralDistance(a, b.speaker)
          lsd.push(d)
          // The same stable gain with the notches a run at the scanned limit left in place (as after a
          // howl: notches stay until released), against none: what the suppression costs the programme.
          const left = (await loopRun(x, { gainDb: onScan, room: ROOMS[room]!, suppress: true })).notches
          const withLeft = runLoop(x, { gainDb: g, room: ROOMS[room]!, notches: left }).speaker
          const dLeft = logSpectralDistance(a, withLeft)
          lsdLeft.push(dLeft)
          rows.push({
            metric: `added stable gain: ${room}, ${p.family}`,
            value: fixed(on - off, 1),
            unit: 'dB',
            note: `stable up to ${fixed(off, 1)} dB off, ${fixed(on, 1)} dB on (bisection), ${fixed(onScan, 1)} dB on (last stable before the first gain that howls, scanned up: ${fixed(onScan - off, 1)} dB added); at ${fixed(g, 1)} dB (stable) ${b.notches.length} notches, log-spectral distance ${fixed(d, 2)} dB; with the ${left.length} notches a run at ${fixed(onScan, 1)} dB left: ${fixed(dLeft, 2)} dB`,
          })
        }
      if (asg.length > 0) {
        rows.push({
          metric: 'added stable gain, worst / median',
          value: `${fixed(Math.min(...asg), 1)} / ${fixed(quantile(asg, 0.5), 1)}`,
          unit: 'dB',
          target: '>= 6 dB',
          note: 'bisection between -6 and 20 dB, suppression on and off',
        })
        rows.push({
          metric: 'added stable gain scanned up from the off limit (the gain at which it first howls), worst / median',
          value: `${fixed(Math.min(...asgScan), 1)} / ${fixed(quantile(asgScan, 0.5), 1)}`,
          unit: 'dB',
          target: '>= 6 dB',
          note: `steps of ${q ? 1 : 0.5} dB`,
        })
        rows.push({ metric: 'programme cost while stable (log-spectral distance on vs off), worst', value: fixed(Math.max(...lsd), 2), unit: 'dB' })
        rows.push({
          metric: 'programme cost with the notches a run at the limit left in place, worst / median',
          value: `${fixed(Math.max(...lsdLeft), 2)} / ${fixed(quantile(lsdLeft, 0.5), 2)}`,
          unit: 'dB',
          note: 'log-spectral distance, 3 dB under the off limit, against no notches',
        })
      }

      // --- Cost of the detector beside the band spectrum it shares its FFT with.
      const x = faProgs[0]!.x
      // Fastest of 7 runs each, interleaved, so a busy machine shows less.
      let spec = Infinity
      let both = Infinity
      for (let i = 0; i < 7; i++) {
        let t0 = performance.now()
        features.bandSpectrum(x)
        spec = Math.min(spec, performance.now() - t0)
        t0 = performance.now()
        features.howl(x)
        both = Math.min(both, performance.now() - t0)
      }
      const frames = x.length / 1024
      rows.push({
        metric: 'howl detector per analysis frame (beside the band spectrum)',
        value: fixed(((both - spec) / frames) * 1000, 2),
        unit: 'us',
        note: `band spectrum alone ${fixed((spec / frames) * 1000, 2)} us per frame; one frame per 1024 samples per output`,
      })
      rows.push({ metric: 'classifier fused (crowd_state feedback probability)', value: cls ? 'yes' : 'no' })
      return rows
    } finally {
      await cls?.stop()
    }
  },
}

export default section
