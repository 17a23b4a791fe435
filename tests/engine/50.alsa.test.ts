// The ALSA backend against ALSA's own `file` plugin over a `null` device: no sound card needed.
// The capture PCM reads a raw float file, the playback PCM writes one; the engine in between
// applies -6 dB, so the output file must hold the input 6 dB down.

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const fixture = join(import.meta.dirname, 'fixtures', 'alsa-run.ts')
const sr = 48000

function asoundrc(dir: string): string {
  const conf = join(dir, 'asound.conf')
  writeFileSync(
    conf,
    `
pcm.testcap {
  type file
  slave.pcm { type null }
  file "${join(dir, 'capture-copy.raw')}"
  infile "${join(dir, 'in.raw')}"
  format "raw"
}
pcm.testplay {
  type file
  slave.pcm { type null }
  file "${join(dir, 'out.raw')}"
  format "raw"
}
`,
  )
  return conf
}

function run(dir: string, capture: string, playback: string, blocks: number) {
  const r = spawnSync(process.execPath, [fixture, capture, playback, String(blocks)], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ALSA_CONFIG_PATH: asoundrc(dir) },
  })
  if (r.status !== 0) throw new Error(`alsa run failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as Record<string, unknown>
}

t.test('audio passes through the ALSA backend (file plugin, null device)', async (t) => {
  const dir = t.testdir()
  const frames = sr // one second, two channels: 500 Hz and 700 Hz at 0.5 peak
  const input = new Float32Array(frames * 2)
  for (let i = 0; i < frames; i++) {
    input[2 * i] = 0.5 * Math.sin((2 * Math.PI * 500 * i) / sr)
    input[2 * i + 1] = 0.5 * Math.sin((2 * Math.PI * 700 * i) / sr)
  }
  writeFileSync(join(dir, 'in.raw'), input)
  const blocks = 600
  const stats = run(dir, 'testcap', 'testplay', blocks)
  t.equal(stats.blocks, blocks, `${blocks} blocks ran`)
  t.equal(stats.xruns, 0, 'no xruns on the null device')
  const raw = readFileSync(join(dir, 'out.raw'))
  const out = new Float32Array(raw.buffer, raw.byteOffset, Math.floor(raw.byteLength / 4))
  // The playback stream starts with the backend's silence prefill: periods - 1 = 2 blocks.
  const offset = 2 * 64 * 2
  for (let i = 0; i < offset; i++)
    if (out[i] !== 0) {
      t.fail('the prefill is silence')
      break
    }
  t.ok(out.length / 2 >= blocks * 64, `the playback file holds ${out.length / 2} frames`)
  let worst = 0
  for (let i = 4800; i < blocks * 64 - 64; i++) {
    for (let ch = 0; ch < 2; ch++) {
      const got = out[offset + 2 * i + ch]!
      worst = Math.max(worst, Math.abs(got - 10 ** (-6 / 20) * input[2 * i + ch]!))
    }
  }
  t.ok(worst < 1e-4, `the output is the input at -6 dB (worst error ${worst.toExponential(2)})`)
})

t.test('an ALSA device that does not exist is refused with a clear error', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'in.raw'), new Float32Array(1024))
  const r = run(dir, 'testcap', 'no_such_output', 10)
  t.equal(r.code, 'FW_ERR_UNKNOWN_DEVICE', 'coded as an unknown device')
  t.match(r.error, /ALSA playback device "no_such_output"/, 'the message names the device')
})
