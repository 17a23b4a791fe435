// Several files as one recording: a show as one mono file per channel, and a recording a recorder
// split into consecutive files at its size limit. The joined stream must be bit-identical to the
// recording before it was split or separated, and files that do not belong together are refused
// with one line naming the file.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { FirmwareError } from '../../firmware/errors.ts'
import { readWav, WavReader, wavInfo, wavLevels, writeWav } from '../../firmware/wav/wav.ts'
import { buildWav, randomCodes } from './wavfile.ts'

function refused(t: Test, fn: () => unknown, pattern: RegExp, code = 'FW_ERR_BAD_WAV'): void {
  try {
    fn()
    t.fail(`expected ${code}`)
  } catch (e) {
    t.ok(e instanceof FirmwareError, 'a FirmwareError')
    t.equal((e as FirmwareError).code, code)
    t.match((e as Error).message, pattern)
    t.notMatch((e as Error).message, /\n/, 'one line')
  }
}

const channels = 16
const frames = 48_000 + 123
const bytes = 3

/** A 16-channel pcm24 recording of random codes, and the same split and separated. */
function show(t: Test) {
  const dir = t.testdir({})
  const codes = randomCodes('pcm24', frames * channels)
  const whole = join(dir, 'whole.wav')
  writeFileSync(whole, buildWav({ tag: 1, channels, sampleRate: 48000, bits: 24, data: codes, extensible: true }))
  // Split at arbitrary frame boundaries, one part a single frame, as a recorder's size limit would.
  const cuts = [0, 1, 4097, 4098, 30_001, frames]
  const parts = cuts.slice(1).map((end, i) => {
    const p = join(dir, `part-${i}.wav`)
    const body = codes.subarray(cuts[i]! * channels * bytes, end * channels * bytes)
    writeFileSync(p, buildWav({ tag: 1, channels, sampleRate: 48000, bits: 24, data: body, extensible: true }))
    return p
  })
  // One mono file per channel.
  const monos = Array.from({ length: channels }, (_, k) => {
    const b = Buffer.alloc(frames * bytes)
    for (let i = 0; i < frames; i++) codes.copy(b, i * bytes, (i * channels + k) * bytes, (i * channels + k + 1) * bytes)
    const p = join(dir, `mic-${k + 1}.wav`)
    writeFileSync(p, buildWav({ tag: 1, channels: 1, sampleRate: 48000, bits: 24, data: b }))
    return p
  })
  return { dir, whole, parts, monos }
}

t.test('a recording split at arbitrary frames joins back bit for bit, across every boundary', async (t) => {
  const { whole, parts } = show(t)
  const expected = readWav(whole).data
  t.same(wavInfo([parts]), wavInfo(whole), 'same header facts')
  const got = readWav([parts]).data
  t.equal(got.length, expected.length)
  t.ok(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer)), 'bit-identical joined samples')
  // Streamed in an odd block size that straddles the boundaries, and after a seek into a part.
  const r = new WavReader([parts])
  const block = new Float32Array(777 * channels)
  const streamed = new Float32Array(frames * channels)
  let at = 0
  for (let n = r.read(block); n > 0; n = r.read(block)) {
    streamed.set(block.subarray(0, n * channels), at * channels)
    at += n
  }
  t.equal(at, frames, 'every frame')
  t.ok(Buffer.from(streamed.buffer).equals(Buffer.from(expected.buffer)), 'bit-identical when streamed')
  r.seek(4000)
  const tail = new Float32Array(200 * channels)
  t.equal(r.read(tail), 200)
  t.same(tail, expected.subarray(4000 * channels, 4200 * channels), 'seek then read across the 4097/4098 cuts')
  r.close()
  t.same(wavLevels([parts]), wavLevels(whole), 'levels over the joined parts')
})

t.test('one mono file per channel reads as the multichannel recording', async (t) => {
  const { whole, monos, dir } = show(t)
  t.same(wavInfo(monos.map((m) => [m])), wavInfo(whole))
  t.ok(Buffer.from(readWav(monos.map((m) => [m])).data.buffer).equals(Buffer.from(readWav(whole).data.buffer)), 'bit-identical')
  // Mono channels, each itself split: both at once.
  const split = monos.map((m, k) => {
    const { data } = readWav(m)
    const a = join(dir, `mic-${k + 1}-a.wav`)
    const b = join(dir, `mic-${k + 1}-b.wav`)
    const cut = 1000 + k * 997
    writeWav(a, { channels: 1, sampleRate: 48000, format: 'pcm24' }, data.subarray(0, cut))
    writeWav(b, { channels: 1, sampleRate: 48000, format: 'pcm24' }, data.subarray(cut))
    return [a, b]
  })
  t.ok(Buffer.from(readWav(split).data.buffer).equals(Buffer.from(readWav(whole).data.buffer)), 'split monos, cut at different frames, join bit for bit')
})

t.test('files that do not belong together are refused, naming the file', async (t) => {
  const dir = t.testdir({})
  const mono = (name: string, rate: number, format: 'pcm16' | 'pcm24', n: number) => {
    const p = join(dir, name)
    writeWav(p, { channels: 1, sampleRate: rate, format }, new Float32Array(n))
    return p
  }
  const a = mono('a.wav', 48000, 'pcm24', 1000)
  const rate = mono('b-44k.wav', 44100, 'pcm24', 1000)
  const fmt = mono('c-16bit.wav', 48000, 'pcm16', 1000)
  const short = mono('d-short.wav', 48000, 'pcm24', 999)
  const stereo = join(dir, 'e-stereo.wav')
  writeWav(stereo, { channels: 2, sampleRate: 48000, format: 'pcm24' }, new Float32Array(2000))
  refused(t, () => wavInfo([[a], [rate]]), /^.*b-44k\.wav: 44100 Hz but .*a\.wav is 48000 Hz/)
  refused(t, () => wavInfo([[a], [fmt]]), /c-16bit\.wav: pcm16 samples but .*a\.wav has pcm24/)
  refused(t, () => wavInfo([[a], [short]]), /d-short\.wav: 999 frames but .*a\.wav has 1000; the channels of a show must have the same length/)
  refused(t, () => wavInfo([[a, stereo]]), /e-stereo\.wav: 2 channel\(s\) but the part before it/)
  refused(t, () => wavInfo([[a], [join(dir, 'missing.wav')]]), /missing\.wav: no such file/, 'FW_ERR_IO')
})
