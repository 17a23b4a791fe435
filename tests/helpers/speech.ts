// A short phrase from espeak-ng (a speech source none of the models was trained on), at the 16 kHz
// the VAD hears, with half a second of silence on each side. espeak-ng writes 22050 Hz; the
// nearest sample is enough for tests that compare two ways of running the same model.

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { readWav } from '../../firmware/wav/wav.ts'

export function espeakAt16k(dir: string, text = 'good evening, and welcome to the show. one two, one two, check'): Float32Array {
  const file = join(dir, 'speech.wav')
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', file, text])
  const s = readWav(file)
  const mono = s.data as Float32Array
  const n16 = Math.floor((mono.length * 16000) / s.info.sampleRate)
  const x16 = new Float32Array(n16 + 16000)
  for (let i = 0; i < n16; i++) x16[8000 + i] = mono[Math.floor((i * s.info.sampleRate) / 16000)]!
  return x16
}
