// The soak benchmark: the sim board's whole stack as its own process (tests/bench/soak-unit.ts:
// engine, watchdog, simulated front-panel controller, inference with automation on, console, API),
// driven for N minutes by API clients, event streams and a console flood while stress-ng
// saturates every core and adds memory pressure. Then every fault class is injected under the
// same load through the rehearsal command (the API's POST /api/rehearse, confirm token and all).
//   npm run soak -- [--minutes N] [--no-stress] [--no-faults] [--healthy-ms N] [--escalate-after N] [--json FILE]
// Prints the automatic bypasses and relay drops with their causes, xruns, overruns, p99 block
// time, the event loop's p99 and worst delay, the worst GC pause, and the fault table, against
// the targets: 0 bypasses and 0 relay drops no audio fault caused; 0 process deaths.
// tests/rehearsal/soak.test.ts runs a short variant (about a minute) in the suite.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { SerialPort } from 'serialport'
import type { TransitionRecord } from '../../firmware/contract/appliance.ts'
import { FAULT_CLASSES } from '../../firmware/rehearsal/faults.ts'
import { provision } from '../../provisioning/provision.ts'

export interface SoakOptions {
  /** Length of the load phase. Defaults to 30 minutes. */
  minutes: number
  /** Saturate the machine with stress-ng (every core, plus memory). Defaults to true. */
  stress: boolean
  /** Inject every fault class after the load phase. Defaults to true. */
  faults: boolean
  /** Watchdog healthy/degraded periods of the unit. Defaults to the firmware's (5000 ms). */
  healthyMs?: number
  /** Escalation threshold of the unit. Defaults to the board profile's. */
  escalateAfter?: number
  /** Progress lines. Defaults to stdout. */
  log: (line: string) => void
}

export interface FaultRow {
  fault: string
  outcome: 'measured' | 'not-available' | 'refused' | 'error'
  detected: boolean
  late: boolean
  state: string | null
  cause: string | null
  detectMs: number | null
  recovered: boolean
  recoverMs: number | null
  message: string
}

export interface SoakResult {
  minutes: number
  stress: string
  /** Unexpected exits of the unit's process. */
  deaths: Array<{ code: number | null; signal: string | null; stderr: string }>
  /** Every transition during the load phase (before any injected fault). */
  loadTransitions: TransitionRecord[]
  /** Automatic bypasses during the load phase, and those no audio fault caused. */
  loadBypasses: TransitionRecord[]
  nonAudioBypasses: TransitionRecord[]
  /** Relay drops during the load phase, with the watchdog's cause at the time. */
  relayDrops: Array<{ what: string; cause: string }>
  nonAudioRelayDrops: Array<{ what: string; cause: string }>
  /** Seconds of the load phase spent in each watchdog state (dry = BYPASS + MANUAL_BYPASS). */
  stateSeconds: Record<string, number>
  last: Stats | null
  load: {
    apiRequests: number
    apiErrors: number
    apiStatus: Record<string, number>
    streamEvents: number
    consoleSent: number
    consoleReplies: number
    consoleRateLimited: number
  }
  faults: FaultRow[]
  config: Record<string, number>
}

interface Stats {
  state: string
  engine: { blocks: number; xruns: number; overruns: number; blockTimeUs: { p50: number; p99: number; max: number }; blockPeriodUs: number }
  loop: { p50: number; p99: number; max: number }
  gcMaxMs: number
  gcCount: number
  tickMaxUs: number
  rssMb: number
}

/** Causes that come from the audio path itself: a bypass for one of these is the watchdog doing its job. */
// An audio-thread stall (no block for the sentinel's limit) is an audio fault: the outputs missed
// blocks, whatever starved the thread.
const AUDIO_CAUSES = /^(native-dsp-overrun|dsp-overrun-rate|audio-stall|engine-stall|backend-error|non-finite|native-non-finite)/

interface Creds {
  ca: string
  cert: string
  key: string
}

function https(port: number, creds: Creds, method: string, path: string, body?: object, timeoutMs = 15_000): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body)
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        servername: 'localhost',
        agent: false,
        ...creds,
        headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          let json: unknown = null
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)))
    if (data !== undefined) req.write(data)
    req.end()
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The unit's process and what it reported. */
class Unit {
  readonly child: ChildProcess
  readonly transitions: TransitionRecord[] = []
  readonly panel: Array<{ at: number; what: string; state: string; cause: string }> = []
  readonly deaths: SoakResult['deaths'] = []
  last: Stats | null = null
  ready: { api: string; console: string; config: Record<string, number> } | null = null
  state = 'BOOT'
  #stderr = ''
  #stopping = false
  readonly exited: Promise<void>

  constructor(dataDir: string, opts: SoakOptions) {
    const args = [join(import.meta.dirname, 'soak-unit.ts'), '--data', dataDir]
    if (opts.healthyMs !== undefined) args.push('--healthy-ms', String(opts.healthyMs))
    if (opts.escalateAfter !== undefined) args.push('--escalate-after', String(opts.escalateAfter))
    this.child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stderr!.on('data', (c: Buffer) => {
      this.#stderr = (this.#stderr + c.toString()).slice(-4000)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let m: any
      try {
        m = JSON.parse(line)
      } catch {
        return
      }
      if (m.event === 'ready') this.ready = m
      else if (m.event === 'transition') {
        this.transitions.push(m.record)
        this.state = m.record.to
      } else if (m.event === 'panel') this.panel.push(m)
      else if (m.event === 'stats') {
        this.last = m
        this.state = m.state
      }
    })
    this.exited = new Promise((res) =>
      this.child.once('exit', (code, signal) => {
        if (!this.#stopping) this.deaths.push({ code, signal, stderr: this.#stderr.slice(-1500) })
        res()
      }),
    )
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  async stop(): Promise<void> {
    this.#stopping = true
    if (this.alive) {
      this.child.kill('SIGTERM')
      await Promise.race([this.exited, sleep(10_000)])
      if (this.alive) this.child.kill('SIGKILL')
    }
    await this.exited
  }
}

/** The load: API pollers, event streams, a console flood. Stopped by stop(). */
function startLoad(port: number, creds: Creds, consolePath: string, counters: SoakResult['load']): { stop(): Promise<void> } {
  let running = true
  const tasks: Promise<void>[] = []
  // Three control clients polling status and meters (about 30 requests/s together, under the
  // per-client limit of 50/s that they share, being one certificate).
  for (let k = 0; k < 3; k++) {
    tasks.push(
      (async () => {
        for (let i = 0; running; i++) {
          try {
            const r = await https(port, creds, 'GET', i % 2 ? '/api/meters' : '/api/status')
            counters.apiRequests++
            counters.apiStatus[r.status] = (counters.apiStatus[r.status] ?? 0) + 1
          } catch {
            counters.apiErrors++
          }
          await sleep(100)
        }
      })(),
    )
  }
  // Two event streams (transitions, meters, DOA, recommendations).
  const streams: Array<ReturnType<typeof httpsRequest>> = []
  for (let k = 0; k < 2; k++) {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: '/api/events?types=transition,meters,doa,recommendation&metersHz=10',
        servername: 'localhost',
        agent: false,
        ...creds,
      },
      (res) => {
        res.on('data', (c: Buffer) => {
          counters.streamEvents += (c.toString().match(/^event: /gm) ?? []).length
        })
        res.on('error', () => {})
      },
    )
    req.on('error', () => {})
    req.end()
    streams.push(req)
  }
  // A console flood: 50 read-only lines a second, over the console's 20/s limit.
  const con = new SerialPort({ path: consolePath, baudRate: 115200, autoOpen: false })
  let carry = ''
  con.on('data', (d: Buffer) => {
    carry += d.toString('latin1')
    const lines = carry.split('\r\n')
    carry = lines.pop() ?? ''
    for (const l of lines) {
      if (/^(OK|ERR) /.test(l)) counters.consoleReplies++
      if (l.includes('FW_ERR_RATE_LIMITED')) counters.consoleRateLimited++
    }
  })
  con.on('error', () => {})
  tasks.push(
    new Promise<void>((res) =>
      con.open((e) => {
        if (e) return res()
        con.write('\r\nconsole machine\r\n')
        const cmds = ['status', 'meters', 'faults 5', 'beam list', 'version']
        let i = 0
        const timer = setInterval(() => {
          if (!running) {
            clearInterval(timer)
            con.close(() => res())
            return
          }
          con.write(`${cmds[i++ % cmds.length]}\r\n`)
          counters.consoleSent++
        }, 20)
      }),
    ),
  )
  return {
    async stop() {
      running = false
      for (const s of streams) s.destroy()
      await Promise.race([Promise.all(tasks), sleep(20_000)])
    },
  }
}

function startStress(seconds: number): ChildProcess | null {
  const cores = availableParallelism()
  // Every core busy, plus one worker dirtying 15% of memory over and over.
  const p = spawn('stress-ng', ['--cpu', String(cores), '--vm', '1', '--vm-bytes', '15%', '--timeout', `${Math.ceil(seconds)}s`, '--quiet'], {
    stdio: 'ignore',
    detached: true,
  })
  p.on('error', () => {})
  return p.pid ? p : null
}

function stopStress(p: ChildProcess | null): void {
  if (!p?.pid) return
  try {
    process.kill(-p.pid, 'SIGTERM')
  } catch {
    /* already gone */
  }
}

/** Injects one fault class through the API's rehearse command; waits out refusals that say how long. */
async function rehearse(port: number, creds: Creds, unit: Unit, fault: string, log: (l: string) => void): Promise<FaultRow> {
  const row = (outcome: FaultRow['outcome'], message: string, v: any = {}): FaultRow => ({
    fault,
    outcome,
    message,
    detected: v.detected ?? false,
    late: v.late ?? false,
    state: v.state ?? null,
    cause: v.cause ?? null,
    detectMs: v.detect_ms ?? null,
    recovered: v.recovered ?? false,
    recoverMs: v.recover_ms ?? null,
  })
  for (let attempt = 0; attempt < 6; attempt++) {
    if (!unit.alive) return row('error', 'the unit is not running')
    // A person at a rehearsal releases an escalation latch before going on; the soak does too.
    if (unit.state === 'MANUAL_BYPASS') {
      log(`  ${fault}: the unit is latched in MANUAL_BYPASS (${unit.transitions.at(-1)?.cause}); releasing it (bypass off)`)
      await https(port, creds, 'POST', '/api/bypass', { state: false }).catch(() => null)
    }
    const deadline = Date.now() + 60_000
    while (unit.state !== 'ACTIVE' && Date.now() < deadline && unit.alive) await sleep(100)
    const first = await https(port, creds, 'POST', '/api/rehearse', { fault }).catch((e: Error) => ({ status: 0, json: { message: e.message } }))
    if (first.json?.code !== 'FW_ERR_CONFIRM_REQUIRED') return row('error', `expected a confirm request, got ${first.status} ${JSON.stringify(first.json)}`)
    const r = await https(port, creds, 'POST', '/api/rehearse', { fault, confirm: first.json.confirmToken }, 180_000).catch((e: Error) => ({
      status: 0,
      json: { message: e.message },
    }))
    const code = r.json?.code as string | undefined
    if (r.status === 200) {
      const v = r.json.value
      // Not detected while something else (a load stall) had the unit out of ACTIVE: the fault
      // met a unit already failing over, which proves nothing either way. Once more.
      if (!v.detected && v.unrelated > 0 && attempt < 2) {
        log(`  ${fault}: not detected, but ${v.note}; once more`)
        continue
      }
      return row('measured', v.note ?? '', v)
    }
    if (code === 'FW_ERR_NOT_AVAILABLE') return row('not-available', r.json.message)
    if (code === 'FW_ERR_REHEARSAL_REFUSED') {
      const wait = /try again in (\d+) s/.exec(r.json.message)
      log(`  ${fault}: refused: ${r.json.message}`)
      await sleep(wait ? (Number(wait[1]) + 1) * 1000 : 2000)
      continue
    }
    return row('error', `${r.status} ${code ?? ''} ${r.json?.message ?? ''}`)
  }
  return row('refused', 'refused six times in a row')
}

export async function runSoak(options: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { minutes: 30, stress: true, faults: true, log: (l) => process.stdout.write(`${l}\n`), ...options }
  const root = mkdtempSync(join(tmpdir(), 'soak-'))
  const dataDir = join(root, 'data')
  const log = o.log
  let unit: Unit | null = null
  let stress: ChildProcess | null = null
  let load: { stop(): Promise<void> } | null = null
  try {
    // The crew's bundles are handed out once, outside the data directory (no key stays on the unit).
    const p = await provision({ dataDir, bundlesOut: join(root, 'crew') })
    const op = p.bundles.find((b) => b.role === 'operator')!
    const creds: Creds = { ca: readFileSync(p.caFile, 'utf8'), cert: readFileSync(op.certFile, 'utf8'), key: readFileSync(op.keyFile, 'utf8') }
    unit = new Unit(dataDir, o)
    const t0 = Date.now()
    while (!unit.ready && unit.alive && Date.now() - t0 < 60_000) await sleep(50)
    if (!unit.ready) throw new Error(`the unit did not start: ${JSON.stringify(unit.deaths)}`)
    const port = Number(/:(\d+)$/.exec(unit.ready.api ?? '')?.[1])
    if (!port) throw new Error(`the unit's API is not up: ${unit.ready.api}`)
    const u = unit
    while (u.state !== 'ACTIVE' && Date.now() - t0 < 30_000) await sleep(50)
    await https(port, creds, 'POST', '/api/mode', { mode: 'auto' }).catch(() => null)
    const loadSeconds = o.minutes * 60
    // The fault phase runs under the same load: stress for the whole run.
    if (o.stress) stress = startStress(loadSeconds + (o.faults ? 240 : 30))
    const counters: SoakResult['load'] = {
      apiRequests: 0,
      apiErrors: 0,
      apiStatus: {},
      streamEvents: 0,
      consoleSent: 0,
      consoleReplies: 0,
      consoleRateLimited: 0,
    }
    load = startLoad(port, creds, u.ready!.console, counters)
    log(`soak: ${o.minutes} min of load on the sim board (pid ${u.child.pid}); stress-ng ${stress ? `on ${availableParallelism()} cores + 15% memory` : 'off'}`)
    const loadStart = Date.now()
    const stateAtStart = u.state
    const transitionsBefore = u.transitions.length
    const panelBefore = u.panel.length
    let lastReport = loadStart
    while (Date.now() - loadStart < loadSeconds * 1000 && u.alive) {
      await sleep(250)
      if (Date.now() - lastReport >= 60_000) {
        lastReport = Date.now()
        const s = u.last
        log(
          `  ${Math.round((Date.now() - loadStart) / 60000)} min: ${u.state}, ${u.transitions.length - transitionsBefore} transitions, loop p99 ${s?.loop.p99.toFixed(1)} ms max ${s?.loop.max.toFixed(0)} ms, gc max ${s?.gcMaxMs.toFixed(1)} ms`,
        )
      }
    }
    const loadEnd = Date.now()
    const loadTransitions = u.transitions.slice(transitionsBefore)
    const stateSeconds: Record<string, number> = {}
    let cur = stateAtStart
    let since = loadStart
    for (const r of [...loadTransitions, { at: loadEnd, to: cur } as TransitionRecord]) {
      const at = Math.min(Math.max(r.at, since), loadEnd)
      stateSeconds[cur] = (stateSeconds[cur] ?? 0) + (at - since) / 1000
      cur = r.to
      since = at
    }
    const loadPanel = u.panel.slice(panelBefore)
    const lastLoadStats = u.last
    const faults: FaultRow[] = []
    if (o.faults && u.alive) {
      log('soak: injecting every fault class under the same load')
      for (const f of FAULT_CLASSES) {
        const r = await rehearse(port, creds, u, f, log)
        log(
          `  ${f}: ${r.outcome}${r.detected ? ` ${r.state} after ${r.detectMs} ms (${r.cause})` : ''}${r.recovered ? `, ACTIVE after ${r.recoverMs} ms` : ''}`,
        )
        faults.push(r)
      }
    }
    await load.stop()
    load = null
    stopStress(stress)
    stress = null
    const loadBypasses = loadTransitions.filter((r) => r.to === 'BYPASS' || (r.to === 'MANUAL_BYPASS' && r.cause === 'escalated'))
    const relayDrops = loadPanel.filter((p) => /^relay OFF/.test(p.what)).map((p) => ({ what: p.what, cause: p.cause }))
    const config = u.ready!.config
    await u.stop()
    return {
      minutes: o.minutes,
      stress: o.stress ? `stress-ng --cpu ${availableParallelism()} --vm 1 --vm-bytes 15%` : 'off',
      deaths: [...u.deaths],
      loadTransitions,
      loadBypasses,
      nonAudioBypasses: loadBypasses.filter((r) => !AUDIO_CAUSES.test(r.cause)),
      relayDrops,
      nonAudioRelayDrops: relayDrops.filter((d) => !AUDIO_CAUSES.test(d.cause)),
      stateSeconds,
      last: lastLoadStats,
      load: counters,
      faults,
      config,
    }
  } finally {
    await load?.stop().catch(() => {})
    stopStress(stress)
    await unit?.stop().catch(() => {})
    rmSync(root, { recursive: true, force: true })
  }
}

/** The report, one figure a line, with its target where there is one. */
export function formatSoak(r: SoakResult): string {
  const s = r.last
  const e = s?.engine
  const lines = [
    `soak: ${r.minutes} min under load (${r.stress}); unit config ${JSON.stringify(r.config)}`,
    `load: ${r.load.apiRequests} API requests (${JSON.stringify(r.load.apiStatus)}, ${r.load.apiErrors} failed), ${r.load.streamEvents} stream events, console ${r.load.consoleSent} lines sent, ${r.load.consoleReplies} replies (${r.load.consoleRateLimited} rate-limited)`,
    `process deaths:                  ${r.deaths.length}   (target 0)${r.deaths.map((d) => `\n  exit ${d.code ?? d.signal}: ${d.stderr.split('\n').slice(-3).join(' | ')}`).join('')}`,
    `automatic bypasses:              ${r.loadBypasses.length}, not caused by an audio fault: ${r.nonAudioBypasses.length}   (target 0)`,
    ...r.loadBypasses.map((b) => `  ${new Date(b.at).toISOString().slice(11, 23)} ${b.from} -> ${b.to}: ${b.cause} (${b.evidence})`),
    `relay drops:                     ${r.relayDrops.length}, not caused by an audio fault: ${r.nonAudioRelayDrops.length}   (target 0)`,
    ...r.relayDrops.map((d) => `  ${d.what} (watchdog: ${d.cause})`),
    `time in each state:              ${Object.entries(r.stateSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(', ')}`,
    `xruns / overruns:                ${e?.xruns ?? '-'} / ${e?.overruns ?? '-'}`,
    `block time p99 / max:            ${e ? `${e.blockTimeUs.p99.toFixed(0)} / ${e.blockTimeUs.max.toFixed(0)} us of ${e.blockPeriodUs.toFixed(0)} us` : '-'}`,
    `event loop delay p99 / worst:    ${s ? `${s.loop.p99.toFixed(1)} / ${s.loop.max.toFixed(1)} ms` : '-'}`,
    `worst GC pause:                  ${s ? `${s.gcMaxMs.toFixed(1)} ms (${s.gcCount} collections)` : '-'}`,
    `control tick worst:              ${s ? `${(s.tickMaxUs / 1000).toFixed(1)} ms` : '-'}; rss ${s ? s.rssMb.toFixed(0) : '-'} MB`,
  ]
  if (r.faults.length) {
    lines.push('', '| fault | outcome | detected as | cause | time to detect | time to ACTIVE | note |', '|---|---|---|---|---|---|---|')
    for (const f of r.faults) {
      lines.push(
        `| ${f.fault} | ${f.outcome} | ${f.detected ? f.state : '-'}${f.late ? ' (late)' : ''} | ${f.cause ?? '-'} | ${f.detectMs === null ? '-' : `${f.detectMs} ms`} | ${f.recoverMs === null ? '-' : `${f.recoverMs} ms`} | ${f.message.slice(0, 140)} |`,
      )
    }
  }
  return lines.join('\n')
}

function parseArgs(argv: string[]): Partial<SoakOptions> & { json?: string } {
  const o: Partial<SoakOptions> & { json?: string } = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const num = (): number => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v) || v < 0) throw new Error(`soak: ${a} needs a number, got ${argv[i]}`)
      return v
    }
    if (a === '--minutes') o.minutes = num()
    else if (a === '--no-stress') o.stress = false
    else if (a === '--no-faults') o.faults = false
    else if (a === '--healthy-ms') o.healthyMs = num()
    else if (a === '--escalate-after') o.escalateAfter = num()
    else if (a === '--json') o.json = argv[++i]
    else
      throw new Error(
        `soak: unknown option ${a}; usage: npm run soak -- [--minutes N] [--no-stress] [--no-faults] [--healthy-ms N] [--escalate-after N] [--json FILE]`,
      )
  }
  return o
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { json, ...opts } = parseArgs(process.argv.slice(2))
  const r = await runSoak(opts)
  process.stdout.write(`\n${formatSoak(r)}\n`)
  if (json) writeFileSync(json, JSON.stringify(r, null, 2))
  process.exitCode = r.deaths.length === 0 ? 0 : 1
}
