import { readFileSync } from 'node:fs'
import t from 'tap'
import { RECOVERY_ERRORS } from '../../recovery/errors.ts'

t.test('every recovery error code is documented in docs/recovery.md', async (t) => {
  const doc = readFileSync(new URL('../../docs/recovery.md', import.meta.url), 'utf8')
  for (const [code, meaning] of Object.entries(RECOVERY_ERRORS)) t.ok(doc.includes(`| ${code} | ${meaning} |`), `${code} documented`)
})
