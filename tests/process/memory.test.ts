// Memory stays flat with the length of the show: the resident memory of a real `firmware process`
// child, analysers on, read from /proc as it passes 1 minute and 4 minutes of show time (its
// progress lines say where it is); the 2-hour figures are in `npm run bench -- show`. Before, it grew by about 4 MB a minute: the DOA track as one
// object per estimate (94 a second) and the heap V8 grew for them and for a round trip per VAD
// window; 2 hours would have reached about 630 MB. Now the track is 32 bytes an estimate
// (DoaTrack), the VAD sends a second of windows per request, and the meters need no second pass.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { circularArray, gaussian, rng } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
const mics = circularArray(4, 0.05)
/** Growth allowed from 1 to 4 minutes of show (before: about 9 MB): what is left is the report's own content (the DOA track, class entries: under 2 MB here) and the allocator's noise. */
const BOUND_MB = 7

/** Streams `seconds` of a 4-mic recording (a tone and noise) to disk, block by block. */
function record(path: string, seconds: number): void {
  const w = new WavWriter(path, { channels: 4, sampleRate: 48000, format: 'pcm16' })
  const noise = gaussian(rng(5))
  const block = new Float32Array(4800 * 4)
  for (let b = 0; b < (seconds * 48000) / 4800; b++) {
    for (let i = 0; i < 4800; i++) {
      const s = 0.1 * Math.sin((2 * Math.PI * 440 * (b * 4800 + i)) / 48000)
      for (let k = 0; k < 4; k++) block[i * 4 + k] = s + 0.02 * noise()
    }
    w.write(block)
  }
  w.close()
}

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
  } catch {
    return Number.NaN
  }
}

t.test('resident memory at 4 minutes of show is within a bound of 1 minute', async (t) => {
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  record(join(dir, 'in.wav'), 240)
  const args = ['process', '--array', 'array.json', '--in', 'in.wav', '--out', 'out.wav', '--report', 'r.json', '--beams', '1', '--progress-every', '0.2']
  const child = spawn(node, [cli, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let at2 = Number.NaN
  let at8 = 0
  let tail = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    const lines = (tail + chunk).split('\n')
    tail = lines.pop()!
    for (const l of lines) {
      const m = /^progress (\{.*\})$/.exec(l)
      if (!m) continue
      const position = (JSON.parse(m[1]!) as { position: number }).position
      if (position >= 60 && Number.isNaN(at2)) at2 = rssMb(child.pid!)
      if (position >= 225) at8 = Math.max(at8, rssMb(child.pid!))
    }
  })
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  t.equal(code, 0, 'exit 0')
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ProcessReport
  t.equal(report.analysisErrors, undefined, 'the analysers ran')
  t.ok(report.classes.length > 240 * 3, `classes all along (${report.classes.length})`)
  t.ok(at2 > 0 && at8 > 0, `sampled at 1 and 4 minutes (${at2.toFixed(0)} MB, ${at8.toFixed(0)} MB)`)
  t.comment(`RSS at 1 min ${at2.toFixed(0)} MB, at 4 min ${at8.toFixed(0)} MB`)
  t.ok(at8 - at2 < BOUND_MB, `4 min is at most ${BOUND_MB} MB above 1 min (${at2.toFixed(0)} -> ${at8.toFixed(0)} MB)`)
})
