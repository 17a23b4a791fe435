// Test helpers for the personal-mix stream path: a real Janus (Debian's /usr/bin/janus) on a
// config directory written from firmware/mix/janus.ts, a tiny static server for the listener
// page, and headless Chromium (Debian's) through playwright-core.
import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createTcp } from 'node:net'
import { networkInterfaces } from 'node:os'
import { extname, join, resolve } from 'node:path'
import { type JanusMountpoint, janusConfig } from '../../firmware/mix/janus.ts'
import { CHROMIUM_FLAGS } from '../helpers/chromium.ts'

export const pageDir = resolve(import.meta.dirname, '..', '..', 'firmware', 'mix', 'page')

/** A free TCP port (bound to 0, then closed). */
export async function freeTcpPort(): Promise<number> {
  const s = createTcp()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A free UDP port (bound to 0, then closed). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** The first non-loopback IPv4 interface: ICE between Chromium and Janus runs over it. */
export function iceInterface(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv4' && !a.internal)) return name
  }
  return ''
}

export interface RunningJanus {
  proc: ChildProcess
  url: string
  log: () => string
  stop(): Promise<void>
}

export async function startJanus(dir: string, mountpoints: JanusMountpoint[]): Promise<RunningJanus> {
  const httpPort = await freeTcpPort()
  for (const [name, text] of Object.entries(janusConfig(dir, { httpPort, iceInterfaces: iceInterface(), mountpoints }))) {
    writeFileSync(join(dir, name), text)
  }
  const proc = spawn('/usr/bin/janus', ['-F', dir, '-C', join(dir, 'janus.jcfg'), '-N', '-L', join(dir, 'janus.log')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout?.on('data', (d) => {
    out += d
  })
  proc.stderr?.on('data', (d) => {
    out += d
  })
  const url = `http://127.0.0.1:${httpPort}/janus`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`janus exited: ${out.slice(-2000)}`)
    try {
      const r = await fetch(`${url}/info`)
      if (r.ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`janus did not answer on ${url}: ${out.slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    proc,
    url,
    log: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL')
        await new Promise((r) => proc.once('exit', r))
      }
    },
  }
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' }

/** Serves the listener page on 127.0.0.1 (port 0). */
export async function servePage(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : (req.url ?? '').split('?')[0]!.slice(1)
    if (!/^[a-z]+\.(html|js)$/.test(name)) {
      res.writeHead(404).end()
      return
    }
    try {
      const body = readFileSync(join(pageDir, name))
      res.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }
}

export const CHROMIUM_ARGS = [
  ...CHROMIUM_FLAGS,
  '--autoplay-policy=no-user-gesture-required',
  // Host candidates as addresses, not mDNS names (Janus cannot resolve .local names).
  '--disable-features=WebRtcHideLocalIpsWithMdns',
]

/** In the page: records `seconds` of the playing mix through WebAudio; resolves to base64 float32 (left). */
export const RECORD_IN_PAGE = `async (seconds) => {
  const stream = document.getElementById('out').srcObject
  const ctx = new AudioContext({ sampleRate: 48000 })
  await ctx.resume()
  const src = ctx.createMediaStreamSource(stream)
  const proc = ctx.createScriptProcessor(2048, 2, 2)
  const want = Math.round(seconds * 48000)
  const buf = new Float32Array(want)
  let at = 0
  const t0 = performance.now()
  await new Promise((done) => {
    proc.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0)
      const n = Math.min(x.length, want - at)
      buf.set(x.subarray(0, n), at)
      at += n
      if (at >= want) done()
    }
    src.connect(proc)
    proc.connect(ctx.destination)
  })
  src.disconnect(); proc.disconnect(); await ctx.close()
  const bytes = new Uint8Array(buf.buffer)
  let s = ''
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return { b64: btoa(s), wallMs: performance.now() - t0 }
}`

export function decodeF32(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64')
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
}
