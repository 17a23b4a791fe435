// The feedback detector on the TUNING set only (docs/feedback.md, rounds 3-4): TimGM6mb and FluidR3
// pieces with seeds 500-507 and the flite voices kal and awb, never the bench's pieces. Prints howls
// caught before +6 dB over programme (120 loops: 4 rooms x gains 1/2/3/4/6 dB x 6 programmes) and
// false alarms (8 x 60 s of music, 2 speeches). TH: the detector's thresholds (JSON, e.g.
// '{"lineFollowers":4,"lineStage":1}'), FO: the fusion's options, V=1: each miss and false alarm,
// DUMP=file: the candidates the line analysis passed (JSON). PROBE='{...}' (probe options, JSON;
// '{}' for the defaults): detection by probing (sixth round): each loop runs again with the probe
// (caught: a verified alarm before the unsuppressed run's +6 dB), and the false-alarm programme runs
// through a stable loop (STABLE_DB, default -6 dB, the rooms in turn) with the probe on, counting
// alarms, probes per minute and verdicts. Renders and loops are cached in
// FEEDBACK_TUNING_DIR (default: a folder under the system temp dir).
//   node_modules/.bin/node tests/bench/feedback-tuning.ts
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadNative } from '../../firmware/engine/native.ts'
import { decodeRows, type FeedbackAlarm, HowlFusion } from '../../firmware/inference/feedback.ts'
import { ROOMS, rmsDb, runLoop } from '../../firmware/process/feedback-loop.ts'
import { INSTRUMENTS, renderMusic, renderSpeech, SOUNDFONTS } from '../feedback/programme.ts'
import { lineLevels, shuffledText, strongestLine } from './feedback-lib.ts'

const features = loadNative().features as {
  howl(x: Float32Array, th?: unknown): { rows: Float32Array }
  FeedbackLoop: new (o: unknown) => { run(x: Float32Array): { speaker: Float32Array } }
}
const dir = process.env.FEEDBACK_TUNING_DIR ?? join(tmpdir(), 'feedback-tuning')
mkdirSync(dir, { recursive: true })
async function cached(name: string, make: () => Promise<Float32Array> | Float32Array): Promise<Float32Array> {
  const f = `${dir}/${name}.f32`
  if (existsSync(f)) return new Float32Array(readFileSync(f).buffer.slice(0))
  const x = await make()
  writeFileSync(f, Buffer.from(x.buffer, x.byteOffset, x.byteLength))
  return x
}
const sfs = SOUNDFONTS.filter((s) => !s.includes('MuseScore'))
async function music(i: number, seconds: number) {
  const sf = sfs[i % 2]!
  const progs = [INSTRUMENTS[i % 10]!, INSTRUMENTS[(i * 3 + 1) % 10]!, INSTRUMENTS[(i * 7 + 2) % 10]!]
  return cached(`m${i}-${seconds}`, () => renderMusic(dir, { seconds, seed: 500 + i, programs: progs, soundfont: sf }))
}
const th = JSON.parse(process.env.TH ?? '{}')
const fo = JSON.parse(process.env.FO ?? '{}')
const probe = process.env.PROBE ? JSON.parse(process.env.PROBE) : null
const stableDb = Number(process.env.STABLE_DB ?? -6)
const probeLat: number[] = []
const loopProgs: Array<{ family: string; x: Float32Array }> = []
for (let i = 0; i < 4; i++) loopProgs.push({ family: `music ${i % 2 ? 'FluidR3' : 'TimGM6mb'}`, x: (await music(i, 12)).subarray(0, 48000 * 8) })
for (const [k, v] of ['kal', 'awb'].entries())
  loopProgs.push({ family: `speech ${v}`, x: (await cached(`s-${v}`, () => renderSpeech(dir, shuffledText(500 + k), v))).subarray(0, 48000 * 8) })
let howls = 0,
  caught = 0
const dumpH: unknown[] = []
const dumpF: unknown[] = []
const byGain = new Map<number, [number, number]>()
const verbose = process.env.V === '1'
for (const [pi, p] of loopProgs.entries())
  for (const room of Object.keys(ROOMS))
    for (const g of [1, 2, 3, 4, 6]) {
      const meta = `${dir}/loop-${pi}-${room}-${g}`
      const spk = await cached(
        `loop-${pi}-${room}-${g}`,
        () => new features.FeedbackLoop({ gainDb: g, room: { ...ROOMS[room]!, maxSeconds: 0.25 } }).run(p.x).speaker,
      )
      let info: { hz: number; reach: number; six: number }
      if (existsSync(`${meta}.json`)) info = JSON.parse(readFileSync(`${meta}.json`, 'utf8'))
      else {
        const hz = strongestLine(spk.subarray(spk.length - 2048))
        const lv = lineLevels(spk, hz).map((l) => l - 3.01)
        let reach = -1,
          six = -1
        for (let k = 0; k < lv.length; k++) {
          const t = (k * 1024 + 2048) / 48000
          const prog = rmsDb(p.x, Math.max(0, t - 1), t) + g
          if (reach < 0 && lv[k]! >= prog) reach = t
          if (six < 0 && lv[k]! >= prog + 6) six = t
        }
        info = { hz, reach, six }
        writeFileSync(`${meta}.json`, JSON.stringify(info))
      }
      if (info.six < 0) continue
      howls++
      const fusion = new HowlFusion(fo)
      const alarms: FeedbackAlarm[] = []
      if (probe) {
        const r = runLoop(p.x, { gainDb: g, room: ROOMS[room]!, probe, fusion: fo, thresholds: th })
        alarms.push(...r.alarms)
      } else for (const fr of decodeRows(features.howl(spk, th).rows)) alarms.push(...fusion.push(fr.t, 0, fr.candidates))
      if (process.env.DUMP) {
        const rows = decodeRows(features.howl(spk, th).rows)
        const cs = rows.flatMap((fr) =>
          fr.candidates.filter((c) => c.lineHowl >= 1 && Math.abs(c.hz - info.hz) <= 20 && fr.t <= info.six).map((c) => ({ t: fr.t, ...c })),
        )
        dumpH.push({ case: `${pi}-${room}-${g}`, six: info.six, reach: info.reach, cs })
      }
      const a = alarms.find((al) => Math.abs(al.hz - info.hz) <= 20)
      const ok = !!a && a.t <= info.six
      if (a) probeLat.push(a.t - info.reach)
      if (ok) caught++
      const bg = byGain.get(g) ?? [0, 0]
      bg[0] += ok ? 1 : 0
      bg[1]++
      byGain.set(g, bg)
      if (verbose && !ok)
        console.log(
          `miss ${p.family} ${room} +${g} ${info.hz.toFixed(1)} Hz reach ${info.reach.toFixed(3)} six ${info.six.toFixed(3)} (${((info.six - info.reach) * 1000).toFixed(0)} ms) alarm ${a ? `${a.t.toFixed(3)} ${a.reason}` : 'none'}`,
        )
    }
// false alarms
let fa = 0,
  faS = 0
const faProgs: Float32Array[] = []
for (let i = 0; i < 8; i++) faProgs.push(await music(i, 60))
for (const [k, v] of ['kal', 'awb'].entries()) faProgs.push(await cached(`s-${v}`, () => renderSpeech(dir, shuffledText(500 + k), v)))
let probes = 0
const outcomes = new Map<string, number>()
for (const [i, x] of faProgs.entries()) {
  if (probe) {
    const room = Object.keys(ROOMS)[i % 4]!
    const r = runLoop(x, { gainDb: stableDb, room: ROOMS[room]!, probe, fusion: fo, thresholds: th })
    fa += r.alarms.length
    probes += r.probe!.started
    for (const v of r.probe!.verdicts) outcomes.set(v.outcome, (outcomes.get(v.outcome) ?? 0) + 1)
    if (verbose)
      for (const v of r.probe!.verdicts.filter((q) => q.outcome === 'verified'))
        console.log(
          `FA prog ${i} ${room} ${v.hz.toFixed(1)} Hz probed ${v.startT.toFixed(2)}-${v.t.toFixed(2)} s, ${v.peakDb.toFixed(1)} -> ${v.lastDb.toFixed(1)} dB`,
        )
    faS += x.length / 48000
    continue
  }
  const fusion = new HowlFusion(fo)
  if (process.env.DUMP)
    for (const fr of decodeRows(features.howl(x, th).rows)) for (const c of fr.candidates) if (c.lineHowl >= 1) dumpF.push({ prog: i, t: fr.t, ...c })
  if (!process.env.DUMP)
    for (const fr of decodeRows(features.howl(x, th).rows))
      for (const a of fusion.push(fr.t, 0, fr.candidates)) {
        fa++
        if (verbose) console.log(`FA prog ${i} ${a.t.toFixed(2)} s ${a.hz} Hz ${a.levelDb} dB ${a.reason} ${a.growthDbPerS}`)
      }
  faS += x.length / 48000
}
console.log(
  `caught ${caught}/${howls} byGain ${[...byGain].map(([g, [c, n]]) => `+${g}:${c}/${n}`).join(' ')}; FA ${fa} in ${(faS / 60).toFixed(1)} min  TH=${JSON.stringify(th)} FO=${JSON.stringify(fo)}`,
)
if (probe)
  console.log(
    `probe: ${probes} probes (${((probes * 60) / faS).toFixed(1)} a minute) on the stable loop at ${stableDb} dB, verdicts ${JSON.stringify(Object.fromEntries(outcomes))}; verified alarm after programme level: median ${(([...probeLat].sort((a, b) => a - b)[Math.floor(probeLat.length / 2)] ?? Number.NaN) * 1000).toFixed(0)} ms; PROBE=${JSON.stringify(probe)}`,
  )
if (process.env.DUMP) writeFileSync(process.env.DUMP, JSON.stringify({ dumpH, dumpF }))
