// Recovery must keep working when the firmware it recovers is broken, so no file under recovery/
// may import anything under firmware/ (directly or through another recovery file).

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const root = resolve(import.meta.dirname, '..', '..')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|js|mjs|cjs)$/.test(e.name) ? [join(dir, e.name)] : [],
  )
}

t.test('no import crosses from recovery/ into firmware/', async (t) => {
  const files = sources(join(root, 'recovery'))
  t.ok(files.length >= 5, `${files.length} recovery sources checked`)
  const specifier =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]|require\s*\(\s*['"]([^'"]+)['"]|import\s+['"]([^'"]+)['"]/g
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(specifier)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4]!
      if (!spec.startsWith('.') && !spec.startsWith('/')) continue
      const target = relative(root, resolve(dirname(file), spec))
      t.notOk(target.startsWith('firmware'), `${relative(root, file)} imports ${spec}`)
      t.ok(target.startsWith('recovery'), `${relative(root, file)}: ${spec} stays inside recovery/`)
    }
  }
})
