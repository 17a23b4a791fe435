// Writes the repo's copy of the OpenAPI description (docs/openapi.json) from the command registry:
//   node scripts/docs/openapi.ts [--check]
// --check exits 1 when docs/openapi.json differs from what the device would serve.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openApiText } from '../../firmware/api/openapi.ts'
import { loadProfile, repoRoot } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

// The description is that of the registry a unit serves: the whole `firmware run` stack (built-in
// commands plus those the store, inference and OSC register), started on the sim board in a
// scratch data directory.
const dir = mkdtempSync(join(tmpdir(), 'openapi-'))
let text = ''
const run = await startAppliance(
  { ...loadProfile('sim'), dataDir: dir },
  {
    panelPort: null,
    logDir: null,
    hardwareWatchdogs: [],
    services: [
      applianceStack({
        api: false,
        console: false,
        log: () => {},
        onRegistry: (r) => {
          text = openApiText(r)
        },
      }),
    ],
  },
)
await run.stop()
rmSync(dir, { recursive: true, force: true })
const file = join(repoRoot, 'docs', 'openapi.json')
if (process.argv.includes('--check')) {
  const same = readFileSync(file, 'utf8') === text
  console.log(same ? `${file} is up to date` : `${file} differs; run node scripts/docs/openapi.ts`)
  process.exitCode = same ? 0 : 1
} else {
  writeFileSync(file, text)
  console.log(`wrote ${file}`)
}
