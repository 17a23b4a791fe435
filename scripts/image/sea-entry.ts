// The single binary's entry point (bundled by esbuild as CommonJS and injected into a copy of
// the pinned Node). Two jobs:
//  - `firmware <command>`: the firmware CLI (firmware/cli.ts), bundled in;
//  - `firmware [--node-flags] SCRIPT.ts args`: run a script from the image, as node would. The
//    firmware starts helper processes with process.execPath (the simulated front panel) and in
//    a single executable that is this binary, so it must behave like node for them.
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const imageDir = dirname(process.execPath)
// One copy of the engine addon, where the bundled modules expect it (lib/ mirrors the repo).
process.env.FIRMWARE_ENGINE_NODE ??= join(imageDir, 'lib', 'addons', 'build', 'Release', 'engine.node')
process.removeAllListeners('warning')
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && /Type Stripping|single executable/i.test(w.message)) return
  console.error(w)
})

const user = process.argv.slice(2)
let i = 0
while (user[i]?.startsWith('--')) i++
const script = user[i]
if (script !== undefined && /\.(ts|mts|js|mjs|cjs)$/.test(script) && existsSync(script)) {
  const full = resolve(script)
  process.argv = [process.execPath, full, ...user.slice(i + 1)]
  import(pathToFileURL(full).href).catch((e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
} else {
  process.argv = [process.execPath, process.execPath, ...user]
  void import('../../firmware/cli.ts')
}
