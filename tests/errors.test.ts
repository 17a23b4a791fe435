import { readFileSync } from 'node:fs'
import t from 'tap'
import { ERRORS } from '../firmware/errors.ts'

t.test('every error code is documented in docs/errors.md', async (t) => {
  const doc = readFileSync('docs/errors.md', 'utf8')
  for (const code of Object.keys(ERRORS)) t.match(doc, new RegExp(`\\| ${code} \\|`), `${code} documented`)
})
