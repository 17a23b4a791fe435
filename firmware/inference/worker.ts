// The offline inference thread: the same requests as the inference child process (child.ts: load,
// unload, run, scan) served on a worker thread of `firmware process` itself. Offline there is no
// live sound for a hung model to stop, so the models need not live in a process of their own; what
// the child protects against (a hang in native code) is caught by OfflineInference's time limit
// instead (offline.ts). Started by OfflineInference only, with the backend module's URL as workerData.
import { parentPort, workerData } from 'node:worker_threads'
import type { BackendModule } from './backend.ts'
import type { FromChild, Request, Served } from './child.ts'

const port = parentPort
if (port) {
  const { backendModule } = workerData as { backendModule: string }
  const { handleRequest } = await import('./child.ts')
  const mod = (await import(backendModule)) as BackendModule
  const served: Served = { backend: mod.createBackend(), sessions: new Map(), post: (m: FromChild) => port.postMessage(m) }
  port.on('message', (m: Request) => {
    void handleRequest(served, m)
  })
  port.postMessage({ type: 'ready', pid: process.pid } satisfies FromChild)
}
