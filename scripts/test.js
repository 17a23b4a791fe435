#!/usr/bin/env node
// Runs the whole suite with tap and closes with the one line CI reads: "N passed, N failed".
// Extra arguments are passed to tap (e.g. a single test file).
//
// The whole suite runs in two phases. Files that measure nothing against the wall clock (stores,
// files, DSP, models, the command registry, provisioning, the repository's own checks) run two at
// a time; every file that runs the real engine, the watchdog or a transport against wall-clock
// deadlines runs alone afterwards (.taprc: jobs 1), so those never measure each other.
import { spawn } from 'node:child_process'
import { globSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const tapBin = join(import.meta.dirname, '..', 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')
const PARALLEL = /^tests\/(store|wav|dsp|models|commands|provisioning|transport)\/|^tests\/[^/]+\.test\.ts$/

/** One tap run; resolves to its counts (a run that died before its summary counts as a failure). */
function tap(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tapBin, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Node's compile cache (type stripping included) for every test process and the processes they
      // start: the files each import much of firmware/.
      env: { NODE_COMPILE_CACHE: join(tmpdir(), 'firmware-test-compile-cache'), ...process.env, FORCE_COLOR: '0' },
    })
    let tail = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      tail = (tail + chunk.toString()).slice(-4096)
    })
    child.on('close', (code) => {
      const m = /#\s*\{\s*total:\s*(\d+)(?:,\s*pass:\s*(\d+))?(?:,\s*fail:\s*(\d+))?(?:,\s*todo:\s*(\d+))?(?:,\s*skip:\s*(\d+))?/.exec(tail)
      resolve({
        ok: code === 0,
        fail: m ? Number(m[3] ?? 0) : 1,
        pass: m ? Number(m[2] ?? 0) : 0,
        skip: m ? Number(m[5] ?? 0) + Number(m[4] ?? 0) : 0,
      })
    })
  })
}

const files = process.argv.slice(2)
const runs = []
if (files.length) runs.push(await tap(files))
else {
  const all = globSync('tests/**/*.test.ts').sort()
  const parallel = all.filter((f) => PARALLEL.test(f))
  const alone = all.filter((f) => !PARALLEL.test(f))
  runs.push(await tap(['--jobs=2', ...parallel]))
  runs.push(await tap(alone))
}
const sum = (k) => runs.reduce((n, r) => n + r[k], 0)
const fail = sum('fail')
const skip = sum('skip')
console.log(`${sum('pass')} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}`)
process.exit(runs.every((r) => r.ok) && fail === 0 ? 0 : 1)
