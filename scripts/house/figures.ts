// The house in figures: folder cycles, the largest files and functions under firmware/.
//   node scripts/house/figures.ts
import { join } from 'node:path'
import { cycles, folderEdges, readFile, root, sources, twoWay } from './graph.ts'

const facts = sources(join(root, 'firmware')).map(readFile)
for (const includeTypes of [true, false]) {
  const g = folderEdges(facts, { includeTypes })
  const pairs = twoWay(g)
  const sccs = cycles(g)
  console.log(
    `${includeTypes ? 'all imports' : 'value imports only'}: ${[...g.values()].reduce((n, m) => n + m.size, 0)} folder edges, ${pairs.length} two-way pairs, ${sccs.length} cycle(s)${sccs.map((c) => ` [${c.join(' ')}]`).join('')}`,
  )
  for (const [a, b] of pairs)
    console.log(`  ${a} <-> ${b}: ${g.get(a)!.get(b)!.from}:${g.get(a)!.get(b)!.line}  /  ${g.get(b)!.get(a)!.from}:${g.get(b)!.get(a)!.line}`)
}
console.log(`files: ${facts.length}, lines: ${facts.reduce((n, f) => n + f.lines, 0)}`)
console.log('largest files:')
for (const f of [...facts].sort((a, b) => b.lines - a.lines).slice(0, 8)) console.log(`  ${f.lines}  ${f.file}`)
console.log('largest functions:')
const fns = facts.flatMap((f) => f.functions).sort((a, b) => b.lines - a.lines)
for (const f of fns.slice(0, 8)) console.log(`  ${f.lines}  ${f.file} ${f.name}`)
console.log(`functions over 100 lines: ${fns.filter((f) => f.lines > 100).length}`)
