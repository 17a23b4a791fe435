// WAV through the real CLI, as a user would check a transfer: line feeds (no array) in every
// format go through the engine's flat chain and come back out in the same format. The engine
// works in 32-bit float, so 16/24-bit PCM and float come back bit for bit, and 32-bit PCM within
// float precision (24 significant bits).

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildWav, dataChunk, randomCodes } from './wavfile.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

const formats = [
  { format: 'pcm16', tag: 1, bits: 16 },
  { format: 'pcm24', tag: 1, bits: 24 },
  { format: 'pcm32', tag: 1, bits: 32 },
  { format: 'float32', tag: 3, bits: 32 },
] as const

for (const { format, tag, bits } of formats) {
  t.test(`${format} line feeds pass through firmware process unchanged`, async (t) => {
    const dir = t.testdir({})
    const channels = 3
    const frames = 4801
    const codes = randomCodes(format, channels * frames)
    writeFileSync(join(dir, 'in.wav'), buildWav({ tag, channels, sampleRate: 48000, bits, data: codes, extensible: format === 'pcm24' }))
    const r = spawnSync(node, [cli, 'process', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--format', format, '--no-analysis'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
    })
    t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`)
    const out = dataChunk(readFileSync(join(dir, 'out.wav')))
    t.equal(out.length, codes.length, 'same number of samples')
    if (format !== 'pcm32') {
      t.ok(out.equals(codes), 'bit for bit')
    } else {
      let worst = 0
      for (let i = 0; i < codes.length; i += 4) worst = Math.max(worst, Math.abs(out.readInt32LE(i) - codes.readInt32LE(i)))
      t.ok(worst <= 128, `within float precision (largest difference ${worst} of 2^31 codes)`)
    }
    t.same(readdirSync(dir).sort(), ['in.wav', 'out.wav', 'r.json'])
  })
}
