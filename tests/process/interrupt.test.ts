// Ctrl-C in the middle of `firmware process`: the engine stops, the half-written output is dropped,
// and the user gets one line saying where in the show it stopped and that nothing was written.

import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { boardArray, writeStageRecording } from '../bench/lib.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')

t.test('Ctrl-C mid-run leaves no output, no report, and says so', async (t) => {
  const dir = t.testdir({})
  const array = boardArray('jetson-agx-rack')
  writeFileSync(join(dir, 'array.json'), JSON.stringify(array))
  writeStageRecording(join(dir, 'long.wav'), array.mics, 40, { format: 'pcm16' })
  const child = spawn(
    node,
    [cli, 'process', '--array', 'array.json', '--in', 'long.wav', '--out', 'out.wav', '--report', 'r.json', '--progress-every', '0.05'],
    { cwd: dir },
  )
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  // Wait until the engine is writing (its temp file exists), then interrupt.
  let sawPartial = false
  for (let i = 0; i < 3000 && child.exitCode === null; i++) {
    if (readdirSync(dir).some((f) => f.endsWith('.partial'))) {
      sawPartial = true
      break
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  t.ok(sawPartial, 'the output was being written')
  child.kill('SIGINT')
  const code = await exited
  t.equal(code, 1, 'exits 1')
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('progress {'))
  t.equal(lines.length, 1, `one line besides progress (${stderr.trim()})`)
  const m = /^firmware: process: interrupted by SIGINT at (\d+):(\d\d\.\d) of 0:40\.0 \(show time\); no output was written \[FW_ERR_INTERRUPTED\]$/.exec(
    lines[0] ?? '',
  )
  t.ok(m, `says where it stopped (${lines[0]})`)
  const at = Number(m?.[1]) * 60 + Number(m?.[2])
  t.ok(at >= 0 && at < 40, `a position inside the show (${at} s)`)
  t.same(readdirSync(dir).sort(), ['array.json', 'long.wav'], 'nothing left behind')
})
