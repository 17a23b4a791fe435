// WAV files as a user meets them: every supported format reads and writes back bit for bit, files
// from other tools read, and corrupt or unsupported files are refused with one line that says why.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { FirmwareError } from '../../firmware/errors.ts'
import { readWav, type WavFormat, WavReader, WavWriter, wavInfo, wavLevels, writeWav } from '../../firmware/wav/wav.ts'
import { buildWav, dataChunk, randomCodes } from './wavfile.ts'

const formats: Array<{ format: WavFormat; tag: number; bits: number }> = [
  { format: 'pcm16', tag: 1, bits: 16 },
  { format: 'pcm24', tag: 1, bits: 24 },
  { format: 'pcm32', tag: 1, bits: 32 },
  { format: 'float32', tag: 3, bits: 32 },
]

function refused(t: Test, fn: () => unknown, code: string, pattern: RegExp): void {
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

t.test('every format round-trips bit for bit, plain and extensible headers, odd channel counts', async (t) => {
  const dir = t.testdir({})
  for (const { format, tag, bits } of formats) {
    for (const channels of [1, 3, 16]) {
      for (const extensible of [false, true]) {
        const frames = 1001
        const codes = randomCodes(format, frames * channels)
        const src = join(dir, `src-${format}-${channels}-${extensible}.wav`)
        writeFileSync(src, buildWav({ tag, channels, sampleRate: 48000, bits, data: codes, extensible }))
        const info = wavInfo(src)
        t.same(info, { channels, sampleRate: 48000, format, frames }, `${format} ${channels}ch header`)
        // 32-bit PCM needs double precision to be exact; the others are exact in float.
        const { data } = readWav(src, { precision: format === 'pcm32' ? 'float64' : 'float32' })
        const out = join(dir, `out-${format}-${channels}-${extensible}.wav`)
        writeWav(out, { channels, sampleRate: 48000, format, extensible }, data)
        t.ok(dataChunk(readFileSync(out)).equals(codes), `${format} ${channels}ch extensible=${extensible}: same sample bytes`)
        t.same(wavInfo(out), info, 'same header facts')
      }
    }
  }
})

t.test('integer samples scale to [-1, 1) and writing clips instead of wrapping', async (t) => {
  const dir = t.testdir({})
  const codes = Buffer.alloc(8)
  codes.writeInt16LE(-32768, 0)
  codes.writeInt16LE(16384, 2)
  codes.writeInt16LE(32767, 4)
  codes.writeInt16LE(-1, 6)
  writeFileSync(join(dir, 'a.wav'), buildWav({ tag: 1, channels: 1, sampleRate: 44100, bits: 16, data: codes }))
  t.same(Array.from(readWav(join(dir, 'a.wav')).data), [-1, 0.5, 32767 / 32768, -1 / 32768])
  writeWav(join(dir, 'b.wav'), { channels: 1, sampleRate: 44100, format: 'pcm16' }, new Float32Array([2, -2, Number.NaN, 0.25]))
  const d = dataChunk(readFileSync(join(dir, 'b.wav')))
  t.same([d.readInt16LE(0), d.readInt16LE(2), d.readInt16LE(4), d.readInt16LE(6)], [32767, -32768, 0, 8192])
})

t.test('files with extra chunks (LIST, odd-sized) before the data read', async (t) => {
  const dir = t.testdir({})
  const codes = randomCodes('pcm24', 2 * 50)
  writeFileSync(
    join(dir, 'x.wav'),
    buildWav({
      tag: 1,
      channels: 2,
      sampleRate: 96000,
      bits: 24,
      data: codes,
      extraChunks: [
        { id: 'LIST', body: Buffer.from('INFOISFT\x05\x00\x00\x00abcde', 'latin1') },
        { id: 'junk', body: Buffer.alloc(3) },
      ],
    }),
  )
  t.same(wavInfo(join(dir, 'x.wav')), { channels: 2, sampleRate: 96000, format: 'pcm24', frames: 50 })
})

t.test(
  'files written by sox read, and files written here read in sox',
  { skip: spawnSync('sox', ['--version']).status !== 0 && 'sox is not installed' },
  async (t) => {
    const dir = t.testdir({})
    const cases: Array<[WavFormat, string[]]> = [
      ['pcm16', ['-b', '16', '-e', 'signed-integer']],
      ['pcm24', ['-b', '24', '-e', 'signed-integer']],
      ['pcm32', ['-b', '32', '-e', 'signed-integer']],
      ['float32', ['-b', '32', '-e', 'floating-point']],
    ]
    for (const [format, enc] of cases) {
      const f = join(dir, `sox-${format}.wav`)
      const r = spawnSync('sox', ['-n', ...enc, '-c', '4', '-r', '48000', f, 'synth', '0.1', 'sine', '1000', 'gain', '-6'])
      t.equal(r.status, 0, `sox made ${format}`)
      const { info, data } = readWav(f)
      t.same(info, { channels: 4, sampleRate: 48000, format, frames: 4800 })
      let peak = 0
      for (const v of data) peak = Math.max(peak, Math.abs(v))
      t.ok(Math.abs(peak - 0.501) < 0.01, `${format}: a -6 dBFS sine peaks near 0.5 (got ${peak.toFixed(4)})`)
      const back = join(dir, `back-${format}.wav`)
      writeWav(back, { channels: 4, sampleRate: 48000, format }, data)
      const s = spawnSync('sox', [back, '-n', 'stat'], { encoding: 'utf8' })
      t.equal(s.status, 0, `sox reads our ${format} file`)
      t.match(s.stderr, /Samples read:\s+19200/)
    }
  },
)

t.test('streaming: a long multichannel file reads and writes block by block', async (t) => {
  const dir = t.testdir({})
  const channels = 16
  const frames = 48000 * 2 + 37
  const src = join(dir, 'long.wav')
  writeFileSync(src, buildWav({ tag: 3, channels, sampleRate: 48000, bits: 32, data: randomCodes('float32', frames * channels) }))
  const r = new WavReader(src)
  const w = new WavWriter(join(dir, 'copy.wav'), { channels, sampleRate: 48000, format: 'float32' })
  const block = new Float32Array(64 * channels)
  let total = 0
  for (;;) {
    const n = r.read(block)
    if (n === 0) break
    w.write(n === 64 ? block : block.subarray(0, n * channels))
    total += n
  }
  r.close()
  t.equal(total, frames)
  t.notOk(existsSync(join(dir, 'copy.wav')), 'nothing at the target before close')
  w.close()
  t.ok(dataChunk(readFileSync(join(dir, 'copy.wav'))).equals(dataChunk(readFileSync(src))))
  t.same(readdirSync(dir).sort(), ['copy.wav', 'long.wav'], 'no temp files left')
})

t.test('an aborted or failed write leaves no file behind', async (t) => {
  const dir = t.testdir({})
  const w = new WavWriter(join(dir, 'out.wav'), { channels: 2, sampleRate: 48000 })
  w.write(new Float32Array(200))
  w.abort()
  t.same(readdirSync(dir), [], 'abort removes the temp file')
  refused(
    t,
    () => writeWav(join(dir, 'missing-dir', 'out.wav'), { channels: 1, sampleRate: 48000 }, new Float32Array(4)),
    'FW_ERR_IO',
    /missing-dir\/out\.wav: cannot create/,
  )
  mkdirSync(join(dir, 'adir'))
  refused(t, () => writeWav(join(dir, 'adir'), { channels: 1, sampleRate: 48000 }, new Float32Array(4)), 'FW_ERR_IO', /adir: /)
  t.same(readdirSync(dir), ['adir'])
  refused(t, () => writeWav(join(dir, 'x.wav'), { channels: 0, sampleRate: 48000 }, new Float32Array(4)), 'FW_ERR_BAD_OPTION', /channels must be/)
  refused(
    t,
    () => writeWav(join(dir, 'x.wav'), { channels: 3, sampleRate: 48000 }, new Float32Array(4)),
    'FW_ERR_BAD_OPTION',
    /not a whole number of 3-channel frames/,
  )
})

t.test('corrupt, truncated and unsupported files are refused with one clear line', async (t) => {
  const dir = t.testdir({})
  const pcm = (o: Partial<Parameters<typeof buildWav>[0]> = {}) => buildWav({ tag: 1, channels: 2, sampleRate: 48000, bits: 16, data: Buffer.alloc(400), ...o })
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['truncated.wav', pcm({ dataSize: 960000 }), 'FW_ERR_BAD_WAV', /truncated\.wav: data chunk says 960000 bytes but the file ends after 400$/],
    ['cut.wav', pcm().subarray(0, 30), 'FW_ERR_BAD_WAV', /cut\.wav: fmt chunk says 16 bytes but the file ends after 10$/],
    ['empty.wav', Buffer.alloc(0), 'FW_ERR_BAD_WAV', /empty\.wav: is empty, not a WAV file/],
    ['text.wav', Buffer.from('this is not audio at all, just some text'), 'FW_ERR_BAD_WAV', /text\.wav: not a WAV file/],
    ['nofmt.wav', pcm({ noFmt: true }), 'FW_ERR_BAD_WAV', /nofmt\.wav: has no fmt chunk/],
    ['nodata.wav', pcm().subarray(0, 36), 'FW_ERR_BAD_WAV', /nodata\.wav: has no data chunk/],
    ['8bit.wav', pcm({ bits: 8, data: Buffer.alloc(10) }), 'FW_ERR_BAD_WAV', /8bit\.wav: 8-bit PCM is not supported; use 16, 24 or 32-bit PCM or 32-bit float/],
    ['double.wav', pcm({ tag: 3, bits: 64, data: Buffer.alloc(32) }), 'FW_ERR_BAD_WAV', /double\.wav: 64-bit float is not supported/],
    ['alaw.wav', pcm({ tag: 6, bits: 8, data: Buffer.alloc(10) }), 'FW_ERR_BAD_WAV', /alaw\.wav: format tag 0x0006 .* not supported/],
    ['align.wav', pcm({ blockAlign: 6 }), 'FW_ERR_BAD_WAV', /align\.wav: block align 6 does not match 2 channels of 2 bytes/],
    ['partial.wav', pcm({ data: Buffer.alloc(402) }), 'FW_ERR_BAD_WAV', /partial\.wav: data chunk of 402 bytes is not a whole number of 4-byte frames/],
    ['zero.wav', pcm({ channels: 0 }), 'FW_ERR_BAD_WAV', /zero\.wav: says 0 channels/],
  ]
  for (const [name, bytes, code, pattern] of cases) {
    writeFileSync(join(dir, name), bytes)
    refused(t, () => wavInfo(join(dir, name)), code, pattern)
    refused(t, () => new WavReader(join(dir, name)), code, pattern)
  }
  refused(t, () => wavInfo(join(dir, 'absent.wav')), 'FW_ERR_IO', /absent\.wav: no such file/)
})

t.test('whole-file levels: peak and mean square per channel', async (t) => {
  const dir = t.testdir({})
  const frames = 48000
  const data = new Float32Array(frames * 2)
  for (let i = 0; i < frames; i++) {
    data[2 * i] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 48000)
    data[2 * i + 1] = i === 1234 ? -0.75 : 0
  }
  writeWav(join(dir, 'l.wav'), { channels: 2, sampleRate: 48000, format: 'float32' }, data)
  const { peak, meanSquare } = wavLevels(join(dir, 'l.wav'))
  t.ok(Math.abs(peak[0]! - 0.5) < 1e-6, 'sine peak 0.5')
  t.ok(Math.abs(meanSquare[0]! - 0.125) < 1e-6, 'sine mean square 0.125')
  t.equal(peak[1], 0.75, 'a single negative sample sets the peak')
  t.ok(Math.abs(meanSquare[1]! - 0.5625 / frames) < 1e-12)
})

t.test('damaged files (random bytes flipped, cut anywhere) are read or refused, never crash', async (t) => {
  const dir = t.testdir({})
  const good = buildWav({
    tag: 1,
    channels: 3,
    sampleRate: 48000,
    bits: 24,
    data: randomCodes('pcm24', 3 * 40),
    extensible: true,
    extraChunks: [{ id: 'LIST', body: Buffer.from('INFOabc', 'latin1') }],
  })
  let refusedCount = 0
  let readCount = 0
  const seedRand = (() => {
    let s = 12345
    return () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296
  })()
  const tryRead = (bytes: Buffer, name: string) => {
    writeFileSync(join(dir, name), bytes)
    try {
      const { info, data } = readWav(join(dir, name))
      t.equal(data.length, info.frames * info.channels)
      readCount++
    } catch (e) {
      if (!(e instanceof FirmwareError) || e.code !== 'FW_ERR_BAD_WAV' || /\n/.test(e.message)) t.fail(`unexpected error: ${String(e)}`)
      refusedCount++
    }
  }
  for (let cut = 0; cut < good.length; cut += 3) tryRead(good.subarray(0, cut), 'cut.wav')
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(good)
    const flips = 1 + Math.floor(seedRand() * 4)
    // Mostly in the header, where the damage matters.
    for (let f = 0; f < flips; f++) b[Math.floor(seedRand() * 120)] = Math.floor(seedRand() * 256)
    tryRead(b, 'flip.wav')
  }
  t.ok(refusedCount > 0 && readCount > 0, `${readCount} still readable, ${refusedCount} refused, none crashed`)
})
