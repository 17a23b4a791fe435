// The durable-settings soak: a `firmware run` child (tests/store/fixtures/light-run.ts: the real
// run.ts boot with the store and the serial console, and with `api` a provisioned unit's HTTPS
// API) takes a stream of changes over its console (and API, half of them at random); each reply
// is an acknowledgement. kill -9 lands at a random moment (between replies or while a
// command is in flight); then settings.json must load, hold every acknowledged change (or the
// in-flight one on top), and the next start must record the crash. Used by
// tests/store/settings-kill.test.ts (short) and tests/bench/settings.bench.ts (1,000 kills).
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { StoredDocument } from '../../firmware/store/document.ts'
import { settingsSchema } from '../../firmware/store/schemas.ts'
import { type Client, openClient } from '../console/harness.ts'
import { rng } from '../helpers/rng.ts'
import { root, simProfileIn } from './run-helpers.ts'

export interface SoakResult {
  kills: number
  acknowledged: number
  /** Acknowledged changes missing from settings.json after a kill. */
  lost: number
  /** settings.json (and its .lkg copy) unusable after a kill. */
  unloadable: number
  /** Starts whose log did not say the previous run crashed. */
  unrecorded: number
  /** Kills that landed while a command was in flight, and how often its change had already landed. */
  inFlight: number
  /** ... whose reply came back before the kill (so acknowledged) */
  inFlightAcked: number
  inFlightLanded: number
  replyMs: number[]
  /** Changes sent through the API (the rest went through the console). */
  viaApi: number
  failures: string[]
}

const fixture = join(root, 'tests', 'store', 'fixtures', 'light-run.ts')

interface Change {
  kind: 'gain' | 'trim'
  ch: number
  value: number
}

async function ask(c: Client, line: string, ms = 20000): Promise<string> {
  await c.send(`${line}\r\n`)
  for (;;) {
    const l = await c.nextLine(ms)
    if (/^(OK|ERR) /.test(l)) return l
  }
}

interface ApiCreds {
  cert: string
  key: string
  ca: string
}

/** POST /api/<kind> with the operator's certificate; resolves true on 200. */
function apiChange(port: number, creds: ApiCreds, ch: Change): Promise<boolean> {
  const body = JSON.stringify(ch.kind === 'gain' ? { output: ch.ch, db: ch.value } : { input: ch.ch, db: ch.value })
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/api/${ch.kind}`,
        servername: 'localhost',
        agent: false,
        ...creds,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')))
    req.end(body)
  })
}

/** A port free right now (bound on 0, then released) for the profile's API. */
async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((res) => s.close(() => res()))
  return port
}

export async function settingsSoak(o: { dir: string; kills: number; seed: number; api?: boolean; log?: (m: string) => void }): Promise<SoakResult> {
  const rand = rng(o.seed)
  const { file, dataDir } = simProfileIn(o.dir)
  let pin = ''
  let creds: ApiCreds | null = null
  if (o.api) {
    // A provisioned unit: the API runs (operator certificate), the console needs the PIN.
    // The crew's bundles are handed out once, to a folder outside the data directory.
    const crew = join(o.dir, 'crew')
    const init = spawnSync(process.execPath, ['provisioning/cli.ts', 'init', '--data-dir', dataDir, '--out', crew], { cwd: root, encoding: 'utf8' })
    if (init.status !== 0) throw new Error(`provisioning failed: ${init.stderr}`)
    pin = /console PIN[^:]*: (\d+)/.exec(init.stdout)![1]!
    const bundle = join(crew, readdirSync(crew).find((d) => d.startsWith('operator-1-'))!)
    creds = {
      cert: readFileSync(join(bundle, 'operator-1.crt'), 'utf8'),
      key: readFileSync(join(bundle, 'operator-1.key'), 'utf8'),
      ca: readFileSync(join(bundle, 'ca.crt'), 'utf8'),
    }
    const profile = JSON.parse(readFileSync(file, 'utf8'))
    profile.api = { ...profile.api, port: await freePort() }
    writeFileSync(file, JSON.stringify(profile))
  }
  const r: SoakResult = {
    kills: 0,
    acknowledged: 0,
    lost: 0,
    unloadable: 0,
    unrecorded: 0,
    inFlight: 0,
    inFlightAcked: 0,
    inFlightLanded: 0,
    replyMs: [],
    viaApi: 0,
    failures: [],
  }
  // What the console acknowledged last, per output gain / input trim.
  const gains = new Map<number, number>()
  const trims = new Map<number, number>()
  let counter = 0
  for (let k = 0; k <= o.kills; k++) {
    const child = spawn(process.execPath, [fixture, file, ...(o.api ? ['--api'] : [])], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exited = new Promise<void>((res) => child.once('exit', () => res()))
    let client: Client | null = null
    try {
      const t0 = Date.now()
      let m: RegExpExecArray | null = null
      while (!(m = /links console (\S+)/.exec(out))) {
        if (child.exitCode !== null || Date.now() - t0 > 60000) throw new Error(`no console: ${out.slice(-800)}`)
        await new Promise((res) => setTimeout(res, 20))
      }
      if (k > 0 && !/previous run crashed/.test(out)) {
        r.unrecorded++
        r.failures.push(`start ${k}: the crash was not recorded: ${out.slice(0, 300)}`)
      }
      let apiPort = 0
      if (o.api) {
        let a: RegExpExecArray | null = null
        while (!(a = /links .*api https:\/\/127\.0\.0\.1:(\d+)/.exec(out))) {
          if (child.exitCode !== null || /links .*api off/.test(out) || Date.now() - t0 > 60000) throw new Error(`no API: ${out.slice(-800)}`)
          await new Promise((res) => setTimeout(res, 20))
        }
        apiPort = Number(a[1])
      }
      if (k === o.kills) break // the last start only checks the record
      client = await openClient(m[1]!)
      await client.send('\r\n')
      await ask(client, 'console machine')
      if (o.api) {
        const l = await ask(client, `login ${pin}`)
        if (!l.startsWith('OK login')) throw new Error(`console login: ${l}`)
      }
      // A stream of acknowledged changes, then kill -9 at a random moment.
      const n = Math.floor(rand() * 12)
      const killInFlight = rand() < 0.7
      let inflight: Change | null = null
      let apiReply: Promise<boolean> | null = null
      for (let i = 0; i <= n; i++) {
        const ch: Change =
          rand() < 0.75
            ? { kind: 'gain', ch: 1 + Math.floor(rand() * 4), value: -40 + (++counter % 5000) / 100 }
            : { kind: 'trim', ch: 1 + Math.floor(rand() * 8), value: -20 + (++counter % 4000) / 100 }
        const line = `${ch.kind} ${ch.ch} ${ch.value}`
        const viaApi = creds !== null && rand() < 0.5
        if (i === n && killInFlight) {
          inflight = ch
          if (viaApi) {
            r.viaApi++
            apiReply = apiChange(apiPort, creds!, ch).catch(() => false)
          } else {
            void client.send(`${line}\r\n`).catch(() => {})
          }
          await new Promise((res) => setTimeout(res, rand() * 60))
          break
        }
        const s = performance.now()
        let ok: boolean
        if (viaApi) {
          r.viaApi++
          ok = await apiChange(apiPort, creds!, ch)
        } else {
          const reply = await ask(client, line)
          ok = reply.startsWith('OK ')
          if (!ok) throw new Error(`${line}: ${reply}`)
        }
        r.replyMs.push(performance.now() - s)
        if (!ok) throw new Error(`${line} via the API was refused`)
        ;(ch.kind === 'gain' ? gains : trims).set(ch.ch, ch.value)
        r.acknowledged++
      }
      // The in-flight command's reply may have come back before the kill: then it is acknowledged.
      child.kill('SIGKILL')
      await exited
      r.kills++
      if (inflight) {
        r.inFlight++
        // A 200 that arrives now was sent before the kill: the change was committed.
        const apiAcked = apiReply !== null ? await apiReply : false
        if (apiAcked || (!apiReply && client.lines.some((l) => l.startsWith('OK ')))) {
          ;(inflight.kind === 'gain' ? gains : trims).set(inflight.ch, inflight.value)
          r.acknowledged++
          r.inFlightAcked++
          inflight = null
        }
      }
      await client.close().catch(() => {})
      client = null
      // The store as the next boot reads it.
      let data
      try {
        data = (await new StoredDocument(join(dataDir, 'settings.json'), settingsSchema, () => {}).load())?.data
      } catch (e) {
        r.unloadable++
        r.failures.push(`kill ${k}: settings do not load: ${(e as Error).message}`)
        continue
      }
      if (!data) {
        if (gains.size + trims.size > 0) {
          r.unloadable++
          r.failures.push(`kill ${k}: settings.json missing`)
        }
        continue
      }
      let landed = false
      const check = (kind: 'gain' | 'trim', map: Map<number, number>, stored: (ch: number) => number | undefined) => {
        for (const [ch, want] of map) {
          const got = stored(ch)
          if (got === want) continue
          if (inflight && inflight.kind === kind && inflight.ch === ch && got === inflight.value) {
            landed = true
            map.set(ch, got)
            continue
          }
          r.lost++
          r.failures.push(`kill ${k}: ${kind} ${ch} is ${got}, acknowledged ${want}`)
        }
        if (inflight && inflight.kind === kind && !map.has(inflight.ch) && stored(inflight.ch) === inflight.value) {
          landed = true
          map.set(inflight.ch, inflight.value)
        }
      }
      check('gain', gains, (ch) => data.outputs[ch - 1]?.gainDb)
      check('trim', trims, (ch) => data.inputTrimDb[ch - 1])
      if (landed) r.inFlightLanded++
      o.log?.(`kill ${k + 1}/${o.kills}: ${r.acknowledged} acknowledged so far, lost ${r.lost}`)
    } finally {
      await client?.close().catch(() => {})
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
    }
  }
  return r
}
