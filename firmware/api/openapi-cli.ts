// Writes the repo's copy of the OpenAPI description (docs/openapi.json) from the command registry:
//   node firmware/api/openapi-cli.ts [--check]
// --check exits 1 when docs/openapi.json differs from what the device would serve.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRegistry } from '../commands/index.ts'
import { loadProfile, repoRoot } from '../board/profile.ts'
import type { ApplianceApi } from '../runtime/types.ts'
import { openApiText } from './openapi.ts'

// The description does not depend on the unit's state, only on the registered commands; a stand-in
// appliance that answers nothing is enough to build the registry.
const profile = loadProfile('sim')
const app = new Proxy({ profile } as ApplianceApi, { get: (o, k) => (k in o ? (o as unknown as Record<string | symbol, unknown>)[k] : () => { throw new Error('not running') }) })
const text = openApiText(createRegistry(app))
const file = join(repoRoot, 'docs', 'openapi.json')
if (process.argv.includes('--check')) {
  const same = readFileSync(file, 'utf8') === text
  console.log(same ? `${file} is up to date` : `${file} differs; run node firmware/api/openapi-cli.ts`)
  process.exitCode = same ? 0 : 1
} else {
  writeFileSync(file, text)
  console.log(`wrote ${file}`)
}
