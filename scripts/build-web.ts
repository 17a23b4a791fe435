// Builds the FOH page (web/foh/) into web/dist/foh/: one JS and one CSS file, bundled and minified
// by esbuild with Preact, htm and uPlot from node_modules (nothing from a CDN), named by their
// content hash so the unit can serve them with `immutable` caching, and index.html naming them.
// Run by scripts/build-web.sh (build-image.sh, setup.sh) and by the FOH tests when the build is
// missing or older than its sources.
//   node_modules/.bin/node scripts/build-web.ts [--out DIR]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { build } from 'esbuild'

const repo = resolve(import.meta.dirname, '..')
export const WEB_SRC = join(repo, 'web', 'foh')
export const WEB_OUT = join(repo, 'web', 'dist', 'foh')

/** The newest modification time among the page's sources (ms). */
function newestSource(): number {
  return Math.max(...readdirSync(WEB_SRC).map((f) => statSync(join(WEB_SRC, f)).mtimeMs), statSync(import.meta.filename).mtimeMs)
}

/** True when `out` holds a build at least as new as the sources. */
export function webBuildCurrent(out = WEB_OUT): boolean {
  const m = join(out, 'manifest.json')
  return existsSync(m) && statSync(m).mtimeMs >= newestSource()
}

export async function buildWeb(out = WEB_OUT): Promise<{ js: string; css: string; bytes: number }> {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const r = await build({
    entryPoints: { app: join(WEB_SRC, 'app.js') },
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: out,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    absWorkingDir: repo,
  })
  const files = Object.keys(r.metafile.outputs).map((p) => basename(p))
  const js = files.find((f) => f.endsWith('.js'))
  const css = files.find((f) => f.endsWith('.css'))
  if (!js || !css) throw new Error(`esbuild made ${files.join(', ')}; expected one .js and one .css`)
  const html = readFileSync(join(WEB_SRC, 'index.html'), 'utf8').replace('{{js}}', js).replace('{{css}}', css)
  writeFileSync(join(out, 'index.html'), html)
  const bytes = [js, css, 'index.html'].reduce((n, f) => n + statSync(join(out, f)).size, 0)
  // Written last: its presence means the build is whole.
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ format: 'foh-page/1', index: 'index.html', js, css, bytes }, null, 2)}\n`)
  return { js, css, bytes }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--out')
  const out = i > 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]!) : WEB_OUT
  const b = await buildWeb(out)
  process.stdout.write(`FOH page: ${out} (${b.js}, ${b.css}; ${b.bytes} bytes)\n`)
}
