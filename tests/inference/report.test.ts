import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { type ReportContext, reportContributors } from '../../firmware/process/report.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import '../../firmware/process/inference-report.ts'

t.test('a mono recording gets classes, speech intervals and recommendations in its report', async (t) => {
  const dir = t.testdir({})
  const speech = join(dir, 'speech.wav')
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', speech, 'hello everybody, welcome to the show tonight. please give it up for the band'])
  const s = readWav(speech)
  const sr = s.info.sampleRate
  // One second of near silence, the speech, then two seconds of near silence.
  const pre = sr,
    post = 2 * sr
  const x = new Float32Array(pre + s.data.length + post)
  for (let i = 0; i < x.length; i++) x[i] = 1e-4 * Math.sin(i * 0.37)
  x.set(s.data, pre)
  const mono = join(dir, 'show.wav')
  writeWav(mono, { channels: 1, sampleRate: sr, format: 'float32' }, x)
  const speechStart = pre / sr,
    speechEnd = (pre + s.data.length) / sr

  const contribute = reportContributors().get('inference')
  t.ok(contribute, 'the inference part registers a report contributor')
  const ctx = { inPath: mono, outPath: mono, input: readWav(mono).info, array: null, report: {} } as unknown as ReportContext
  const r = (await contribute!(ctx)) as {
    classes: Array<{ t: number; label: string; confidence: number }>
    vad: Array<{ start: number; end: number }>
    recommendations: Array<{ output: number; bands: unknown[]; confidence: number }>
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
})
