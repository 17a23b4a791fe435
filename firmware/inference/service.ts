// InferenceService: the audio process's side of the inference child process (child.ts). It owns
// the child's life (start, heartbeat watch, kill and restart with backoff), each request's
// deadline (a late result is dropped and counted, the caller never waits past the deadline), the
// A/B model slots (activate, rollback; a refused model leaves the previous one active), and the
// health events the watchdog consumes (firmware/watchdog/inference-health.ts). Nothing here
// touches the audio path. The models run in another process so that nothing they do (a hang in
// native code, an abort, a crash) can take this one down: see docs/inference.md.
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { getCompileCacheDir } from 'node:module'
import { fileURLToPath } from 'node:url'
import { FirmwareError } from '../errors.ts'
import type { InferenceHealthEvent } from '../watchdog/inference-health.ts'
import type { WireFeeds } from './backend.ts'
import type { FromChild, ToChild } from './child.ts'
import { BUILTIN_MANIFESTS, checkOutputs, loadManifest, type ModelRecord, readVerifiedModel } from './manifest.ts'

// Where it was first defined; the offline thread uses it too (from manifest.ts, without this module).
export { checkOutputs }

export interface InferenceServiceOptions {
  /** Health events for the watchdog (Appliance.reportInference). Defaults to none. */
  onHealth?: (ev: InferenceHealthEvent) => void
  /** Log lines (restarts, refusals, the child's stderr). Defaults to none. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void
  /** URL of the module the child imports for its ONNX backend. Defaults to ./backend.ts (onnxruntime-node). */
  backendModule?: string
  /** Child heartbeat period. Defaults to 100 ms. */
  heartbeatMs?: number
  /** No heartbeat, or a request outstanding, for this long means the child is hung: it is killed and restarted. Defaults to 1000 ms. */
  hungMs?: number
  /** A hung child gets SIGTERM, then SIGKILL after this long. Defaults to 500 ms. */
  killGraceMs?: number
  /** A deliberate stop waits this long for the child to finish its runs and leave, then SIGKILLs it. Defaults to 2000 ms. */
  stopGraceMs?: number
  /** First restart delay; doubles per consecutive failure. Defaults to 200 ms. */
  backoffInitialMs?: number
  /** Longest restart delay. Defaults to 10000 ms. */
  backoffMaxMs?: number
  /** A child that stays up this long resets the backoff. Defaults to 30000 ms. */
  backoffResetMs?: number
  /** Wall clock (ms). Defaults to Date.now. */
  now?: () => number
}

export type InferenceOutcome =
  | { status: 'ok'; outputs: WireFeeds; latencyMs: number }
  /** The deadline passed first; the result, if it comes, is dropped and counted. */
  | { status: 'late'; deadlineMs: number }
  /** Not run: no child (restarting), model not active, or the child failed the request. */
  | { status: 'dropped'; reason: string }

export interface ModelSlotInfo {
  name: string
  active: { id: string; version: string } | null
  previous: { id: string; version: string } | null
}

export interface InferenceStats {
  requests: number
  ok: number
  late: number
  dropped: number
  failed: number
  invalid: number
  restarts: number
  /** Children killed because they hung. */
  hangs: number
  /** Children that died on their own (a crash, an abort, kill -9 from outside). */
  crashes: number
  running: boolean
  /** The child's process id, or null while there is none. */
  pid: number | null
  /** Round trip as the caller sees it (this process to the child and back). */
  latencyMs: Record<string, { n: number; p50: number; p99: number; max: number }>
  /** The session run alone, timed inside the child. */
  runMs: Record<string, { n: number; p50: number; p99: number; max: number }>
  /** Per request, round trip minus the run: what crossing to the child and back costs (IPC, queueing). */
  ipcMs: Record<string, { n: number; p50: number; p99: number; max: number }>
}

interface Inflight {
  model: ModelRecord
  sentAt: number
  deadlineMs: number
  resolve: (o: InferenceOutcome) => void
  timer: NodeJS.Timeout | null
  settled: boolean
}

interface Pending {
  resolve: (ok: true | string) => void
}

/** One child process and why it is going away, if it is. */
interface Child {
  proc: ChildProcess
  /** Set when this service ends the child: its exit is then not a crash. */
  killedFor: 'hung' | 'stopped' | null
  killTimer: NodeJS.Timeout | null
  exited: Promise<void>
}

const LATENCY_KEEP = 2048
const CHILD_ENTRY = fileURLToPath(new URL('./child.ts', import.meta.url))
/**
 * util-linux's setpriv starts the child with the kernel's parent-death signal set (prctl
 * PR_SET_PDEATHSIG): SIGKILL the moment this process dies, even while the child is stuck in native
 * code. Without it (not installed) the child runs its own orphan guard, a thread (child.ts).
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null

export class InferenceService {
  readonly #o: Required<Omit<InferenceServiceOptions, 'onHealth' | 'log'>> & Pick<InferenceServiceOptions, 'onHealth' | 'log'>
  #child: Child | null = null
  /** Children killed and not yet exited (a stop waits for them). */
  readonly #dying = new Set<Child>()
  #ready = false
  #stopping = false
  #lastBeat = 0
  #startedAt = 0
  #failures = 0
  #restartTimer: NodeJS.Timeout | null = null
  #watchTimer: NodeJS.Timeout | null = null
  #req = 0
  readonly #inflight = new Map<number, Inflight>()
  readonly #pendingLoads = new Map<number, Pending>()
  readonly #slots = new Map<string, { active: ModelRecord | null; previous: ModelRecord | null }>()
  readonly #bytes = new Map<string, Uint8Array>()
  readonly #latency = new Map<string, number[]>()
  readonly #runTimes = new Map<string, number[]>()
  readonly #ipcTimes = new Map<string, number[]>()
  #readyWaiters: Array<() => void> = []
  readonly #counts = { requests: 0, ok: 0, late: 0, dropped: 0, failed: 0, invalid: 0, restarts: 0, hangs: 0, crashes: 0 }

  constructor(opts: InferenceServiceOptions = {}) {
    this.#o = {
      backendModule: new URL('./backend.ts', import.meta.url).href,
      heartbeatMs: 100,
      hungMs: 1000,
      killGraceMs: 500,
      stopGraceMs: 2000,
      backoffInitialMs: 200,
      backoffMaxMs: 10000,
      backoffResetMs: 30000,
      now: Date.now,
      ...opts,
    }
  }

  /** Starts the child and resolves once it is ready. */
  async start(): Promise<void> {
    this.#stopping = false
    this.#spawn()
    this.#watchTimer = setInterval(() => this.#watch(), this.#o.heartbeatMs)
    this.#watchTimer.unref()
    await this.whenReady()
  }

  /** Resolves when a child is up with its models loaded. */
  whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve()
    return new Promise((res) => this.#readyWaiters.push(res))
  }

  get running(): boolean {
    return this.#ready
  }

  /** The child's process id (null while there is none): for status, and for tests that kill it. */
  get pid(): number | null {
    return this.#child?.proc.pid ?? null
  }

  /** Stops the child for good (a deliberate stop: the watchdog is told so). */
  async stop(): Promise<void> {
    this.#stopping = true
    if (this.#watchTimer) clearInterval(this.#watchTimer)
    if (this.#restartTimer) clearTimeout(this.#restartTimer)
    this.#watchTimer = this.#restartTimer = null
    this.#failAll('inference stopped')
    const c = this.#child
    this.#child = null
    this.#ready = false
    if (c) {
      // Ask the child to finish its runs and leave; SIGKILL it if it does not in time.
      c.killedFor = 'stopped'
      this.#dying.add(c)
      this.#send(c, { type: 'shutdown' })
      c.killTimer = setTimeout(() => c.proc.kill('SIGKILL'), this.#o.stopGraceMs)
    }
    for (const d of this.#dying) if (d !== c) d.proc.kill('SIGKILL')
    await Promise.all([...this.#dying].map((d) => d.exited))
    this.#health({ type: 'inference-stopped', at: this.#o.now() })
  }

  /**
   * Activates a model (a manifest path or an already loaded record) in its name's slot. The file's
   * sha256 is checked here and its shapes in the child; on any refusal this throws FW_ERR_MODEL and
   * the slot's active model stays as it was. The replaced model is kept for rollback().
   */
  async activate(model: string | ModelRecord): Promise<ModelRecord> {
    const rec = typeof model === 'string' ? loadManifest(model) : model
    const bytes = readVerifiedModel(rec)
    if (!this.#ready || !this.#child)
      throw new FirmwareError('FW_ERR_INFERENCE', `the inference process is not running; model ${rec.id} was not activated, try again in a few seconds`)
    const res = await this.#load(rec, bytes)
    if (res !== true) {
      this.#o.log?.('warn', res)
      throw new FirmwareError('FW_ERR_MODEL', `${res}; the previous model stays active`)
    }
    this.#bytes.set(rec.id, bytes)
    const slot = this.#slots.get(rec.manifest.name) ?? { active: null, previous: null }
    if (slot.active?.id !== rec.id) {
      if (slot.previous && slot.previous.id !== rec.id) this.#forget(slot.previous)
      slot.previous = slot.active
      slot.active = rec
    }
    this.#slots.set(rec.manifest.name, slot)
    this.#o.log?.('info', `model ${rec.id} active${slot.previous ? ` (previous ${slot.previous.id} kept for rollback)` : ''}`)
    return rec
  }

  /** Swaps back to the model that was active before the last activate() of this name. */
  async rollback(name: string): Promise<ModelRecord> {
    const slot = this.#slots.get(name)
    if (!slot?.previous) throw new FirmwareError('FW_ERR_MODEL', `model ${name} has no previous version to roll back to`)
    const prev = slot.previous
    slot.previous = slot.active
    slot.active = prev
    this.#o.log?.('info', `model ${name} rolled back to ${prev.id}`)
    return prev
  }

  /** The active model for a name, or null. */
  active(name: string): ModelRecord | null {
    return this.#slots.get(name)?.active ?? null
  }

  models(): ModelSlotInfo[] {
    const brief = (r: ModelRecord | null) => (r ? { id: r.id, version: r.manifest.version } : null)
    return [...this.#slots.entries()].map(([name, s]) => ({ name, active: brief(s.active), previous: brief(s.previous) }))
  }

  /**
   * Runs the active model of `name`. Resolves by the deadline (defaults to the manifest's latency
   * budget) at the latest: 'ok' with outputs, 'late' (the result will be dropped), or 'dropped'.
   * Never rejects.
   */
  infer(name: string, feeds: WireFeeds, opts: { deadlineMs?: number } = {}): Promise<InferenceOutcome> {
    return this.#request(name, opts, (req, id) => ({ type: 'run', req, id, feeds }))
  }

  /**
   * Runs the active model of `name` `scan.steps` times in a row in one request (offline batches of
   * a recurrent model, e.g. a second of VAD windows): each input in `scan.stepInputs` holds `steps`
   * rows along its first axis, run i gets row i, and each output named in `scan.carry` feeds that
   * input of the next run. The outcome's outputs hold the other outputs' rows stacked and the
   * carried ones' last value. Deadline and outcomes as infer(); one request counts once.
   */
  inferScan(
    name: string,
    feeds: WireFeeds,
    scan: { steps: number; stepInputs: string[]; carry: Record<string, string> },
    opts: { deadlineMs?: number } = {},
  ): Promise<InferenceOutcome> {
    return this.#request(name, opts, (req, id) => ({ type: 'scan', req, id, feeds, ...scan }))
  }

  #request(name: string, opts: { deadlineMs?: number }, message: (req: number, id: string) => ToChild): Promise<InferenceOutcome> {
    this.#counts.requests++
    const model = this.active(name)
    if (!model) return Promise.resolve(this.#drop(`no active model named ${name}`))
    const c = this.#child
    if (!this.#ready || !c) return Promise.resolve(this.#drop('the inference process is restarting'))
    const deadlineMs = opts.deadlineMs ?? model.manifest.latencyBudgetMs
    const req = ++this.#req
    return new Promise((resolve) => {
      const entry: Inflight = { model, sentAt: performance.now(), deadlineMs, resolve, timer: null, settled: false }
      entry.timer = setTimeout(() => {
        entry.timer = null
        if (entry.settled) return
        entry.settled = true
        this.#counts.late++
        resolve({ status: 'late', deadlineMs })
      }, deadlineMs)
      this.#inflight.set(req, entry)
      this.#send(c, message(req, model.id))
    })
  }

  stats(): InferenceStats {
    const summary = (m: Map<string, number[]>) => {
      const out: InferenceStats['latencyMs'] = {}
      for (const [name, arr] of m) {
        const s = [...arr].sort((a, b) => a - b)
        const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0
        out[name] = { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? 0 }
      }
      return out
    }
    return {
      ...this.#counts,
      running: this.#ready,
      pid: this.pid,
      latencyMs: summary(this.#latency),
      runMs: summary(this.#runTimes),
      ipcMs: summary(this.#ipcTimes),
    }
  }

  // ---- internals ----

  #health(ev: InferenceHealthEvent): void {
    try {
      this.#o.onHealth?.(ev)
    } catch {
      // A faulty listener must not take the service down.
    }
  }

  #drop(reason: string): InferenceOutcome {
    this.#counts.dropped++
    return { status: 'dropped', reason }
  }

  #forget(rec: ModelRecord): void {
    this.#bytes.delete(rec.id)
    if (this.#child) this.#send(this.#child, { type: 'unload', req: ++this.#req, id: rec.id })
  }

  #load(rec: ModelRecord, bytes: Uint8Array): Promise<true | string> {
    const c = this.#child
    if (!c) return Promise.resolve('the inference process is not running')
    const req = ++this.#req
    return new Promise((resolve) => {
      this.#pendingLoads.set(req, { resolve })
      this.#send(c, { type: 'load', req, id: rec.id, manifest: rec.manifest, bytes })
    })
  }

  /**
   * Rehearsal hook (`rehearse inference-hang`): the inference process blocks for `ms` (at most
   * 10 s), exactly as a model stuck inside a run: its heartbeat stops, the service declares it hung,
   * kills it and starts a fresh one. Throws FW_ERR_NOT_AVAILABLE when no inference process runs.
   */
  injectStall(ms: number): void {
    const c = this.#child
    if (!c) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'no inference process is running to stall')
    this.#send(c, { type: 'stall', ms })
  }

  /** Sends to a child; a child that is gone is noticed by its exit, not here. */
  #send(c: Child, m: ToChild): void {
    if (!c.proc.connected) return
    c.proc.send(m, (e) => {
      if (e && c === this.#child) this.#o.log?.('warn', `inference process did not take a message: ${e.message}`)
    })
  }

  #spawn(): void {
    const args = ['--inference-child', '--backend', this.#o.backendModule, '--heartbeat-ms', String(this.#o.heartbeatMs)]
    // node (or, in the image, the single binary, which runs a .ts path as node would) with IPC.
    // The child compiles the same modules: it shares this process's compile cache, if it has one.
    const cache = getCompileCacheDir?.()
    const execArgv = ['--disable-warning=ExperimentalWarning']
    const options = {
      ...(cache ? { env: { ...process.env, NODE_COMPILE_CACHE: cache } } : {}),
      serialization: 'advanced' as const,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'] as Array<'ignore' | 'pipe' | 'ipc'>,
    }
    // As fork() would start it, behind setpriv: the kernel kills the child with this process.
    const proc = SETPRIV
      ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...execArgv, CHILD_ENTRY, ...args, '--pdeathsig', String(process.pid)], options)
      : fork(CHILD_ENTRY, args, { execArgv, ...options })
    let exit!: () => void
    const c: Child = { proc, killedFor: null, killTimer: null, exited: new Promise((r) => (exit = r)) }
    this.#child = c
    this.#ready = false
    this.#lastBeat = this.#o.now()
    let errTail = ''
    proc.stderr?.setEncoding('utf8')
    proc.stderr?.on('data', (chunk: string) => {
      const lines = (errTail + chunk).split('\n')
      errTail = lines.pop()!.slice(-1000)
      for (const l of lines) if (l.trim()) this.#o.log?.('warn', `inference process: ${l.slice(0, 300)}`)
    })
    proc.on('message', (m: FromChild) => {
      if (c !== this.#child) return
      void this.#onMessage(c, m)
    })
    proc.on('error', (e) => {
      // Only a failed spawn is news here (a failed send has its own callback); it has no exit.
      if (proc.pid !== undefined) return
      this.#o.log?.('error', `the inference process could not be started: ${e.message}`)
      this.#exited(c, null, null)
      exit()
    })
    proc.on('exit', (code, signal) => {
      this.#exited(c, code, signal)
      exit()
    })
  }

  async #onMessage(c: Child, m: FromChild): Promise<void> {
    switch (m.type) {
      case 'ready': {
        this.#startedAt = this.#o.now()
        this.#lastBeat = this.#startedAt
        // Reload every model a slot refers to, then declare the child up.
        for (const slot of this.#slots.values()) {
          for (const rec of [slot.active, slot.previous]) {
            const bytes = rec && this.#bytes.get(rec.id)
            if (!rec || !bytes) continue
            const res = await this.#load(rec, bytes)
            if (res !== true && c === this.#child) this.#health({ type: 'inference-error', at: this.#o.now(), message: res })
          }
        }
        if (c !== this.#child) return
        this.#ready = true
        this.#health({ type: 'inference-started', at: this.#o.now() })
        const waiters = this.#readyWaiters
        this.#readyWaiters = []
        for (const f of waiters) f()
        return
      }
      case 'heartbeat':
        this.#lastBeat = this.#o.now()
        if (this.#failures > 0 && this.#lastBeat - this.#startedAt > this.#o.backoffResetMs) this.#failures = 0
        this.#health({ type: 'inference-heartbeat', at: this.#lastBeat })
        return
      case 'loaded': {
        const p = this.#pendingLoads.get(m.req)
        this.#pendingLoads.delete(m.req)
        p?.resolve(m.ok ? true : m.message)
        return
      }
      case 'result':
      case 'failed': {
        const e = this.#inflight.get(m.req)
        if (!e) return
        this.#inflight.delete(m.req)
        if (e.timer) clearTimeout(e.timer)
        const latencyMs = performance.now() - e.sentAt
        if (m.type === 'failed') {
          this.#counts.failed++
          this.#health({ type: 'inference-error', at: this.#o.now(), message: m.message })
          if (!e.settled) {
            e.settled = true
            e.resolve({ status: 'dropped', reason: m.message })
          }
          return
        }
        const problem = checkOutputs(e.model, m.outputs)
        this.#health({
          type: 'inference-result',
          at: this.#o.now(),
          latencyMs,
          deadlineMs: e.deadlineMs,
          valid: problem === null,
          ...(problem ? { detail: problem } : {}),
        })
        for (const [store, v] of [
          [this.#latency, latencyMs],
          [this.#runTimes, m.runMs],
          [this.#ipcTimes, latencyMs - m.runMs],
        ] as const) {
          const arr = store.get(e.model.manifest.name) ?? []
          arr.push(v)
          if (arr.length > LATENCY_KEEP) arr.shift()
          store.set(e.model.manifest.name, arr)
        }
        // Past its deadline: the caller has moved on (or is told so now); the result is dropped.
        if (e.settled) return
        if (latencyMs > e.deadlineMs) {
          this.#counts.late++
          e.settled = true
          e.resolve({ status: 'late', deadlineMs: e.deadlineMs })
          return
        }
        e.settled = true
        if (problem) {
          this.#counts.invalid++
          e.resolve({ status: 'dropped', reason: `output rejected: ${problem}` })
          return
        }
        this.#counts.ok++
        e.resolve({ status: 'ok', outputs: m.outputs, latencyMs })
        return
      }
    }
  }

  #watch(): void {
    const c = this.#child
    if (!c || this.#stopping || !this.#verdict()) return
    // Confirm after this loop turn has read the child's messages. If this process's own event
    // loop was held up (a long synchronous call, a GC pause, a starved machine), the heartbeats
    // and results the child sent meanwhile are still queued: timers run before I/O, so judging
    // now would take our stall for the child's hang. setImmediate runs after the I/O poll.
    setImmediate(() => {
      if (c !== this.#child || this.#stopping) return
      const why = this.#verdict()
      if (why) this.#hung(c, why)
    })
  }

  /** Why the child counts as hung now, or null. */
  #verdict(): string | null {
    const now = this.#o.now()
    // While starting (loading onnxruntime, reloading models) allow longer before calling it hung.
    const limit = this.#ready ? this.#o.hungMs : 5 * this.#o.hungMs
    if (now - this.#lastBeat > limit) return `no heartbeat from the inference process for ${Math.round(now - this.#lastBeat)} ms`
    const t = performance.now()
    for (const e of this.#inflight.values()) {
      if (t - e.sentAt > this.#o.hungMs) return `an inference request to ${e.model.id} has been running for ${Math.round(t - e.sentAt)} ms`
    }
    return null
  }

  /** A hung child: reported as a hang (never as an error), killed, and restarted once it is gone. */
  #hung(c: Child, why: string): void {
    this.#counts.hangs++
    this.#health({ type: 'inference-hung', at: this.#o.now(), message: why })
    this.#o.log?.('error', `${why}; killing it (SIGTERM, SIGKILL after ${this.#o.killGraceMs} ms) and restarting`)
    this.#child = null
    this.#ready = false
    c.killedFor = 'hung'
    this.#dying.add(c)
    this.#failAll(`the inference process hung (${why})`)
    c.proc.kill('SIGTERM')
    c.killTimer = setTimeout(() => c.proc.kill('SIGKILL'), this.#o.killGraceMs)
  }

  #failAll(reason: string): void {
    for (const e of this.#inflight.values()) {
      if (e.timer) clearTimeout(e.timer)
      if (!e.settled) {
        e.settled = true
        this.#counts.dropped++
        e.resolve({ status: 'dropped', reason })
      }
    }
    this.#inflight.clear()
    for (const p of this.#pendingLoads.values()) p.resolve(reason)
    this.#pendingLoads.clear()
  }

  /** A child is gone: killed by us (hung, stopped) or on its own (a crash). */
  #exited(c: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (c.killTimer) clearTimeout(c.killTimer)
    c.killTimer = null
    this.#dying.delete(c)
    if (c.killedFor === 'stopped') return
    const how = `code ${code ?? '-'}, signal ${signal ?? '-'}`
    if (c.killedFor === 'hung') {
      this.#health({ type: 'inference-exit', at: this.#o.now(), code, signal, reason: 'hung' })
      this.#restart(`killed after hanging (${how})`)
      return
    }
    if (c !== this.#child) return
    // Not asked to go: a crash (an abort in native code, an out-of-memory kill, kill -9).
    this.#child = null
    this.#ready = false
    this.#counts.crashes++
    this.#health({ type: 'inference-exit', at: this.#o.now(), code, signal, reason: 'crash' })
    this.#o.log?.('error', `the inference process crashed (${how})`)
    this.#failAll(`the inference process crashed (${how})`)
    this.#restart(`crashed (${how})`)
  }

  #restart(why: string): void {
    if (this.#stopping) return
    const delay = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** this.#failures)
    this.#failures++
    this.#counts.restarts++
    this.#o.log?.('warn', `inference process lost (${why}); restart ${this.#counts.restarts} in ${delay} ms`)
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      if (!this.#stopping) this.#spawn()
    }, delay)
  }
}

/** A started service with the shipped models active (the offline tools' set-up); stopped again if
 *  a model cannot be activated, so a failure leaves no process behind. */
export async function startWithBuiltinModels(opts: InferenceServiceOptions = {}): Promise<InferenceService> {
  const svc = new InferenceService(opts)
  await svc.start()
  try {
    for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
  } catch (e) {
    await svc.stop()
    throw e
  }
  return svc
}
