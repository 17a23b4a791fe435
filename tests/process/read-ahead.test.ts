// The file backend reads the input ahead on a thread of its own (read, convert, meter), handing
// pieces to the audio thread through two counters and a futex each way. Built here with
// g++ -fsanitize=thread around the real backend (tests/process/read_ahead_tsan.cc): every block
// the "audio thread" takes must equal a plain sequential read of the file, the input meters must
// equal those of that read to the bit, and a stop mid-file must end the reader thread cleanly.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../../firmware/board/profile.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { runTsan } from '../helpers/tsan.ts'
import { gaussian, rng } from './stage.ts'

const src = join(repoRoot, 'addons', 'src')

interface Result {
  blocks: number
  frames: number
  mismatches: number
  meteredFrames: number
  sameLevels: boolean
}

t.test('read-ahead: the audio thread gets the file as a plain read has it, under ThreadSanitizer', async (t) => {
  const dir = t.testdir()
  const bin = join(dir, 'read_ahead_tsan')
  const cc = spawnSync(
    'g++',
    [
      '-std=c++17',
      '-O1',
      '-g',
      '-fsanitize=thread',
      '-pthread',
      `-I${src}`,
      join(repoRoot, 'tests', 'process', 'read_ahead_tsan.cc'),
      join(src, 'backends', 'file_backend.cc'),
      join(src, 'wav.cc'),
      join(src, 'wav_join.cc'),
      '-o',
      bin,
    ],
    { encoding: 'utf8' },
  )
  t.equal(cc.status, 0, `g++ builds the harness ${cc.stderr.trim().split('\n')[0] ?? ''}`)
  // 5 s of 6 channels, 24-bit: 58.6 pieces of 4096 frames, the last one short.
  const input = join(dir, 'in.wav')
  const frames = 240_007
  const noise = gaussian(rng(7))
  const w = new WavWriter(input, { channels: 6, sampleRate: 48000, format: 'pcm24' })
  const x = new Float32Array(frames * 6)
  for (let i = 0; i < x.length; i++) x[i] = 0.2 * noise()
  w.write(x)
  w.close()
  for (const block of [64, 1024]) {
    const r = runTsan(bin, [input, join(dir, 'out.wav'), String(block)])
    t.notMatch(r.stderr, /ThreadSanitizer/, `no TSan report (block ${block})`)
    t.equal(r.status, 0, `the harness passes (block ${block}) ${r.stderr.trim()}`)
    const res = JSON.parse(r.stdout) as Result
    t.equal(res.frames, frames, `every frame arrived (block ${block})`)
    t.equal(res.mismatches, 0, 'each sample as the plain read has it, in order')
    t.equal(res.meteredFrames, frames, 'the meters saw every frame once')
    t.ok(res.sameLevels, 'and equal the plain read’s meters to the bit')
  }
  // Stopped mid-file (Ctrl-C): the reader thread may be pieces ahead or waiting for room.
  const r = runTsan(bin, [input, join(dir, 'out.wav'), '64', '300'])
  t.notMatch(r.stderr, /ThreadSanitizer/, 'no TSan report when stopped mid-file')
  t.equal(r.status, 0, `close() ends the reader thread ${r.stderr.trim()}`)
  t.equal((JSON.parse(r.stdout) as Result).blocks, 300, 'after 300 blocks')
})
