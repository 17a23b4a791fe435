// Model manifests: what a model file must be (sha256, inputs and outputs with shapes) and how to
// use it (classes, sample rate, latency budget, minimum confidence). A model is refused before it
// is ever run when its bytes or its shapes disagree with its manifest.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { repoRoot } from '../board/profile.ts'
import { FirmwareError } from '../errors.ts'

export type TensorType = 'float32' | 'int64'

export interface TensorSpec {
  name: string
  type: TensorType
  /** Dimensions; -1 is a free (batch) dimension. A scalar is []. */
  shape: number[]
}

export interface ModelManifest {
  /** The model's role, e.g. "crowd-state"; A/B slots are per name. */
  name: string
  version: string
  /** The .onnx file, relative to the manifest's directory (or to the repo root for node_modules/...). */
  file: string
  sha256: string
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  /** Output classes, in the order of the probability vector (empty for regressors). */
  classes: string[]
  sampleRate: number
  /** Each request's deadline; a later result is dropped and counted. */
  latencyBudgetMs: number
  /** Results below this confidence are not acted on. */
  minConfidence: number
  /** Anything else the manifest holds (held-out accuracy, features, seeds) is kept as is. */
  [extra: string]: unknown
}

/** A manifest with its resolved model path and a stable id ("crowd-state-2.0.0"). */
export interface ModelRecord {
  id: string
  manifest: ModelManifest
  manifestPath: string
  modelPath: string
}

/** Where the committed models live. */
export const modelsDir = join(repoRoot, 'models')

function refuse(msg: string): never {
  throw new FirmwareError('FW_ERR_MODEL', msg)
}

function tensorSpecs(v: unknown, where: string): TensorSpec[] {
  if (!Array.isArray(v) || v.length === 0) refuse(`${where} must be a non-empty list of {name, type, shape}`)
  return v.map((t, i) => {
    const o = t as Record<string, unknown>
    if (typeof o?.name !== 'string' || !o.name) refuse(`${where}[${i}].name must be a string`)
    if (o.type !== 'float32' && o.type !== 'int64') refuse(`${where}[${i}].type must be float32 or int64`)
    if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && (d === -1 || d > 0))) {
      refuse(`${where}[${i}].shape must be a list of positive whole numbers or -1`)
    }
    return { name: o.name, type: o.type, shape: o.shape as number[] }
  })
}

/** Reads and validates a manifest; throws FW_ERR_MODEL naming the bad field. */
export function loadManifest(manifestPath: string): ModelRecord {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'))
  } catch (e) {
    refuse(`model manifest ${manifestPath} cannot be read as JSON (${(e as Error).message}); reinstall the model`)
  }
  const m = raw as Record<string, unknown>
  const where = `model manifest ${manifestPath}`
  for (const k of ['name', 'version', 'file', 'sha256'] as const) {
    if (typeof m[k] !== 'string' || !m[k]) refuse(`${where}: "${k}" must be a non-empty string`)
  }
  if (!/^[0-9a-f]{64}$/.test(m.sha256 as string)) refuse(`${where}: "sha256" must be 64 lowercase hex digits`)
  for (const k of ['sampleRate', 'latencyBudgetMs'] as const) {
    if (typeof m[k] !== 'number' || !((m[k] as number) > 0)) refuse(`${where}: "${k}" must be a positive number`)
  }
  if (typeof m.minConfidence !== 'number' || m.minConfidence < 0 || m.minConfidence > 1) refuse(`${where}: "minConfidence" must be between 0 and 1`)
  if (!Array.isArray(m.classes) || !m.classes.every((c) => typeof c === 'string')) refuse(`${where}: "classes" must be a list of strings`)
  const manifest = {
    ...m,
    inputs: tensorSpecs(m.inputs, `${where}: inputs`),
    outputs: tensorSpecs(m.outputs, `${where}: outputs`),
  } as ModelManifest
  const file = manifest.file
  const modelPath = isAbsolute(file) ? file : file.startsWith('node_modules/') ? join(repoRoot, file) : resolve(dirname(manifestPath), file)
  return { id: `${manifest.name}-${manifest.version}`, manifest, manifestPath, modelPath }
}

/** Reads the model file and checks its sha256; returns the bytes to hand to the session. */
export function readVerifiedModel(rec: ModelRecord): Uint8Array {
  let bytes: Buffer
  try {
    bytes = readFileSync(rec.modelPath)
  } catch (e) {
    refuse(`model ${rec.id}: file ${rec.modelPath} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); reinstall the model`)
  }
  const got = createHash('sha256').update(bytes).digest('hex')
  if (got !== rec.manifest.sha256) {
    refuse(
      `model ${rec.id}: sha256 of ${rec.modelPath} is ${got.slice(0, 12)}..., the manifest says ${rec.manifest.sha256.slice(0, 12)}...; the file is corrupt or not this model — reinstall it`,
    )
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A session's view of one input or output, as onnxruntime reports it. */
export interface SessionTensorInfo {
  name: string
  type: string
  /** Numbers, or strings for symbolic (free) dimensions. */
  shape: Array<number | string>
}

/** The manifests shipped with the firmware. */
export const BUILTIN_MANIFESTS = ['crowd_state.manifest.json', 'eq_recommender.manifest.json', 'silero_vad.manifest.json', 'vad_head.manifest.json'].map((f) =>
  join(modelsDir, f),
)

// The checks run where the sessions are (child.ts, the offline thread): a module of their own, so
// that a thread can check shapes without loading this one (and the board profile it reads).
export { checkOutputs, shapeMismatches } from './shapes.ts'
