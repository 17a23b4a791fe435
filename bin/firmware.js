#!/usr/bin/env node
// The `firmware` command. The appliance runs on the Node pinned in package.json (the `node`
// package puts it in node_modules/.bin); if this was started by an older system Node, hand over
// to the pinned one rather than fail in some obscure way later.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import * as nodeModule from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  const pinned = join(root, 'node_modules', '.bin', 'node')
  if (!existsSync(pinned)) {
    console.error(`firmware: needs Node 24 (this is ${process.version}); run "bash scripts/setup.sh" first`)
    process.exit(1)
  }
  // `firmware process` over a long show: glibc told to give freed memory back (two arenas, a fixed
  // mmap threshold, trim above 1 MB) keeps its RSS about 35 MB lower for the whole show
  // (docs/offline-processing.md, "Sixth round: memory flat"). glibc reads these at the process's
  // start, so only a process started here can have them: set on this hand-over, which happens
  // anyway, unless the caller set them; a Node 24 that runs this file directly is not restarted for them.
  const env = { ...process.env }
  if (process.argv[2] === 'process') {
    for (const [k, v] of Object.entries({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '1048576' })) env[k] ??= v
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env })
  process.exit(r.status ?? 1)
}
process.removeAllListeners('warning')
process.on('warning', (w) => {
  // Type stripping is how this runtime loads its own TypeScript; that is not news to an operator.
  if (w.name === 'ExperimentalWarning' && /Type Stripping/i.test(w.message)) return
  console.error(w)
})
// Node keeps what it compiled (type stripping included) in a cache on disk (os.tmpdir(), checked
// against the sources), so a run after the first skips most of the parsing: `firmware process`
// starts in about a third of the CPU (docs/offline-processing.md). NODE_DISABLE_COMPILE_CACHE=1 turns it off.
nodeModule.enableCompileCache?.()
await import('../firmware/cli.ts')
