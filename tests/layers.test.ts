// The firmware's layers, bottom first. A folder (or a top-level file) may import only from layers
// below its own: siblings in one layer do not import each other, so there is no cycle to grow.
// docs/architecture.md shows the same table; this test reads both.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { folderEdges, partOf, readFile, root, sources } from '../scripts/house/graph.ts'

const LAYERS: ReadonlyArray<readonly string[]> = [
  /* 0 */ ['errors', 'self'],
  /* 1 */ ['validate'],
  /* 2 */ ['engine', 'panel', 'secrets', 'watchdog'],
  /* 3 */ ['wav', 'hardware', 'netaudio'],
  /* 4 */ ['board'],
  /* 5 */ ['contract'],
  /* 6 */ ['commands', 'transport'],
  /* 7 */ ['store', 'inference', 'rehearsal'],
  /* 8 */ ['automation', 'mix'],
  /* 9 */ ['api', 'console', 'osc', 'telemetry', 'process'],
  /* 10 */ ['runtime'],
  /* 11 */ ['cli'],
]
const layerOf = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)))
const facts = sources(join(root, 'firmware')).map(readFile)

t.test('every firmware folder has a layer', async (t) => {
  const parts = new Set(facts.map((f) => partOf(f.file)))
  for (const p of parts) t.ok(layerOf.has(p), `firmware/${p} is in the layer table`)
  for (const p of layerOf.keys()) t.ok(parts.has(p), `layer entry ${p} exists under firmware/`)
})

t.test('no import goes sideways or up (type-only imports included)', async (t) => {
  const g = folderEdges(facts, { includeTypes: true })
  let edges = 0
  for (const [from, outs] of g) {
    for (const [to, e] of outs) {
      edges++
      const a = layerOf.get(from) ?? -1
      const b = layerOf.get(to) ?? 99
      t.ok(b < a, `${from} (layer ${a}) -> ${to} (layer ${b}): ${e.from}:${e.line}`)
    }
  }
  t.ok(edges > 40, `${edges} folder edges checked`)
})

t.test('firmware reaches the top-level board/ only through its drivers (firmware/board/)', async (t) => {
  let seen = 0
  for (const f of facts) {
    for (const e of f.imports) {
      if (!e.to.startsWith('board/')) continue
      seen++
      t.ok(f.file.startsWith('firmware/board/'), `${f.file}:${e.line} imports ${e.to}`)
    }
  }
  t.ok(seen > 0, `${seen} imports of board/ found (the drivers use the simulated board)`)
})

t.test('a generator of docs is a script, not part of the firmware', async (t) => {
  for (const f of facts) {
    const text = readFileSync(join(root, f.file), 'utf8')
    t.notMatch(text, /writeFileSync\([^)]*docs\//, `${f.file} does not write docs/`)
  }
})

t.test('docs/architecture.md shows the same layers', async (t) => {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8')
  const rows = [...doc.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)].map(
    (m) =>
      [
        Number(m[1]),
        m[2]!
          .split(',')
          .map((s) => s.trim().replace(/`/g, ''))
          .sort(),
      ] as const,
  )
  t.same(
    rows.map(([i]) => i),
    LAYERS.map((_, i) => i),
    'one row per layer, bottom first',
  )
  for (const [i, names] of rows) t.same(names, [...LAYERS[i]!].sort(), `layer ${i}`)
})
