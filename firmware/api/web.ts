// The FOH page as the API worker serves it (web/foh/, built into web/dist/foh/ by
// scripts/build-web.ts): read once when the worker starts, compressed once, served over the same
// TLS listener and behind the same client-certificate check as the API (requests.ts authorizes
// first). The page's JS and CSS carry their content hash in their names, so they are cached
// `immutable` for a year; index.html is revalidated every time (ETag), so a new image's page
// arrives on the next load. Every reply carries a CSP that allows no inline script, no other origin.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { HttpError } from './http.ts'

/** Where the built page is: web/dist/foh beside firmware/ (in the image: lib/web/dist/foh). */
export const DEFAULT_WEB_DIR = resolve(import.meta.dirname, '..', '..', 'web', 'dist', 'foh')

export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}

/** The page's files by URL path. */
export type WebPage = Map<string, Asset>

interface Asset {
  body: Buffer
  gzip: Buffer
  type: string
  etag: string
  cache: string
}

/** The page's files by URL path, or null when this image has no page built (the reply says so). */
export function loadWebPage(dir: string): WebPage | null {
  const manifestFile = join(dir, 'manifest.json')
  if (!existsSync(manifestFile)) return null
  const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as { format?: string; index?: string; js?: string; css?: string }
  if (m.format !== 'foh-page/1' || !m.index || !m.js || !m.css) return null
  const assets = new Map<string, Asset>()
  const add = (file: string, immutable: boolean): Asset => {
    const body = readFileSync(join(dir, file))
    const a: Asset = {
      body,
      gzip: gzipSync(body, { level: 9 }),
      type: TYPES[file.slice(file.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      cache: immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    }
    return a
  }
  const index = add(m.index, false)
  for (const p of ['/', '/foh', '/foh/index.html']) assets.set(p, index)
  assets.set(`/foh/${m.js}`, add(m.js, true))
  assets.set(`/foh/${m.css}`, add(m.css, true))
  return assets
}

/** True for the paths the page owns: "/" and everything under /foh. */
export function isPagePath(path: string): boolean {
  return path === '/' || path === '/foh' || path.startsWith('/foh/')
}

/** Serves one of the page's files (the client is already authorized); throws the 404/405/503 that refuses. */
export function servePage(req: IncomingMessage, res: ServerResponse, path: string, assets: WebPage | null): void {
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD')
    throw new HttpError(405, 'FW_ERR_API_METHOD', `${path} only answers GET, not ${method}`, undefined, { allow: 'GET, HEAD' })
  if (!assets)
    throw new HttpError(
      503,
      'FW_ERR_NOT_AVAILABLE',
      'this firmware image has no FOH page built (scripts/build-web.sh builds it into web/dist/foh); the API itself works',
    )
  const a = assets.get(path)
  if (!a) throw new HttpError(404, 'FW_ERR_API_NOT_FOUND', `no page file ${path}; the FOH page is at /`)
  const headers: Record<string, string | number> = {
    'content-type': a.type,
    'cache-control': a.cache,
    etag: a.etag,
    vary: 'accept-encoding',
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  }
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
  const body = gz ? a.gzip : a.body
  if (gz) headers['content-encoding'] = 'gzip'
  headers['content-length'] = body.length
  res.writeHead(200, headers)
  res.end(method === 'HEAD' ? undefined : body)
}
