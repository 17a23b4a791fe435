// The analysers' report sections, as `firmware process` writes them in its one streaming pass
// (from the engine's features), and checked against the whole-file review (analyseFiles) that
// re-reads the recording: the same classes, the same speech intervals, recommendations within a
// stated tolerance.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { analyseFiles, to48k } from '../../firmware/inference/analyse.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import { parseProcessArgs } from '../../firmware/process/options.ts'
import { processRecording } from '../../firmware/process/process.ts'
import { streamingContributors } from '../../firmware/process/report.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import '../../firmware/process/inference-report.ts'

t.test('a recording gets classes, speech intervals and recommendations in one pass, as the whole-file review finds them', async (t) => {
  const dir = t.testdir({})
  const speech = join(dir, 'speech.wav')
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', speech, 'hello everybody, welcome to the show tonight. please give it up for the band'])
  const s = readWav(speech)
  // The engine runs at 48 kHz: one second of near silence, the speech, then two seconds of near silence.
  const sr = 48000
  const voice = to48k(s.data as Float32Array, s.info.sampleRate)
  const pre = sr
  const post = 2 * sr
  const x = new Float32Array(pre + voice.length + post)
  for (let i = 0; i < x.length; i++) x[i] = 1e-4 * Math.sin(i * 0.37)
  x.set(voice, pre)
  const mono = join(dir, 'show.wav')
  writeWav(mono, { channels: 1, sampleRate: sr, format: 'float32' }, x)
  const speechStart = pre / sr
  const speechEnd = (pre + voice.length) / sr

  t.ok(streamingContributors().get('inference'), 'the inference part registers a streaming contributor')
  const opts = parseProcessArgs(['--in', mono, '--out', join(dir, 'out.wav'), '--report', join(dir, 'report.json')])!
  const { report } = await processRecording(opts)
  t.equal(report.analysisErrors, undefined, 'every analyser ran')
  const r = report as unknown as {
    classes: Array<{ t: number; label: string; confidence: number }>
    vad: Array<{ start: number; end: number }>
    recommendations: Array<{ t: number; output: number; bands: Array<{ hz: number; gainDb: number }>; confidence: number }>
  }

  t.ok(r.classes.length > 10, 'one class entry per classifier frame')
  t.ok(r.classes.every((c) => c.confidence >= 0 && c.confidence <= 1))
  const during = r.classes.filter((c) => c.t > speechStart + 0.3 && c.t < speechEnd - 0.3)
  const speechShare = during.filter((c) => c.label === 'speech').length / during.length
  t.ok(speechShare > 0.5, `most frames inside the speech are "speech" (${(speechShare * 100).toFixed(0)}%)`)
  const quiet = r.classes.filter((c) => c.t < speechStart - 0.3 || c.t > speechEnd + 0.3)
  t.ok(quiet.filter((c) => c.label === 'silence').length / quiet.length > 0.8, 'the quiet parts are "silence"')

  t.ok(r.vad.length >= 1, 'speech intervals found')
  t.ok(
    r.vad.every((v) => v.end > speechStart - 0.2 && v.start < speechEnd + 0.2),
    'every interval lies on the speech',
  )
  const covered = r.vad.reduce((a, v) => a + Math.min(v.end, speechEnd) - Math.max(v.start, speechStart), 0)
  t.ok(covered / (speechEnd - speechStart) > 0.6, 'and together they cover most of it')
  t.ok(r.recommendations.length >= 1, 'EQ recommendations for the output')
  t.ok(r.recommendations.every((x) => x.output === 0 && x.bands.length === 8))

  // The same input through the whole-file review, which reads the recording and the output again.
  const svc = new InferenceService()
  await svc.start()
  try {
    for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
    const whole = await analyseFiles(svc, mono, join(dir, 'out.wav'))
    t.equal(r.classes.length, whole.classes.length, 'as many class entries')
    const sameLabel = r.classes.filter((c, i) => c.t === whole.classes[i]?.t && c.label === whole.classes[i]?.label).length
    t.ok(sameLabel / whole.classes.length >= 0.95, `the same label at the same time (${sameLabel} of ${whole.classes.length})`)
    const confDiff = Math.max(...r.classes.map((c, i) => Math.abs(c.confidence - (whole.classes[i]?.confidence ?? 0))))
    t.ok(confDiff <= 0.05, `confidences within 0.05 (max ${confDiff.toFixed(3)})`)
    t.equal(r.vad.length, whole.vad.length, 'as many speech intervals')
    r.vad.forEach((v, i) => {
      const w = whole.vad[i]!
      t.ok(Math.abs(v.start - w.start) <= 0.1 && Math.abs(v.end - w.end) <= 0.1, `interval ${i} within 0.1 s (${JSON.stringify(v)} vs ${JSON.stringify(w)})`)
    })
    t.same(
      r.recommendations.map((x) => [x.t, x.output]),
      whole.recommendations.map((x) => [x.t, x.output]),
      'a recommendation for the same windows',
    )
    // The engine's spectrum is a running 3 s average at the window's end, not the window alone.
    const gainDiff = Math.max(0, ...r.recommendations.flatMap((x, i) => x.bands.map((b, k) => Math.abs(b.gainDb - whole.recommendations[i]!.bands[k]!.gainDb))))
    t.ok(gainDiff <= 3, `EQ gains within 3 dB of the whole-file review (max ${gainDiff.toFixed(1)} dB)`)
  } finally {
    await svc.stop()
  }
})
