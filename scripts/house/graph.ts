// The source tree as a graph, read with the TypeScript parser: which file imports which (static
// imports, re-exports, dynamic import() with a literal), and how long each file and function is.
// Used by tests/layers.test.ts (the layer order) and scripts/house/figures.ts (the figures).
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

export const root = resolve(import.meta.dirname, '..', '..')

export function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  )
}

export interface ImportEdge {
  /** Repository-relative paths. */
  from: string
  to: string
  typeOnly: boolean
  line: number
}

export interface FunctionSize {
  file: string
  name: string
  lines: number
}

export interface FileFacts {
  file: string
  lines: number
  imports: ImportEdge[]
  functions: FunctionSize[]
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const n = (node as { name?: ts.Node }).name
  if (n) return n.getText(sf)
  const p = node.parent
  if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf)
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf)
  return '(anonymous)'
}

/** Imports and function sizes of one file. */
export function readFile(file: string): FileFacts {
  const text = readFileSync(file, 'utf8')
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const rel = relative(root, file)
  const imports: ImportEdge[] = []
  const functions: FunctionSize[] = []
  const add = (spec: string, typeOnly: boolean, node: ts.Node) => {
    if (!spec.startsWith('.')) return
    imports.push({ from: rel, to: relative(root, resolve(dirname(file), spec)), typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)))
      add(node.moduleSpecifier.text, typeOnly, node)
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly, node)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false, node)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true, node)
    }
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessor(node) ||
      ts.isSetAccessor(node)
    ) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line
      functions.push({ file: rel, name: functionName(node, sf), lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return { file: rel, lines: text.split('\n').length, imports, functions }
}

/** The folder a firmware file belongs to: firmware/<folder>/..., or the file itself at the top. */
export function partOf(rel: string): string {
  const parts = rel.split('/')
  if (parts[0] !== 'firmware') return parts[0]!
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '')
}

/** Folder-to-folder edges inside firmware/ (each with one example import). */
export function folderEdges(facts: FileFacts[], opts: { includeTypes: boolean }): Map<string, Map<string, ImportEdge>> {
  const g = new Map<string, Map<string, ImportEdge>>()
  for (const f of facts) {
    for (const e of f.imports) {
      if (!e.to.startsWith('firmware/') || (!opts.includeTypes && e.typeOnly)) continue
      const a = partOf(e.from)
      const b = partOf(e.to)
      if (a === b) continue
      if (!g.has(a)) g.set(a, new Map())
      if (!g.get(a)!.has(b)) g.get(a)!.set(b, e)
    }
  }
  return g
}

/** Pairs of folders that import each other. */
export function twoWay(g: Map<string, Map<string, ImportEdge>>): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [a, outs] of g) for (const b of outs.keys()) if (a < b && g.get(b)?.has(a)) out.push([a, b])
  return out
}

/** Strongly connected components with more than one folder (Tarjan). */
export function cycles(g: Map<string, Map<string, ImportEdge>>): string[][] {
  let index = 0
  const idx = new Map<string, number>(),
    low = new Map<string, number>(),
    on = new Set<string>(),
    stack: string[] = []
  const out: string[][] = []
  const nodes = new Set<string>([...g.keys(), ...[...g.values()].flatMap((m) => [...m.keys()])])
  const strong = (v: string): void => {
    idx.set(v, index)
    low.set(v, index)
    index++
    stack.push(v)
    on.add(v)
    for (const w of g.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        strong(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = []
      let w: string
      do {
        w = stack.pop()!
        on.delete(w)
        c.push(w)
      } while (w !== v)
      if (c.length > 1) out.push(c.sort())
    }
  }
  for (const v of [...nodes].sort()) if (!idx.has(v)) strong(v)
  return out
}
