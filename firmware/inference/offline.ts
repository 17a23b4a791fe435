// OfflineInference: the models of `firmware process` on a worker thread of the command itself
// (worker.ts), instead of the inference child process the live appliance keeps (service.ts). The
// child exists so that a hung or crashing model cannot stop the live sound; offline there is no
// live sound, and a second Node process, its orphan guard and the IPC cost more than the analysis
// of a short file (docs/offline-processing.md, "Fourth round"). What stays: a model that does not
// answer within `hangMs` is a clear FW_ERR_INFERENCE (the analysers stop, the audio and the rest
// of the report still stand), never a command that hangs forever.
//
// Offline nothing is real time, so a slow answer is waited for (a request's deadlineMs does not
// drop it): the report does not depend on how busy the machine was. The same request types and
// the same output checks as the live service, so the analysers (analyse.ts, models.ts) take either.
//
// A request's tensors go over in shared memory this side keeps (issue 18, sixth round): posted as
// they are, every request's arrays would be copied into a new buffer on each side of the message,
// tens of MB a minute of show that V8 frees late and glibc keeps (docs/offline-processing.md,
// "Sixth round: memory flat"); copied into a kept SharedArrayBuffer, the message carries a
// reference and the thread reads them in place.
import { getCompileCacheDir } from 'node:module'
import { Worker } from 'node:worker_threads'
import { FirmwareError } from '../errors.ts'
import type { WireFeeds, WireTensor } from './backend.ts'
import type { FromChild, Request } from './child.ts'
import { BUILTIN_MANIFESTS, loadManifest, type ModelRecord, readVerifiedModel } from './manifest.ts'
import type { ModelRunner } from './models.ts'
import type { InferenceOutcome } from './service.ts'
import { checkOutputs } from './shapes.ts'

export interface OfflineInferenceOptions {
  /** URL of the backend module the thread imports. Defaults to ./backend.ts (onnxruntime-node). */
  backendModule?: string
  /** A request (or the thread's start, or a model's load) not answered in this long: the model hung. Defaults to 30000 ms. */
  hangMs?: number
  /** Manifests to activate. Defaults to the shipped models (BUILTIN_MANIFESTS). */
  manifests?: string[]
}

/**
 * The thread's first code, plain JavaScript: it turns on the process's compile cache (a thread
 * does not inherit it) before the first TypeScript module is loaded, so the thread neither strips
 * nor compiles the inference modules again on every run.
 */
const BOOT = `
const { workerData } = require('node:worker_threads')
if (workerData.compileCache) require('node:module').enableCompileCache?.(workerData.compileCache)
import(workerData.entry)
`

/** Requests whose tensors are smaller than this go by copy (the message is then as cheap). */
const SHARE_MIN_BYTES = 4096
/** Shared buffers kept for requests, at most (the analysers have one request in flight). */
const SHARED_KEPT = 4

interface Waiting {
  what: string
  resolve: (m: FromChild) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/**
 * Node joins every worker thread when it exits; one stuck inside a native call would hold the
 * command forever, so the process ends itself instead (its exit status is then SIGKILL's, 137).
 */
function exitHard(): void {
  process.stderr.write('firmware: the inference thread is stuck inside a model run and cannot be joined; ending the process [FW_ERR_INFERENCE]\n')
  process.kill(process.pid, 'SIGKILL')
}

export class OfflineInference implements ModelRunner {
  readonly #worker: Worker
  readonly #hangMs: number
  readonly #active = new Map<string, ModelRecord>()
  readonly #waiting = new Map<number, Waiting>()
  #req = 0
  /** Shared buffers for requests' tensors, free for the next request (#share). */
  readonly #shared: SharedArrayBuffer[] = []
  /** Set once the thread hung or died: every request after it fails with this. */
  #broken: FirmwareError | null = null
  #stopped: Promise<void> | null = null

  private constructor(worker: Worker, hangMs: number) {
    this.#worker = worker
    this.#hangMs = hangMs
    worker.on('message', (m: FromChild) => this.#onMessage(m))
    worker.on('error', (e) => this.#fail(new FirmwareError('FW_ERR_INFERENCE', `the inference thread failed: ${firstLine(e)}`)))
    worker.on('exit', (code) => {
      if (this.#stopped === null) this.#fail(new FirmwareError('FW_ERR_INFERENCE', `the inference thread ended (code ${code})`))
    })
  }

  /**
   * Starts the thread and activates the models (hash-checked here, shapes checked in the thread).
   * The models load on the thread while the caller goes on (the engine starts meanwhile). Throws
   * FW_ERR_MODEL for a model that does not load, FW_ERR_INFERENCE if the thread does not start;
   * nothing is left running then.
   */
  static async start(opts: OfflineInferenceOptions = {}): Promise<OfflineInference> {
    const backendModule = opts.backendModule ?? new URL('./backend.ts', import.meta.url).href
    const compileCache = getCompileCacheDir?.()
    const worker = new Worker(BOOT, {
      eval: true,
      workerData: { backendModule, entry: new URL('./worker.ts', import.meta.url).href, ...(compileCache ? { compileCache } : {}) },
    })
    const inf = new OfflineInference(worker, opts.hangMs ?? 30_000)
    try {
      // Read and hash the models while the thread boots; then every load goes at once.
      const recs = (opts.manifests ?? BUILTIN_MANIFESTS).map((m) => loadManifest(m))
      const bytes = recs.map((r) => readVerifiedModel(r))
      await inf.#ask(0, 'the inference thread to start')
      const loads = recs.map((rec, i) => {
        const req = ++inf.#req
        const answer = inf.#ask(req, `model ${rec.id} to load`)
        inf.#worker.postMessage({ type: 'load', req, id: rec.id, manifest: rec.manifest, bytes: bytes[i]! } satisfies Request)
        return answer
      })
      for (const [i, a] of (await Promise.all(loads)).entries()) {
        if (a.type === 'loaded' && !a.ok) throw new FirmwareError('FW_ERR_MODEL', a.message)
        inf.#active.set(recs[i]!.manifest.name, recs[i]!)
      }
      return inf
    } catch (e) {
      await inf.stop()
      throw e
    }
  }

  active(name: string): ModelRecord | null {
    return this.#active.get(name) ?? null
  }

  infer(name: string, feeds: WireFeeds, _opts: { deadlineMs?: number } = {}): Promise<InferenceOutcome> {
    return this.#request(name, feeds, (req, id, shared) => ({ type: 'run', req, id, feeds: shared }))
  }

  inferScan(
    name: string,
    feeds: WireFeeds,
    scan: { steps: number; stepInputs: string[]; carry: Record<string, string> },
    _opts: { deadlineMs?: number } = {},
  ): Promise<InferenceOutcome> {
    return this.#request(name, feeds, (req, id, shared) => ({ type: 'scan', req, id, feeds: shared, ...scan }))
  }

  /** Ends the thread (releasing the sessions). A thread stuck in native code cannot be joined: the command then ends itself at exit. */
  stop(): Promise<void> {
    if (this.#stopped !== null) return this.#stopped
    this.#fail(new FirmwareError('FW_ERR_INFERENCE', 'inference stopped'))
    this.#stopped = new Promise<void>((resolve) => {
      const grace = setTimeout(() => {
        process.once('exit', exitHard)
        this.#worker.unref()
        resolve()
      }, 1000)
      void this.#worker.terminate().then(() => {
        clearTimeout(grace)
        resolve()
      })
    })
    return this.#stopped
  }

  /**
   * Runs a request. Rejects with FW_ERR_INFERENCE when the thread does not answer within hangMs
   * (then, and after, every request fails: the analysers stop rather than wait once more per
   * request); resolves 'dropped' when the model failed or its output is refused, as the service.
   */
  async #request(name: string, feeds: WireFeeds, message: (req: number, id: string, feeds: WireFeeds) => Request): Promise<InferenceOutcome> {
    const model = this.active(name)
    if (!model) return { status: 'dropped', reason: `no active model named ${name}` }
    const req = ++this.#req
    const t0 = performance.now()
    const shared = this.#share(feeds)
    const answer = this.#ask(req, `model ${model.id}`)
    // Answered (or failed) requests give their buffer back; a hung thread may still read it: kept out.
    void answer.then(
      () => this.#unshare(shared.buffer),
      () => {},
    )
    try {
      this.#worker.postMessage(message(req, model.id, shared.feeds))
    } catch (e) {
      // Feeds that cannot be sent (not clonable): this request only; nothing waits for an answer.
      const w = this.#waiting.get(req)
      if (w) clearTimeout(w.timer)
      this.#waiting.delete(req)
      answer.catch(() => {})
      return { status: 'dropped', reason: `the request to ${model.id} could not be sent: ${firstLine(e)}` }
    }
    const m = await answer
    if (m.type === 'failed') return { status: 'dropped', reason: m.message }
    if (m.type !== 'result') return { status: 'dropped', reason: `unexpected answer ${m.type}` }
    const problem = checkOutputs(model, m.outputs)
    if (problem) return { status: 'dropped', reason: `output rejected: ${problem}` }
    return { status: 'ok', outputs: m.outputs, latencyMs: performance.now() - t0 }
  }

  /**
   * The feeds with their arrays copied into a shared buffer (the smallest free one that fits, or a new one),
   * 8-byte aligned one after the other; feeds under SHARE_MIN_BYTES as they are.
   */
  #share(feeds: WireFeeds): { feeds: WireFeeds; buffer: SharedArrayBuffer | null } {
    const entries = Object.entries(feeds)
    const size = (t: WireTensor) => Math.ceil(t.data.byteLength / 8) * 8
    const bytes = entries.reduce((n, [, t]) => n + size(t), 0)
    if (bytes < SHARE_MIN_BYTES) return { feeds, buffer: null }
    const free = this.#shared.findIndex((b) => b.byteLength >= bytes)
    const buffer = free >= 0 ? this.#shared.splice(free, 1)[0]! : new SharedArrayBuffer(bytes)
    const out: WireFeeds = {}
    let at = 0
    for (const [name, t] of entries) {
      const data = t.data instanceof BigInt64Array ? new BigInt64Array(buffer, at, t.data.length) : new Float32Array(buffer, at, t.data.length)
      data.set(t.data as never)
      out[name] = { type: t.type, dims: t.dims, data }
      at += size(t)
    }
    return { feeds: out, buffer }
  }

  #unshare(buffer: SharedArrayBuffer | null): void {
    if (buffer === null) return
    this.#shared.push(buffer)
    // Smallest first (a request takes the smallest that fits); the largest few are kept.
    this.#shared.sort((a, b) => a.byteLength - b.byteLength)
    if (this.#shared.length > SHARED_KEPT) this.#shared.splice(0, this.#shared.length - SHARED_KEPT)
  }

  /** The thread's answer to request `req` (0: its start), or a rejection if it hangs or is gone. */
  #ask(req: number, what: string): Promise<FromChild> {
    if (this.#broken) return Promise.reject(this.#broken)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(req)
        const e = new FirmwareError(
          'FW_ERR_INFERENCE',
          `${what} did not answer within ${Math.round(this.#hangMs / 100) / 10} s; the inference thread is taken as hung and the analysers stop`,
        )
        this.#fail(e)
        reject(e)
        void this.stop()
      }, this.#hangMs)
      this.#waiting.set(req, { what, resolve, reject, timer })
    })
  }

  #onMessage(m: FromChild): void {
    const req = m.type === 'ready' ? 0 : 'req' in m ? m.req : -1
    const w = this.#waiting.get(req)
    if (!w) return
    this.#waiting.delete(req)
    clearTimeout(w.timer)
    w.resolve(m)
  }

  #fail(e: FirmwareError): void {
    this.#broken ??= e
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer)
      w.reject(e)
    }
    this.#waiting.clear()
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]!
    .slice(0, 300)
}
