#!/usr/bin/env node
// Runs the whole suite with tap and closes with the one line CI reads: "N passed, N failed".
// Extra arguments are passed to tap (e.g. a single test file).
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const tapBin = join(import.meta.dirname, '..', 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')
const files = process.argv.slice(2)
const child = spawn(process.execPath, [tapBin, ...(files.length ? files : ['tests/**/*.test.ts'])], {
  stdio: ['ignore', 'pipe', 'inherit'],
  // Node's compile cache (type stripping included) for every test process and the processes they
  // start: ~180 files each import much of firmware/, and compiling it again per file cost ~0.7 s.
  env: { NODE_COMPILE_CACHE: join(tmpdir(), 'firmware-test-compile-cache'), ...process.env, FORCE_COLOR: '0' },
})
let tail = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4096)
})
child.on('close', (code) => {
  const m = /#\s*\{\s*total:\s*(\d+)(?:,\s*pass:\s*(\d+))?(?:,\s*fail:\s*(\d+))?(?:,\s*todo:\s*(\d+))?(?:,\s*skip:\s*(\d+))?/.exec(tail)
  const fail = m ? Number(m[3] ?? 0) : 1
  const pass = m ? Number(m[2] ?? 0) : 0
  const skip = m ? Number(m[5] ?? 0) + Number(m[4] ?? 0) : 0
  // If tap died before its summary, say so as a failure rather than print a false zero.
  console.log(`${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}`)
  process.exit(code === 0 && fail === 0 ? 0 : 1)
})
