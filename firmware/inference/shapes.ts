// Model shape and output checks, pure functions over the manifest's types: where the sessions are
// (the inference child process, the offline inference thread) they run without loading manifest.ts.
import type { WireFeeds } from './backend.ts'
import type { ModelManifest, ModelRecord, SessionTensorInfo, TensorSpec } from './manifest.ts'

/** Compares what the session says with the manifest; returns a list of disagreements (empty = ok). */
export function shapeMismatches(m: ModelManifest, inputs: SessionTensorInfo[], outputs: SessionTensorInfo[]): string[] {
  const out: string[] = []
  const cmp = (kind: string, want: TensorSpec[], got: SessionTensorInfo[]): void => {
    const gotNames = got.map((g) => g.name)
    for (const w of want) {
      const g = got.find((x) => x.name === w.name)
      if (!g) {
        out.push(`${kind} "${w.name}" missing (model has ${gotNames.join(', ') || 'none'})`)
        continue
      }
      if (g.type !== w.type) out.push(`${kind} "${w.name}" is ${g.type}, manifest says ${w.type}`)
      const ok =
        g.shape.length === w.shape.length &&
        w.shape.every((d, i) => {
          const gd = g.shape[i]
          return d === -1 ? typeof gd === 'string' || gd === -1 : gd === d
        })
      if (!ok) out.push(`${kind} "${w.name}" has shape [${g.shape.join(',')}], manifest says [${w.shape.join(',')}]`)
    }
    for (const g of got) if (!want.some((w) => w.name === g.name)) out.push(`${kind} "${g.name}" is not in the manifest`)
  }
  cmp('input', m.inputs, inputs)
  cmp('output', m.outputs, outputs)
  return out
}

/** Output checks: shapes as the manifest says, finite numbers, probabilities in 0..1. */
export function checkOutputs(model: ModelRecord, outputs: WireFeeds): string | null {
  for (const spec of model.manifest.outputs) {
    const t = outputs[spec.name]
    if (!t) return `output ${spec.name} missing`
    if (t.dims.length !== spec.shape.length || spec.shape.some((d, i) => d !== -1 && t.dims[i] !== d)) {
      return `output ${spec.name} has shape [${t.dims.join(',')}], expected [${spec.shape.join(',')}]`
    }
    if (t.data instanceof Float32Array) {
      for (let i = 0; i < t.data.length; i++) {
        const v = t.data[i]!
        if (!Number.isFinite(v)) return `output ${spec.name} holds a non-finite number`
        if ((spec.name === 'probs' || spec.name === 'confidence' || spec.name === 'output') && (v < 0 || v > 1)) {
          return `output ${spec.name} holds ${v}, outside 0..1`
        }
      }
    }
  }
  return null
}
