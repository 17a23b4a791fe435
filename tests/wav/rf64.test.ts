// RF64 (EBU Tech 3306), the format of recordings past 4 GiB, read and written without writing 4 GB:
// the writer's switch point is set low, and the reader is given a sparse file whose ds64 chunk says
// more than 4 GiB. sox, the Debian tool, checks that others read what we write.

import { spawnSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { FirmwareError } from '../../firmware/errors.ts'
import { readWav, WavReader, WavWriter, wavInfo } from '../../firmware/wav/wav.ts'
import { randomCodes, rf64Header } from './wavfile.ts'

const hasSox = spawnSync('sox', ['--version']).status === 0

function refused(t: Test, fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn()
    t.fail(`expected ${code}`)
  } catch (e) {
    t.ok(e instanceof FirmwareError, 'a FirmwareError')
    t.equal((e as FirmwareError).code, code)
    t.match((e as Error).message, pattern)
  }
}

function sine(channels: number, frames: number, offset = 0): Float32Array {
  const b = new Float32Array(channels * frames)
  for (let i = 0; i < frames; i++) for (let k = 0; k < channels; k++) b[i * channels + k] = 0.5 * Math.sin((i + offset) * 0.01 * (k + 1))
  return b
}

t.test('the writer switches to RF64 with a ds64 chunk past its size limit, and sox reads both kinds', async (t) => {
  const dir = t.testdir({})
  const channels = 16
  const frames = 5000
  const audio = sine(channels, frames)
  const write = (path: string, rf64Above?: number) => {
    const w = new WavWriter(path, { channels, sampleRate: 48000, format: 'pcm24', ...(rf64Above ? { rf64Above } : {}) })
    // In blocks, as the engine writes.
    for (let i = 0; i < frames; i += 480) w.write(audio.subarray(i * channels, Math.min(frames, i + 480) * channels))
    w.close()
  }
  const big = join(dir, 'big.wav')
  const small = join(dir, 'small.wav')
  write(big, 100_000)
  write(small)
  const b = readFileSync(big)
  const dataBytes = frames * channels * 3
  t.equal(b.toString('latin1', 0, 4), 'RF64')
  t.equal(b.readUInt32LE(4), 0xffffffff, 'RIFF size says "see ds64"')
  t.equal(b.toString('latin1', 12, 16), 'ds64', 'ds64 is the first chunk')
  t.equal(Number(b.readBigUInt64LE(20)), b.length - 8, 'ds64 RIFF size')
  t.equal(Number(b.readBigUInt64LE(28)), dataBytes, 'ds64 data size')
  t.equal(Number(b.readBigUInt64LE(36)), frames, 'ds64 sample count')
  const dataAt = b.indexOf('data', 0, 'latin1')
  t.equal(b.readUInt32LE(dataAt + 4), 0xffffffff, 'data size says "see ds64"')
  const s = readFileSync(small)
  t.equal(s.toString('latin1', 0, 4), 'RIFF', 'under the limit the file stays plain RIFF')
  t.equal(s.toString('latin1', 12, 16), 'JUNK', 'with the ds64 room reserved as JUNK')
  t.ok(b.subarray(dataAt + 8).equals(s.subarray(s.indexOf('data', 0, 'latin1') + 8)), 'same sample bytes')
  t.same(wavInfo(big), { channels, sampleRate: 48000, format: 'pcm24', frames })
  t.same(readWav(big).data, readWav(small).data, 'RF64 reads back the same samples')
  if (!hasSox) {
    t.comment('sox is not installed (scripts/setup.sh installs it): interop not checked')
    return
  }
  for (const f of [big, small]) {
    const info = spawnSync('sox', ['--i', '-s', f], { encoding: 'utf8' })
    t.equal(info.stdout.trim(), String(frames), `sox reads ${f.endsWith('big.wav') ? 'RF64' : 'RIFF+JUNK'}: sample count`)
    const raw = spawnSync('sox', [f, '-t', 'raw', '-'], { maxBuffer: 1 << 24 })
    t.ok(raw.stdout.equals(b.subarray(dataAt + 8, dataAt + 8 + dataBytes)), 'sox decodes the same bytes')
  }
})

t.test('a sparse RF64 file whose ds64 says 6 GB: header, first and last block read, seek, end', async (t) => {
  const dir = t.testdir({})
  const channels = 16
  const frameBytes = channels * 3
  const frames = Math.ceil(6e9 / frameBytes)
  const dataBytes = frames * frameBytes
  const head = rf64Header({ tag: 1, channels, sampleRate: 48000, bits: 24, dataBytes })
  const path = join(dir, 'show.wav')
  const blockFrames = 480
  const first = randomCodes('pcm24', blockFrames * channels)
  const last = randomCodes('pcm24', blockFrames * channels)
  const fd = openSync(path, 'w')
  try {
    writeSync(fd, head, 0, head.length, 0)
    writeSync(fd, first, 0, first.length, head.length)
    // Writing the last block at its offset leaves a hole: the file is sparse, nothing in between is on disk.
    writeSync(fd, last, 0, last.length, head.length + dataBytes - last.length)
  } finally {
    closeSync(fd)
  }
  t.ok(statSync(path).size > 2 ** 32, 'the file passes 4 GiB')
  t.same(wavInfo(path), { channels, sampleRate: 48000, format: 'pcm24', frames })
  const r = new WavReader(path)
  const buf = new Float64Array(blockFrames * channels)
  const codes = (b: Float64Array) => {
    const out = Buffer.alloc(b.length * 3)
    for (let i = 0; i < b.length; i++) out.writeIntLE(Math.round(b[i]! * 8388608), i * 3, 3)
    return out
  }
  t.equal(r.read(buf), blockFrames)
  t.ok(codes(buf).equals(first), 'first block bit for bit')
  r.seek(frames - blockFrames)
  t.equal(r.read(buf), blockFrames)
  t.ok(codes(buf).equals(last), 'last block bit for bit (past 4 GiB)')
  t.equal(r.read(buf), 0, 'then the end')
  refused(t, () => r.seek(frames + 1), 'FW_ERR_BAD_OPTION', /cannot seek to frame/)
  r.close()
  // (sox is not asked here: `sox --i` reads the whole 6 GB to find the length, 45 s.)
})

t.test('broken RF64 headers are refused with one line naming the file', async (t) => {
  const dir = t.testdir({})
  const noDs64 = join(dir, 'no-ds64.wav')
  const head = rf64Header({ tag: 1, channels: 2, sampleRate: 48000, bits: 16, dataBytes: 400, withDs64: false })
  writeSync(openSync(noDs64, 'w'), Buffer.concat([head, Buffer.alloc(400)]))
  refused(t, () => wavInfo(noDs64), 'FW_ERR_BAD_WAV', /no-ds64\.wav: RF64 file without a ds64 chunk/)
  // ds64 promises 6 GB, the file holds 400 bytes: a truncated copy of a long show.
  const short = join(dir, 'short.wav')
  writeSync(openSync(short, 'w'), Buffer.concat([rf64Header({ tag: 1, channels: 2, sampleRate: 48000, bits: 16, dataBytes: 6e9 }), Buffer.alloc(400)]))
  refused(t, () => wavInfo(short), 'FW_ERR_BAD_WAV', /short\.wav: data chunk says 6000000000 bytes but the file ends after 400/)
})
