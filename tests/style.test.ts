// House conventions a formatter cannot check. One private-member convention: ECMAScript `#name`
// (enforced by the runtime, not only the compiler); `private constructor` stays for classes built
// only through a static factory (a constructor cannot be #private).

import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { root, sources } from '../scripts/house/graph.ts'

const files = ['firmware', 'board', 'provisioning', 'recovery'].flatMap((d) => sources(join(root, d)))

t.test('class members are #private, not TypeScript `private`/`protected`', async (t) => {
  t.ok(files.length > 80, `${files.length} source files read`)
  const offenders: string[] = []
  for (const f of files) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/^\s+(private|protected)\s/.test(line) && !/^\s+private constructor\(/.test(line)) offenders.push(`${relative(root, f)}:${i + 1}: ${line.trim()}`)
      })
  }
  t.same(offenders, [], 'no TypeScript access modifiers on members')
})
