// The ONNX session boundary: one interface, the real implementation over onnxruntime-node, and
// room for a simulation (tests pass their own module to the worker). Runs inside the worker.
import { createRequire } from 'node:module'
import type { SessionTensorInfo } from './manifest.ts'

/** A tensor as it crosses the worker boundary: plain typed arrays, structured-clone friendly. */
export interface WireTensor {
  type: 'float32' | 'int64'
  dims: number[]
  data: Float32Array | BigInt64Array
}

export type WireFeeds = Record<string, WireTensor>

export interface LoadedSession {
  inputs: SessionTensorInfo[]
  outputs: SessionTensorInfo[]
  run(feeds: WireFeeds): Promise<WireFeeds>
  release(): Promise<void>
}

export interface InferenceBackend {
  /** Creates a session from model bytes (already hash-checked by the caller). */
  load(bytes: Uint8Array): Promise<LoadedSession>
}

/** What a backend module (the worker's `backendModule`) exports. */
export interface BackendModule {
  createBackend(): InferenceBackend
}

type Ort = typeof import('onnxruntime-node')

// CPU-only, single-threaded sessions: the audio thread and the control plane share two cores.
const SESSION_OPTIONS = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential' as const,
  graphOptimizationLevel: 'all' as const,
}

function info(meta: readonly unknown[]): SessionTensorInfo[] {
  return meta.map((m) => {
    const o = m as { name: string; type?: string; shape?: Array<number | string> }
    return { name: o.name, type: o.type ?? 'unknown', shape: o.shape ?? [] }
  })
}

export function createBackend(): InferenceBackend {
  const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort
  return {
    async load(bytes) {
      const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS)
      return {
        inputs: info(session.inputMetadata),
        outputs: info(session.outputMetadata),
        async run(feeds) {
          const ortFeeds: Record<string, InstanceType<Ort['Tensor']>> = {}
          for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims)
          const res = await session.run(ortFeeds)
          const out: WireFeeds = {}
          for (const [name, t] of Object.entries(res)) {
            const data = t.data
            // onnxruntime-node hands back arrays of their own: copied only when of another type.
            out[name] = {
              type: t.type === 'int64' ? 'int64' : 'float32',
              dims: [...t.dims],
              data: data instanceof BigInt64Array || data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>),
            }
          }
          return out
        },
        async release() {
          await session.release()
        },
      }
    },
  }
}
