// Voice activity on family groups it never tuned on (issue 13, item 4): Silero VAD through the
// firmware's inference service on each family group's VAD set (models/train.py --vad-families:
// its own synthesiser, rooms, music, applause and noise), the smoothing (thresholds, minimum speech
// and silence, padding) chosen on the other groups only, frame F1 on the left-out one, and the
// latency the smoothing adds (from a true speech onset to the smoother saying "speech").
//   node_modules/.bin/node models/vad-families.ts [DIR]   (DIR: an existing --vad-families output)
// Prints one line per left-out group and the choice made on A+B (the shipped VAD_DEFAULTS).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadNative } from '../firmware/engine/native.ts'
import { BUILTIN_MANIFESTS } from '../firmware/inference/manifest.ts'
import { classifyPatches, MEL_BANDS, PATCH_FRAMES, vadProbabilities } from '../firmware/inference/models.ts'
import { InferenceService } from '../firmware/inference/service.ts'
import { frameF1, fuseSpeech, inIntervals, type SpeechInterval, smoothVad, VadSmoother, type VadSmootherOptions } from '../firmware/inference/vad.ts'

const GROUPS = ['A', 'B', 'C'] as const
const FRAME_S = 0.032

const given = process.argv[2]
const dir = given ?? mkdtempSync(join(tmpdir(), 'vad-families-'))
if (!given || !existsSync(join(dir, 'vad_A.f32'))) {
  execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'train.py'), '--vad-families', dir], { stdio: 'inherit' })
}

interface GroupData {
  probs: Float32Array
  truth: SpeechInterval[]
  /** The crowd-state patches as `firmware process` makes them (every 0.25 s): centre, speech probability. */
  patchT: number[]
  patchSpeech: number[]
}

/** Classifier patches every 0.25 s over a 16 kHz signal, as StreamingAnalysis makes them. */
async function speechPatches(svc: InferenceService, audio: Float32Array): Promise<{ patchT: number[]; patchSpeech: number[] }> {
  const mel = (loadNative().features as { logMel(x: Float32Array): Float32Array }).logMel(audio)
  const frames = mel.length / MEL_BANDS
  const per = PATCH_FRAMES * MEL_BANDS
  const starts: number[] = []
  for (let s = 0; s + PATCH_FRAMES <= frames; s += 25) starts.push(s)
  const patchT: number[] = []
  const patchSpeech: number[] = []
  const speech = svc.active('crowd-state')!.manifest.classes.indexOf('speech')
  for (let b = 0; b < starts.length; b += 64) {
    const group = starts.slice(b, b + 64)
    const batch = new Float32Array(group.length * per)
    group.forEach((s, i) => {
      batch.set(mel.subarray(s * MEL_BANDS, s * MEL_BANDS + per), i * per)
    })
    const res = (await classifyPatches(svc, batch, { deadlineMs: 10_000 }))!
    res.forEach((r, i) => {
      patchT.push((group[i]! * 160 + (PATCH_FRAMES * 160) / 2) / 16000)
      patchSpeech.push(r.probs[speech]!)
    })
  }
  return { patchT, patchSpeech }
}

function grid(weights: number[]): Choice[] {
  const out: Choice[] = []
  for (const weight of weights)
    for (const onThreshold of [0.3, 0.4, 0.5, 0.6, 0.7])
      for (const offThreshold of [0.15, 0.25, 0.35, 0.45])
        for (const minSilenceMs of [100, 200, 300, 500])
          for (const minSpeechMs of [100, 250])
            for (const padMs of [0, 30, 60]) if (offThreshold < onThreshold) out.push({ weight, onThreshold, offThreshold, minSilenceMs, minSpeechMs, padMs })
  return out
}

type Choice = Required<Omit<VadSmootherOptions, 'frameS'>> & { weight: number }

function fused(d: GroupData, c: { weight: number }): Float32Array {
  return fuseSpeech(d.probs, d.patchT, d.patchSpeech, c.weight)
}

function f1(d: GroupData, c: Choice) {
  return frameF1(inIntervals(smoothVad(fused(d, c), c)), d.truth, d.probs.length, FRAME_S)
}

/** Mean and largest delay from each true onset to the smoother's first "speaking" frame (seconds). */
function onsetLatency(d: GroupData, opts: Choice): { mean: number; p90: number; missed: number } {
  const s = new VadSmoother(opts)
  const p = fused(d, opts)
  const firstSpeaking: number[] = []
  for (let i = 0; i < p.length; i++) {
    const was = s.speaking
    s.push(p[i]!)
    if (!was && s.speaking) firstSpeaking.push((i + 1) * FRAME_S)
  }
  const delays: number[] = []
  let missed = 0
  for (const iv of d.truth) {
    const hit = firstSpeaking.find((t) => t >= iv.start && t <= iv.end + 0.2)
    if (hit === undefined) {
      // Speech already running from the utterance before (a short gap): no new onset to wait for.
      if (!firstSpeaking.some((t) => t < iv.start)) missed++
      continue
    }
    delays.push(hit - iv.start)
  }
  delays.sort((a, b) => a - b)
  const mean = delays.reduce((a, b) => a + b, 0) / Math.max(1, delays.length)
  return { mean, p90: delays[Math.floor(0.9 * (delays.length - 1))] ?? 0, missed }
}

const svc = new InferenceService()
try {
  await svc.start()
  await svc.activate(BUILTIN_MANIFESTS[0]!)
  await svc.activate(BUILTIN_MANIFESTS[2]!)
  const data = new Map<string, GroupData>()
  for (const g of GROUPS) {
    const b = readFileSync(join(dir, `vad_${g}.f32`))
    const audio = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
    const meta = JSON.parse(readFileSync(join(dir, `vad_${g}.json`), 'utf8')) as { speech: Array<[number, number]> }
    const probs = await vadProbabilities(svc, audio, { deadlineMs: 5000 })
    data.set(g, { probs, truth: meta.speech.map(([start, end]) => ({ start, end })), ...(await speechPatches(svc, audio)) })
    if (given) writeFileSync(join(dir, `vad_${g}.probs.f32`), probs)
  }
  const results: Record<string, Record<string, unknown>> = {}
  // live: Silero alone (what the live path runs); offline: fused with the classifier (firmware process).
  for (const [path, weights] of [
    ['live', [0]],
    ['offline', [0.25, 0.5, 0.75]],
  ] as const) {
    const candidates = grid([...weights])
    for (const held of GROUPS) {
      const train = GROUPS.filter((g) => g !== held).map((g) => data.get(g)!)
      let best = candidates[0]!
      let bestF1 = -1
      for (const c of candidates) {
        const m = train.reduce((a, d) => a + f1(d, c).f1, 0) / train.length
        if (m > bestF1) {
          bestF1 = m
          best = c
        }
      }
      const d = data.get(held)!
      const sm = f1(d, best)
      const raw = frameF1((t) => (d.probs[Math.floor(t / FRAME_S)] ?? 0) >= 0.5, d.truth, d.probs.length, FRAME_S)
      const lat = onsetLatency(d, best)
      ;(results[path] ??= {})[held] = { chosenOn: GROUPS.filter((g) => g !== held), choice: best, trainF1: bestF1, raw: raw.f1, smoothed: sm.f1, latency: lat }
      console.log(
        `${path} left out ${held}: frame F1 ${sm.f1.toFixed(3)} (precision ${sm.precision.toFixed(3)}, recall ${sm.recall.toFixed(3)}; Silero raw at 0.5: ${raw.f1.toFixed(3)}), ` +
          `onset latency mean ${(lat.mean * 1000).toFixed(0)} ms, p90 ${(lat.p90 * 1000).toFixed(0)} ms, ${lat.missed} utterances missed; ` +
          `chosen on ${GROUPS.filter((g) => g !== held).join('+')} (F1 ${bestF1.toFixed(3)}): ${JSON.stringify(best)}`,
      )
    }
  }
  console.log(`VAD_JSON ${JSON.stringify(results)}`)
} finally {
  await svc.stop()
  if (!given) rmSync(dir, { recursive: true, force: true })
}
