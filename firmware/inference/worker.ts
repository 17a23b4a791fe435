// The inference worker (worker_threads). Holds onnxruntime sessions by model id, runs requests,
// and posts a heartbeat from its own event loop so a hung worker shows as silence. It keeps no
// model state between requests (the VAD's recurrent state travels with each request), so a
// restarted worker is as good as the old one once its models are loaded again.
import { parentPort, workerData } from 'node:worker_threads'
import { shapeMismatches, type ModelManifest } from './manifest.ts'
import type { BackendModule, LoadedSession, WireFeeds } from './backend.ts'

export type ToWorker =
  | { type: 'load'; req: number; id: string; manifest: ModelManifest; bytes: Uint8Array }
  | { type: 'unload'; req: number; id: string }
  | { type: 'run'; req: number; id: string; feeds: WireFeeds }
  /** Finish what is running, release the sessions, and exit (a deliberate stop). */
  | { type: 'shutdown' }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'heartbeat' }
  | { type: 'loaded'; req: number; ok: true }
  | { type: 'loaded'; req: number; ok: false; message: string }
  | { type: 'result'; req: number; outputs: WireFeeds; runMs: number }
  | { type: 'failed'; req: number; message: string }

export interface WorkerData {
  /** URL of a module exporting createBackend(). Defaults to the onnxruntime-node backend. */
  backendModule: string
  heartbeatMs: number
}

const port = parentPort
if (!port) throw new Error('firmware/inference/worker.ts must run as a worker thread')
const data = workerData as WorkerData
const mod = (await import(data.backendModule)) as BackendModule
const backend = mod.createBackend()
const sessions = new Map<string, LoadedSession>()

const post = (m: FromWorker): void => port.postMessage(m)
const heartbeat = setInterval(() => post({ type: 'heartbeat' }), data.heartbeatMs)

// A deliberate stop waits for the sessions' native calls in flight: terminating a worker while
// onnxruntime's asynchronous run is pending lets its completion reach a dying environment, which
// aborts the whole process (a C++ exception out of a callback), audio and all.
let busy = 0
let closing = false
async function closeWhenIdle(): Promise<void> {
  if (!closing || busy > 0) return
  clearInterval(heartbeat)
  for (const s of sessions.values()) await s.release().catch(() => {})
  sessions.clear()
  port!.close()
}

port.on('message', async (m: ToWorker) => {
  if (m.type === 'shutdown') {
    closing = true
    return closeWhenIdle()
  }
  if (closing) return
  busy++
  try {
    await handle(m)
  } finally {
    busy--
    await closeWhenIdle()
  }
})

async function handle(m: Exclude<ToWorker, { type: 'shutdown' }>): Promise<void> {
  switch (m.type) {
    case 'load': {
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
        post({ type: 'loaded', req: m.req, ok: false, message: `model ${m.id} cannot be loaded by onnxruntime (${firstLine(e)}); the file is corrupt or not an ONNX model` })
      }
      return
    }
    case 'unload': {
      const s = sessions.get(m.id)
      sessions.delete(m.id)
      if (s) await s.release().catch(() => {})
      post({ type: 'loaded', req: m.req, ok: true })
      return
    }
    case 'run': {
      const s = sessions.get(m.id)
      if (!s) {
        post({ type: 'failed', req: m.req, message: `model ${m.id} is not loaded in the worker` })
        return
      }
      const t0 = performance.now()
      try {
        const outputs = await s.run(m.feeds)
        post({ type: 'result', req: m.req, outputs, runMs: performance.now() - t0 })
      } catch (e) {
        post({ type: 'failed', req: m.req, message: `model ${m.id} failed to run: ${firstLine(e)}` })
      }
      return
    }
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 300)
}

post({ type: 'ready' })
