// Writes the repo's copy of the OpenAPI description (docs/openapi.json) from the command registry:
//   node scripts/docs/openapi.ts [--check]
// --check exits 1 when docs/openapi.json differs from what the device would serve.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../firmware/board/profile.ts'
import { servedOpenApiText } from './served-openapi.ts'

const dir = mkdtempSync(join(tmpdir(), 'openapi-'))
const text = await servedOpenApiText(dir)
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
