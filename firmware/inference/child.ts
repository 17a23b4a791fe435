// The inference child process: holds onnxruntime sessions by model id, runs requests, and sends a
// heartbeat from its own event loop so a hung child shows as silence. InferenceService starts it
// with child_process.fork (IPC with the "advanced" serialization, so typed arrays cross as they are)
// and is its only parent. It is a process of its own, not a worker thread, so that nothing it does
// can reach the audio process: an abort inside onnxruntime, a native deadlock or a crash ends this
// process only, and the service kills (SIGTERM, then SIGKILL) and restarts it. It keeps no model
// state between requests (the VAD's recurrent state travels with each request), so a restarted
// child is as good as the old one once its models are loaded again.
//
// Usage (by the service only): node child.ts --inference-child --backend URL --heartbeat-ms N
// [--pdeathsig PARENT_PID] (started by setpriv --pdeathsig KILL: no orphan guard thread needed)
// In the image the single binary runs it the same way (scripts/image/sea-entry.ts runs a .ts
// path as node would), from lib/firmware/inference/child.ts.
import { Worker } from 'node:worker_threads'
import type { BackendModule, InferenceBackend, LoadedSession, WireFeeds, WireTensor } from './backend.ts'
import type { ModelManifest } from './manifest.ts'
import { shapeMismatches } from './shapes.ts'

export type ToChild =
  | { type: 'load'; req: number; id: string; manifest: ModelManifest; bytes: Uint8Array }
  | { type: 'unload'; req: number; id: string }
  | { type: 'run'; req: number; id: string; feeds: WireFeeds }
  /**
   * `steps` runs of one model in a row, in one message (offline: a second of VAD windows instead of
   * 32 round trips): each input named in `stepInputs` has `steps` rows along its first axis, and run
   * i gets row i (first axis 1); each output named in `carry` becomes that input of the next run.
   * The result holds every other output's rows stacked along the first axis, and the carried ones'
   * last value.
   */
  | { type: 'scan'; req: number; id: string; feeds: WireFeeds; steps: number; stepInputs: string[]; carry: Record<string, string> }
  /** Finish what is running, release the sessions, and exit 0 (a deliberate stop). */
  | { type: 'shutdown' }
  /** Rehearsal (`rehearse inference-hang`): block this process for `ms`, as a model stuck in a run would. */
  | { type: 'stall'; ms: number }

export type FromChild =
  | { type: 'ready'; pid: number }
  | { type: 'heartbeat' }
  | { type: 'loaded'; req: number; ok: true }
  | { type: 'loaded'; req: number; ok: false; message: string }
  | { type: 'result'; req: number; outputs: WireFeeds; runMs: number }
  | { type: 'failed'; req: number; message: string }

function argOf(name: string): string | undefined {
  const k = process.argv.indexOf(name)
  return k >= 0 ? process.argv[k + 1] : undefined
}

/** The messages that ask for work (load, unload, run, scan): what the offline inference thread serves too (worker.ts). */
export type Request = Exclude<ToChild, { type: 'shutdown' } | { type: 'stall' }>
export type Post = (m: FromChild) => void

/** What the requests are served with: the backend, the sessions by model id, the way back to the parent. */
export interface Served {
  backend: InferenceBackend
  sessions: Map<string, LoadedSession>
  post: Post
}

/** load: a session from the model bytes, kept only if its inputs and outputs match the manifest. */
async function load({ backend, sessions, post }: Served, m: Extract<Request, { type: 'load' }>): Promise<void> {
  try {
    const s = await backend.load(m.bytes)
    const bad = shapeMismatches(m.manifest, s.inputs, s.outputs)
    if (bad.length > 0) {
      await s.release().catch(() => {})
      post({ type: 'loaded', req: m.req, ok: false, message: `model ${m.id} does not match its manifest: ${bad.join('; ')}` })
      return
    }
    const old = sessions.get(m.id)
    sessions.set(m.id, s)
    if (old) await old.release().catch(() => {})
    post({ type: 'loaded', req: m.req, ok: true })
  } catch (e) {
    post({
      type: 'loaded',
      req: m.req,
      ok: false,
      message: `model ${m.id} cannot be loaded by onnxruntime (${firstLine(e)}); the file is corrupt or not an ONNX model`,
    })
  }
}

async function unload({ sessions, post }: Served, m: Extract<Request, { type: 'unload' }>): Promise<void> {
  const s = sessions.get(m.id)
  sessions.delete(m.id)
  if (s) await s.release().catch(() => {})
  post({ type: 'loaded', req: m.req, ok: true })
}

/** The session a request names, or null after answering that it is not loaded. */
function loaded({ sessions, post }: Pick<Served, 'sessions' | 'post'>, m: { id: string; req: number }) {
  const s = sessions.get(m.id)
  if (!s) post({ type: 'failed', req: m.req, message: `model ${m.id} is not loaded in the inference process` })
  return s ?? null
}

async function run({ sessions, post }: Served, m: Extract<Request, { type: 'run' }>): Promise<void> {
  const s = loaded({ sessions, post }, m)
  if (!s) return
  const t0 = performance.now()
  try {
    const outputs = await s.run(m.feeds)
    post({ type: 'result', req: m.req, outputs, runMs: performance.now() - t0 })
  } catch (e) {
    post({ type: 'failed', req: m.req, message: `model ${m.id} failed to run: ${firstLine(e)}` })
  }
}

/** One row of a tensor along its first axis, as a tensor of first axis 1 (a view: nothing copied). */
function row(t: WireTensor, i: number, steps: number): WireTensor {
  const per = t.data.length / steps
  const data = t.data.subarray(i * per, (i + 1) * per) as WireTensor['data']
  return { type: t.type, dims: [1, ...t.dims.slice(1)], data }
}

async function scan({ sessions, post }: Served, m: Extract<Request, { type: 'scan' }>): Promise<void> {
  const s = loaded({ sessions, post }, m)
  if (!s) return
  const t0 = performance.now()
  try {
    const feeds: WireFeeds = { ...m.feeds }
    const rows: Record<string, WireTensor[]> = {}
    let last: WireFeeds = {}
    for (let i = 0; i < m.steps; i++) {
      for (const name of m.stepInputs) feeds[name] = row(m.feeds[name]!, i, m.steps)
      last = await s.run(feeds)
      for (const [name, t] of Object.entries(last)) {
        const into = m.carry[name]
        if (into !== undefined) feeds[into] = t
        else (rows[name] ??= []).push(t)
      }
    }
    const outputs: WireFeeds = {}
    for (const name of Object.keys(m.carry)) if (last[name]) outputs[name] = last[name]
    for (const [name, list] of Object.entries(rows)) {
      const first = list[0]!
      const data = first.type === 'int64' ? new BigInt64Array(first.data.length * list.length) : new Float32Array(first.data.length * list.length)
      list.forEach((t, i) => {
        data.set(t.data as never, i * first.data.length)
      })
      outputs[name] = { type: first.type, dims: [first.dims[0]! * list.length, ...first.dims.slice(1)], data }
    }
    post({ type: 'result', req: m.req, outputs, runMs: performance.now() - t0 })
  } catch (e) {
    post({ type: 'failed', req: m.req, message: `model ${m.id} failed to run: ${firstLine(e)}` })
  }
}

const HANDLERS: { [T in Request['type']]: (served: Served, m: Extract<Request, { type: T }>) => Promise<void> } = { load, unload, run, scan }

/** Serves one request; the answer goes out through `served.post` (this process's IPC, or the offline thread's port). */
export function handleRequest(served: Served, m: Request): Promise<void> {
  return (HANDLERS[m.type] as (served: Served, m: Request) => Promise<void>)(served, m)
}

/** Rehearsal: busy, not asleep: a stuck run keeps its thread and starves the heartbeat, and so does this. */
function stall(ms: number): void {
  const until = performance.now() + Math.min(Math.max(ms, 0), 10_000)
  while (performance.now() < until) {
    /* stalled on purpose */
  }
}

/**
 * A run stuck in native code blocks this process's event loop, so it would never see the channel
 * close. Started behind setpriv (`--pdeathsig PARENT`), the kernel kills this process when the
 * parent dies: nothing to run here but a check that the parent did not die before that was set.
 * Otherwise an orphan guard on its own thread (about 0.04 CPU-s to start) checks the parent every
 * 200 ms and ends this process when the parent has changed (re-parented to init or a subreaper).
 */
function guardAgainstOrphaning(): void {
  const watched = argOf('--pdeathsig')
  if (watched !== undefined) {
    if (process.ppid !== Number(watched)) process.exit(0)
    return
  }
  const parent = process.ppid
  new Worker(`setInterval(() => { if (process.ppid !== ${parent}) process.kill(process.pid, 'SIGKILL') }, 200)`, {
    eval: true,
    resourceLimits: { maxOldGenerationSizeMb: 8 },
  }).unref()
}

/** Serves the parent's messages; a deliberate stop lets the runs in flight finish and releases the sessions before leaving. */
function serve(served: Served, heartbeat: NodeJS.Timeout): void {
  let busy = 0
  let closing = false
  const closeWhenIdle = async (): Promise<void> => {
    if (!closing || busy > 0) return
    clearInterval(heartbeat)
    for (const s of served.sessions.values()) await s.release().catch(() => {})
    served.sessions.clear()
    process.exit(0)
  }
  process.on('message', async (m: ToChild) => {
    if (m.type === 'shutdown') {
      closing = true
      return closeWhenIdle()
    }
    if (m.type === 'stall') return stall(m.ms)
    if (closing) return
    busy++
    try {
      await handleRequest(served, m)
    } finally {
      busy--
      await closeWhenIdle()
    }
  })
}

async function main(): Promise<void> {
  const send = process.send?.bind(process)
  if (!send) {
    process.stderr.write('firmware/inference/child.ts is started by the inference service (child_process.fork with IPC), not by hand\n')
    process.exit(2)
  }
  const backendModule = argOf('--backend') ?? new URL('./backend.ts', import.meta.url).href
  const heartbeatMs = Number(argOf('--heartbeat-ms') ?? 100)
  const post: Post = (m) => {
    if (process.connected) send(m)
  }
  // The parent gone (killed, crashed, or its channel closed): nothing left to serve.
  process.on('disconnect', () => process.exit(0))
  guardAgainstOrphaning()

  const mod = (await import(backendModule)) as BackendModule
  const served: Served = { backend: mod.createBackend(), sessions: new Map(), post }
  const heartbeat = setInterval(() => post({ type: 'heartbeat' }), heartbeatMs)
  serve(served, heartbeat)
  post({ type: 'ready', pid: process.pid })
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]!
    .slice(0, 300)
}

// Runs only when started as the child (the service imports nothing but types from here).
if (process.argv.includes('--inference-child')) await main()
