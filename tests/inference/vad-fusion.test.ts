// The offline VAD (issue 13): Silero's frames averaged with the crowd-state classifier's speech
// probability (fuseSpeech, FUSED_VAD). A phrase Silero half-hears (a quiet, reverberant voice) is
// kept whole when the classifier hears speech; music Silero flickers on is not made speech.
import t from 'tap'
import { FUSED_VAD, fuseSpeech, smoothVad, VAD_DEFAULTS } from '../../firmware/inference/vad.ts'

const frames = 100 // 3.2 s of 32 ms frames
const patchT = Array.from({ length: 12 }, (_, k) => 0.25 + 0.25 * k)

t.test('the classifier speech probability is interpolated between patch centres and weighted', async (t) => {
  const silero = new Float32Array(frames).fill(0.2)
  const speech = patchT.map((c) => (c < 1.6 ? 0 : 1))
  const f = fuseSpeech(silero, patchT, speech, 0.5)
  t.ok(Math.abs(f[0]! - 0.1) < 1e-6, 'before the first patch: its value held (0.5 * 0.2 + 0.5 * 0)')
  const i = Math.round(1.625 / 0.032 - 0.5) // between the centres 1.5 (no speech) and 1.75 (speech)
  t.ok(f[i]! > 0.1 && f[i]! < 0.6, `between patch centres: in between (${f[i]})`)
  t.ok(Math.abs(f.at(-1)! - 0.6) < 1e-6, 'after the last patch: its value held')
  t.same(fuseSpeech(silero, [], []), silero, 'without patches: Silero as it is')
})

t.test('a phrase Silero half-hears stays one interval when the classifier hears speech', async (t) => {
  // Silero flickers between 0.3 and 0.6 over 0.5..2.5 s; the classifier says speech there.
  const silero = Float32Array.from({ length: frames }, (_, i) => {
    const s = (i + 0.5) * 0.032
    return s > 0.5 && s < 2.5 ? (i % 3 === 0 ? 0.3 : 0.6) : 0.05
  })
  const speech = patchT.map((c) => (c > 0.5 && c < 2.5 ? 0.95 : 0.02))
  const alone = smoothVad(silero, VAD_DEFAULTS)
  const fused = smoothVad(fuseSpeech(silero, patchT, speech), FUSED_VAD.smoothing)
  t.equal(fused.length, 1, `fused: one interval (${JSON.stringify(fused)})`)
  t.ok(fused[0]!.start < 0.8 && fused[0]!.end > 2.2, 'covering the phrase')
  t.ok(alone.length >= 1, 'Silero alone finds it too, in pieces or whole')
  // Music: Silero flickers the same way but the classifier hears music: no speech.
  const music = smoothVad(
    fuseSpeech(
      silero,
      patchT,
      patchT.map(() => 0.02),
    ),
    FUSED_VAD.smoothing,
  )
  t.same(music, [], 'fused: music Silero flickers on is not speech')
})
