// `npm run bench`: runs every section (tests/bench/*.bench.ts, default export a BenchSection) and
// prints one compact table of figures. Never pass/fail: a section that breaks prints its error as a
// row and the rest still run. Pick sections by name: `npm run bench -- engine process`;
// `--quick` (or BENCH_QUICK=1) runs shorter, noisier measurements.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { BenchRow, BenchSection } from './lib.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1'
const picks = args.filter((a) => !a.startsWith('--')).map((a) => a.toLowerCase())

const dir = import.meta.dirname
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
// A word that is a section's whole file name picks that section only (`feedback` is not also
// `feedback-gain`); any other word picks every section whose name or file contains it.
const baseOf = (f: string) => f.slice(0, -'.bench.ts'.length)
const exact = new Set(picks.filter((p) => files.some((f) => baseOf(f) === p)))
const picked = (name: string, file: string) =>
  picks.some((p) => (exact.has(p) ? baseOf(file) === p || name.toLowerCase() === p : name.toLowerCase().includes(p) || file.includes(p)))
const tmp = mkdtempSync(join(tmpdir(), 'firmware-bench-'))
const table: Array<BenchRow & { section: string }> = []

process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))

for (const file of files) {
  let section: BenchSection
  try {
    section = ((await import(pathToFileURL(join(dir, file)).href)) as { default: BenchSection }).default
  } catch (e) {
    table.push({ section: file, metric: 'could not load', value: String((e as Error).message).split('\n')[0]! })
    continue
  }
  if (picks.length && !picked(section.name, file)) continue
  const t0 = performance.now()
  process.stderr.write(`bench: ${section.name} ...\n`)
  try {
    const rows = await section.run({ tmp, repoRoot: join(dir, '..', '..'), quick, log: (m) => process.stderr.write(`  ${m}\n`) })
    for (const r of rows) table.push({ section: section.name, ...r })
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e)
    table.push({ section: section.name, metric: 'error', value: msg.split('\n')[0]! })
  }
  process.stderr.write(`bench: ${section.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
}

const cells = table.map((r) => [r.section, r.metric, `${r.value}${r.unit ? ` ${r.unit}` : ''}`, r.target ?? '', r.note ?? ''])
const head = ['section', 'metric', 'value', 'target', 'note']
const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
const line = (c: string[]) =>
  c
    .map((v, i) => (i === 2 ? v.padStart(width[i]!) : v.padEnd(width[i]!)))
    .join('  ')
    .trimEnd()
console.log(
  `\nbenchmark (${quick ? 'quick' : 'full'}), node ${process.version}, ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${new Date().toISOString()}`,
)
console.log(line(head))
console.log(width.map((w) => '-'.repeat(w)).join('  '))
for (const c of cells) console.log(line(c))
