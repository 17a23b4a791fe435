// Running a ThreadSanitizer build. GCC 12's TSan cannot map its shadow memory under the high mmap
// randomisation of recent kernels; running the program with address randomisation off (setarch -R)
// avoids that. Some container sandboxes forbid that personality flag; then the program runs as it
// is. A race halts the program with exit code 66.

import { type SpawnSyncReturns, spawnSync } from 'node:child_process'

const tsanEnv = { ...process.env, TSAN_OPTIONS: 'halt_on_error=1 exitcode=66' }
const arch = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim()
const noAslr = spawnSync('setarch', [arch, '-R', 'true']).status === 0

export function runTsan(bin: string, args: string[]): SpawnSyncReturns<string> {
  return noAslr
    ? spawnSync('setarch', [arch, '-R', bin, ...args], { encoding: 'utf8', env: tsanEnv, timeout: 60_000 })
    : spawnSync(bin, args, { encoding: 'utf8', env: tsanEnv, timeout: 60_000 })
}
