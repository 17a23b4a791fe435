// Offline processing, the rehearsal tool: a recording through the real engine (file backend), out
// come the beams and a report. Policy lives here (checks, defaults, the report); the engine does
// the audio. On any error nothing is left at OUT.wav or REPORT.json.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { boardRoot, loadProfile } from '../board/profile.ts'
import { validateGeometry } from '../engine/geometry.ts'
import type { ArrayGeometry, BeamformerKind, DoaEstimate, FeatureFrames } from '../engine/types.ts'
import { FirmwareError, isFirmwareError } from '../errors.ts'
import { type WavFormat, type WavInfo, type WavSource, wavInfo, wavLevels } from '../wav/wav.ts'
import { classLabels, labelTrackPath, writeLabelTrack } from './labels.ts'
import type { StagedStems } from './stems.ts'

/** Linear peak and mean square per channel. */
export interface WavLevels {
  peak: number[]
  meanSquare: number[]
}

import { formatShowTime, type ProcessOptions } from './options.ts'
import {
  type BeamDescription,
  type ChannelMeter,
  DoaTrack,
  meterFromLinear,
  type ProcessReport,
  reportContributors,
  type StreamingContributor,
  streamingContributors,
} from './report.ts'

/** Sample rates the engine runs at. */
const ENGINE_RATES = [44100, 48000, 96000]
const MAX_INPUTS = 64
const MAX_OUTPUTS = 16

/** One beam as the engine is asked to form it. */
export interface OfflineBeam {
  kind: BeamformerKind
  azimuth: number
  elevation: number
  /** Follow the DOA (smoothed) instead of the fixed direction. */
  autoSteer: boolean
}

/** The checked, defaulted job handed to the engine. */
export interface OfflineJob {
  /** One WAV, or several files as one input (columns of consecutive parts). */
  inPath: WavSource
  /** Input frames [fromFrame, endFrame) are processed (--from/--to); toFrame -1: to the end. */
  fromFrame: number
  toFrame: number
  endFrame: number
  outPath: string
  outFormat: WavFormat
  sampleRate: number
  blockSize: number
  inputs: number
  outputs: number
  /** Output k's dry source (input index). */
  dryMap: number[]
  /** Empty without an array. */
  mics: Array<[number, number, number]>
  beams: OfflineBeam[]
  doa: boolean
}

export interface OfflineResult {
  blocks: number
  doa: DoaEstimate[] | DoaTrack
  latencySamples: number
  blockTimeUs: { p50: number; p99: number; max: number }
  overruns: number
  droppedDoa: number
  droppedMeters: number
  /** Native fail-open events seen during the run. */
  events: Array<{ t: number; event: string; detail?: string }>
  /**
   * Whole-run peak and mean square per channel of the input part and of OUT as written, measured
   * by the engine as it read and wrote (a runner without them leaves the report to read the files).
   */
  levels?: { input: WavLevels; output: WavLevels }
  /** The streaming analysers failed during the run (their sections then stay empty). */
  analysisError?: string
}

/**
 * Runs a job through the engine to the end of the input. Must leave OUT committed on success and
 * absent on failure (the file backend's writer guarantees that), and throw FirmwareError.
 */
export interface RunHooks {
  /** Every poll's features, for the streaming analysers; the engine waits while it runs. */
  onFeatures?: (f: FeatureFrames) => Promise<void>
  /** Frames processed so far (from the start of the part being processed). */
  onProgress?: (frames: number) => void
}

export type OfflineRunner = (job: OfflineJob, signal?: AbortSignal, hooks?: RunHooks) => Promise<OfflineResult>

/** Where a run is, for a progress bar or a script: seconds of show time, speed in x real time. */
export interface Progress {
  /** Show time reached (seconds from the start of the recording). */
  position: number
  /** Show time where the run ends. */
  end: number
  /** Show time where it started (--from). */
  start: number
  /** Audio seconds per wall-clock second so far. */
  speed: number
  /** Wall-clock seconds left at that speed; null until known. */
  left: number | null
}

export interface ProcessDeps {
  /** Defaults to the real engine (firmware/process/engine-runner.ts). */
  runner?: OfflineRunner
  /** Monotonic clock in seconds, for elapsedSeconds. */
  now?: () => number
  /** Called as the engine goes (about every 5 ms); the CLI draws the bar or prints the lines. */
  onProgress?: (p: Progress) => void
}

export interface ProcessOutcome {
  report: ProcessReport
  summary: string
}

function loadArray(path: string): ArrayGeometry {
  // A bare board name ("sim", "jetson-agx-rack") stands for that board's array.
  if (/^[a-z0-9][a-z0-9-]*$/.test(path) && !existsSync(path) && existsSync(join(boardRoot, path, 'profile.json'))) {
    const profile = loadProfile(path)
    if (!profile.array) throw new FirmwareError('FW_ERR_BAD_GEOMETRY', `board "${path}" has no array in its profile`)
    return profile.array
  }
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? (e as Error).message})`
    throw new FirmwareError('FW_ERR_IO', `${path}: ${why}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new FirmwareError('FW_ERR_BAD_GEOMETRY', `${path}: not valid JSON (${(e as Error).message})`)
  }
  // A board profile carries its geometry under "array"; accept that too.
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && 'array' in raw && !('mics' in raw)) {
    raw = (raw as { array: unknown }).array
  }
  return validateGeometry(raw, path)
}

function checkWritableTarget(path: string, what: string): void {
  const dir = dirname(resolve(path))
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(dir)
  } catch {
    throw new FirmwareError('FW_ERR_IO', `${path}: the folder ${dir} does not exist; create it or choose another ${what} path`)
  }
  if (!st.isDirectory()) throw new FirmwareError('FW_ERR_IO', `${path}: ${dir} is not a folder`)
  try {
    if (statSync(path).isDirectory()) throw new FirmwareError('FW_ERR_IO', `${path}: is a folder; give a file name for the ${what}`)
  } catch (e) {
    if (isFirmwareError(e)) throw e
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** File names in the order a person numbers them: "mic 2" before "mic 10". */
const naturally = new Intl.Collator('en', { numeric: true, sensitivity: 'base' }).compare

function readMap(path: string): string[][] {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code) throw new FirmwareError('FW_ERR_IO', `${path}: cannot read the channel map (${code})`)
    throw new FirmwareError('FW_ERR_BAD_OPTION', `${path}: the channel map is not valid JSON (${(e as Error).message})`)
  }
  const channels = (raw as { channels?: unknown } | null)?.channels
  const entry = (v: unknown) => typeof v === 'string' && v !== ''
  if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => entry(c) || (Array.isArray(c) && c.length > 0 && c.every(entry)))) {
    throw new FirmwareError(
      'FW_ERR_BAD_OPTION',
      `${path}: a channel map is {"channels": ["mic1.wav", ["mic2-part1.wav", "mic2-part2.wav"], ...]}: one file, or the consecutive parts of one, per channel`,
    )
  }
  const base = dirname(path)
  const at = (p: string) => (isAbsolute(p) ? p : join(base, p))
  return (channels as Array<string | string[]>).map((c) => (typeof c === 'string' ? [at(c)] : c.map(at)))
}

/**
 * What --in names, as the reader takes it: one WAV; a folder (its WAVs are the channels in
 * file-name order, or with --join the parts of one recording); a map JSON; several --in (the
 * channels, or with --join the parts). `files` lists every file, for the same-path checks.
 */
export function resolveInput(opts: Pick<ProcessOptions, 'in' | 'inputs' | 'join'>): { source: WavSource; files: string[] } {
  const inputs = opts.inputs?.length ? opts.inputs : [opts.in]
  let list = inputs
  if (inputs.length === 1) {
    const only = inputs[0]!
    if (isDirectory(only)) {
      list = readdirSync(only)
        .filter((f) => /\.wav$/i.test(f) && !f.endsWith('.partial'))
        .sort(naturally)
        .map((f) => join(only, f))
      if (list.length === 0) throw new FirmwareError('FW_ERR_BAD_OPTION', `${only}: the folder holds no .wav files`)
    } else if (/\.json$/i.test(only)) {
      if (opts.join) throw new FirmwareError('FW_ERR_USAGE', 'process: --join does not go with a channel map; list the parts in the map')
      const columns = readMap(only)
      return { source: columns, files: columns.flat() }
    } else {
      if (opts.join) throw new FirmwareError('FW_ERR_USAGE', 'process: --join needs the parts of the recording: several --in, or a folder')
      return { source: only, files: [only] }
    }
  }
  return { source: opts.join ? [list] : list.map((f) => [f]), files: list }
}

/** Whole-file peak and RMS per channel (measured natively, streaming). */
export function measureWav(path: WavSource, range: { from?: number; to?: number } = {}): ChannelMeter[] {
  const { peak, meanSquare } = wavLevels(path, range)
  return peak.map((p, k) => meterFromLinear(p, meanSquare[k]!))
}

/** Where the engine writes before the run is complete (same folder, so the final rename is atomic). */
export function stagedPath(out: string): string {
  return `${out}.${process.pid}-staged.partial`
}

/** Turns checked options into the engine job (and the beam descriptions for the report). */
export function planJob(opts: ProcessOptions, info: WavInfo, geometry: ArrayGeometry | null): { job: OfflineJob; beams: BeamDescription[] } {
  const job: OfflineJob = {
    inPath: resolveInput(opts).source,
    fromFrame: opts.from === undefined ? 0 : Math.round(opts.from * info.sampleRate),
    toFrame: opts.to === undefined ? -1 : Math.min(info.frames, Math.round(opts.to * info.sampleRate)),
    endFrame: opts.to === undefined ? info.frames : Math.min(info.frames, Math.round(opts.to * info.sampleRate)),
    // The engine writes a staged file beside OUT; it becomes OUT only once the report is written.
    outPath: stagedPath(opts.out),
    outFormat: opts.format,
    sampleRate: info.sampleRate,
    blockSize: opts.block,
    inputs: info.channels,
    outputs: info.channels,
    dryMap: [],
    mics: geometry ? geometry.mics : [],
    beams: [],
    doa: geometry !== null,
  }
  const beams: BeamDescription[] = []
  if (geometry) {
    const n = opts.beams
    const baseAz = opts.steer?.azimuth ?? 0
    const el = opts.steer?.elevation ?? 0
    for (let k = 0; k < n; k++) {
      const auto = k === 0 && !opts.steer
      const azimuth = (((baseAz + (k * 360) / n) % 360) + 360) % 360
      job.beams.push({ kind: opts.beamformer, azimuth, elevation: el, autoSteer: auto })
      beams.push({ index: k, beamformer: opts.beamformer, steer: auto ? 'doa' : { azimuth, elevation: el } })
    }
    job.outputs = n
  }
  job.dryMap = Array.from({ length: job.outputs }, (_, k) => Math.min(k, job.inputs - 1))
  return { job, beams }
}

/** Checks everything that can be checked before any audio is processed. */
export function checkInputs(opts: ProcessOptions): { info: WavInfo; geometry: ArrayGeometry | null } {
  const abs = (p: string) => resolve(p)
  const { source, files } = resolveInput(opts)
  const inputs = new Set(files.map(abs))
  if (inputs.has(abs(opts.out))) throw new FirmwareError('FW_ERR_USAGE', `process: --out ${opts.out} is the input file; choose another output`)
  if (inputs.has(abs(opts.report))) throw new FirmwareError('FW_ERR_USAGE', `process: --report ${opts.report} is the input file; choose another report path`)
  if (abs(opts.report) === abs(opts.out)) throw new FirmwareError('FW_ERR_USAGE', `process: --out and --report are the same file (${opts.out})`)
  const labels = abs(labelTrackPath(opts.report))
  if (opts.analysis && (inputs.has(labels) || labels === abs(opts.out))) {
    throw new FirmwareError(
      'FW_ERR_USAGE',
      `process: the label track ${labelTrackPath(opts.report)} (beside --report) would overwrite ${inputs.has(labels) ? 'an input' : '--out'}; choose another report path`,
    )
  }
  if (opts.array !== undefined && abs(opts.array) === abs(opts.out)) throw new FirmwareError('FW_ERR_USAGE', `process: --out ${opts.out} is the array file`)
  const geometry = opts.array === undefined ? null : loadArray(opts.array)
  const info = wavInfo(source)
  if (!ENGINE_RATES.includes(info.sampleRate)) {
    throw new FirmwareError('FW_ERR_BAD_WAV', `${opts.in}: ${info.sampleRate} Hz is not a rate the engine runs at; resample to 44100, 48000 or 96000 Hz`)
  }
  if (info.frames === 0) throw new FirmwareError('FW_ERR_BAD_WAV', `${opts.in}: has no audio (0 frames)`)
  const length = info.frames / info.sampleRate
  if (opts.from !== undefined && Math.round(opts.from * info.sampleRate) >= info.frames) {
    throw new FirmwareError('FW_ERR_BAD_OPTION', `process: --from ${formatShowTime(opts.from)} is past the end of ${opts.in} (${formatShowTime(length)} long)`)
  }
  if (geometry) {
    if (info.channels !== geometry.mics.length) {
      throw new FirmwareError(
        'FW_ERR_CHANNELS',
        `${opts.in} has ${info.channels} channel${info.channels === 1 ? '' : 's'} but the array in ${opts.array} has ${geometry.mics.length} mics; channel k must be mic k`,
      )
    }
    if (info.sampleRate !== geometry.sampleRate) {
      throw new FirmwareError('FW_ERR_BAD_WAV', `${opts.in} is ${info.sampleRate} Hz but the array in ${opts.array} says ${geometry.sampleRate} Hz`)
    }
  } else if (info.channels > MAX_OUTPUTS) {
    throw new FirmwareError(
      'FW_ERR_CHANNELS',
      `${opts.in} has ${info.channels} channels; without --array each is a line feed to its own output and the engine has at most ${MAX_OUTPUTS} outputs (give --array for a mic array)`,
    )
  }
  if (info.channels > MAX_INPUTS) {
    throw new FirmwareError('FW_ERR_CHANNELS', `${opts.in} has ${info.channels} channels; the engine takes at most ${MAX_INPUTS}`)
  }
  checkWritableTarget(opts.out, 'output')
  checkWritableTarget(opts.report, 'report')
  return { info, geometry }
}

/**
 * With --from the engine's clock starts at the part's start; the report speaks show time, so every
 * time in it (DOA, watchdog, classes, speech intervals, recommendations) moves by the offset.
 */
function toShowTime(report: ProcessReport, offset: number): void {
  const at = (t: number) => Math.round((t + offset) * 10000) / 10000
  if (report.doa instanceof DoaTrack) report.doa.mapTimes(at)
  else for (const d of report.doa) d.t = at(d.t)
  for (const e of report.watchdog) e.t = at(e.t)
  for (const c of report.classes as Array<{ t: number }>) c.t = at(c.t)
  for (const r of report.recommendations as Array<{ t: number }>) r.t = at(r.t)
  for (const v of report.vad as Array<{ start: number; end: number }>) {
    v.start = at(v.start)
    v.end = at(v.end)
  }
}

/** Indented JSON with each flat record (a DOA estimate, a meter) on one line, so a long track stays readable. */
export function formatJson(value: unknown): string {
  const parts: string[] = []
  writeJson(value, (s) => parts.push(s))
  parts.push('\n')
  return parts.join('')
}

const PAD = ['']
function pad(n: number): string {
  while (PAD.length <= n) PAD.push(' '.repeat(PAD.length * 2))
  return PAD[n]!
}

/**
 * formatJson's text in pieces, for a report whose DOA track has a million estimates: JSON.stringify
 * with indent 2, except that an object of plain values (no braces or brackets inside) goes on one line.
 */
function writeJson(v: unknown, put: (s: string) => void, depth = 0): void {
  // A DOA track is written estimate by estimate, never whole as objects.
  if (v instanceof DoaTrack) {
    if (v.length === 0) return put('[]')
    put('[\n')
    let k = 0
    for (const d of v) {
      put(pad(depth + 1))
      writeJson(d, put, depth + 1)
      put(++k < v.length ? ',\n' : '\n')
    }
    return put(`${pad(depth)}]`)
  }
  const value = v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON(): unknown }).toJSON() : v
  if (Array.isArray(value)) {
    if (value.length === 0) return put('[]')
    put('[\n')
    for (let i = 0; i < value.length; i++) {
      put(pad(depth + 1))
      const x = value[i]
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') put('null')
      else writeJson(x, put, depth + 1)
      put(i < value.length - 1 ? ',\n' : '\n')
    }
    return put(`${pad(depth)}]`)
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, x]) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol')
    if (entries.length === 0) return put('{}')
    const flat = entries.map(([k, x]) => (x === null || typeof x !== 'object' ? `${JSON.stringify(k)}: ${JSON.stringify(x)}` : null))
    if (flat.every((f) => f !== null && !/[{}[\]]/.test(f))) return put(`{ ${flat.join(', ')} }`)
    put('{\n')
    entries.forEach(([k, x], i) => {
      put(`${pad(depth + 1)}${JSON.stringify(k)}: `)
      writeJson(x, put, depth + 1)
      put(i < entries.length - 1 ? ',\n' : '\n')
    })
    return put(`${pad(depth)}}`)
  }
  put(JSON.stringify(value) ?? 'null')
}

/** The old whole-string formatter, kept for tests/process/report-format.test.ts to compare with. */
export function formatJsonWhole(value: unknown): string {
  return `${JSON.stringify(value, null, 2).replace(/\{\n\s+([^{}[\]]*?)\n\s*\}/g, (_, body: string) => `{ ${body.split(/,\n\s+/).join(', ')} }`)}\n`
}

function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.partial`
  try {
    // Written in pieces of about 64 kB: the text of a long show's report is never whole in memory.
    const fd = openSync(tmp, 'w')
    try {
      let buf: string[] = []
      let size = 0
      writeJson(value, (s) => {
        buf.push(s)
        size += s.length
        if (size >= 65536) {
          writeSync(fd, buf.join(''))
          buf = []
          size = 0
        }
      })
      buf.push('\n')
      writeSync(fd, buf.join(''))
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw new FirmwareError('FW_ERR_IO', `${path}: cannot write the report (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

async function defaultRunner(job: OfflineJob, signal?: AbortSignal, hooks?: RunHooks): Promise<OfflineResult> {
  const { runOffline } = await import('./engine-runner.ts')
  return runOffline(job, signal, hooks)
}

function interrupted(signal: AbortSignal, job: OfflineJob): FirmwareError {
  // The engine had finished: the interruption came while the report was being made.
  return new FirmwareError(
    'FW_ERR_INTERRUPTED',
    `process: interrupted by ${String(signal.reason)} at ${formatShowTime(job.endFrame / job.sampleRate)} of ${formatShowTime(job.endFrame / job.sampleRate)} (show time, while writing the report); no output was written`,
  )
}

/** `firmware process`: checks, runs the engine, writes OUT.wav and REPORT.json. */
export async function processRecording(opts: ProcessOptions, deps: ProcessDeps = {}): Promise<ProcessOutcome> {
  const now = deps.now ?? (() => performance.now() / 1000)
  const runner = deps.runner ?? defaultRunner
  const started = now()
  const { info, geometry } = checkInputs(opts)
  // The stems (localiser, tracker, separation) load only for a run that asks for them.
  if (opts.stems !== undefined) (await import('./stems.ts')).checkStemsDir(opts.stems, geometry, info, opts)
  const { job, beams } = planJob(opts, info, geometry)
  // Ctrl-C or a stop signal mid-run must not leave half a file: stop the engine (its writer then
  // drops the temp file) and take back anything already in place.
  const abort = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => abort.abort(sig)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await runJob(opts, job, info, geometry, beams, runner, abort.signal, now, started, deps.onProgress)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function runJob(
  opts: ProcessOptions,
  job: OfflineJob,
  info: WavInfo,
  geometry: ArrayGeometry | null,
  beams: BeamDescription[],
  runner: OfflineRunner,
  signal: AbortSignal,
  now: () => number,
  started: number,
  progress?: (p: Progress) => void,
): Promise<ProcessOutcome> {
  // The streaming analysers start (load their models) while the engine starts; the engine waits
  // for them at its first full feature ring.
  const analysisErrors: Array<{ contributor: string; message: string }> = []
  const firstLine = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0]!
  const factories = opts.analysis ? [...streamingContributors()] : []
  const ready: Promise<Array<[string, StreamingContributor]>> = Promise.all(
    factories.map(([name, make]) =>
      make({ input: info, array: geometry }).then(
        (c): [string, StreamingContributor] | null => [name, c],
        (e) => {
          analysisErrors.push({ contributor: name, message: firstLine(e) })
          return null
        },
      ),
    ),
  ).then((list) => list.filter((x): x is [string, StreamingContributor] => x !== null))
  const onFeatures =
    factories.length > 0
      ? async (f: FeatureFrames) => {
          for (const [, c] of await ready) await c.feed(f)
        }
      : undefined
  const rate = job.sampleRate
  const runStarted = now()
  const onProgress = progress
    ? (frames: number) => {
        const done = Math.min(frames, job.endFrame - job.fromFrame)
        const wall = now() - runStarted
        const speed = wall > 0 ? done / rate / wall : 0
        const left = speed > 0 ? (job.endFrame - job.fromFrame - done) / rate / speed : null
        progress({ position: (job.fromFrame + done) / rate, end: job.endFrame / rate, start: job.fromFrame / rate, speed, left })
      }
    : undefined
  // The engine meters what it reads and writes, so the files are not read again (a runner
  // without levels, e.g. a test double, leaves them to measureWav after the run).
  const result = await runner(job, signal, { ...(onFeatures ? { onFeatures } : {}), ...(onProgress ? { onProgress } : {}) }).catch(async (e) => {
    for (const [, c] of await ready) await c.close().catch(() => {})
    throw e
  })
  const meters = (l: WavLevels) => l.peak.map((p, k) => meterFromLinear(p, l.meanSquare[k]!))
  let inputMeters: ChannelMeter[]
  try {
    inputMeters = result.levels ? meters(result.levels.input) : measureWav(job.inPath, { from: job.fromFrame, to: job.endFrame })
  } catch (e) {
    // Only an output this run completed is ours to remove.
    rmSync(job.outPath, { force: true })
    for (const [, c] of await ready) await c.close().catch(() => {})
    throw e
  }
  let report: ProcessReport
  let stems: StagedStems | null = null
  try {
    report = {
      version: 1,
      input: {
        path: opts.in,
        ...(typeof job.inPath === 'string' ? {} : { files: job.inPath }),
        ...info,
        seconds: info.frames / info.sampleRate,
        ...(opts.from !== undefined || opts.to !== undefined ? { part: { from: job.fromFrame / info.sampleRate, to: job.endFrame / info.sampleRate } } : {}),
      },
      output: { path: opts.out, channels: job.outputs, format: opts.format, beams },
      array: geometry ? { path: opts.array!, mics: geometry.mics.length } : null,
      blockSize: opts.block,
      doa: result.doa,
      meters: { input: inputMeters, output: result.levels ? meters(result.levels.output) : measureWav(job.outPath) },
      watchdog: result.events,
      classes: [],
      vad: [],
      recommendations: [],
      engine: {
        blocks: result.blocks,
        latencySamples: result.latencySamples,
        blockTimeUs: result.blockTimeUs,
        overruns: result.overruns,
        droppedDoa: result.droppedDoa,
        droppedMeters: result.droppedMeters,
      },
      elapsedSeconds: 0,
    }
    if (analysisErrors.length > 0) report.analysisErrors = analysisErrors
    for (const [name, c] of await ready) {
      try {
        if (result.analysisError !== undefined) {
          await c.close()
          throw new Error(result.analysisError)
        }
        Object.assign(report, await c.finish())
      } catch (e) {
        ;(report.analysisErrors ??= []).push({ contributor: name, message: firstLine(e) })
      }
    }
    for (const [name, contribute] of opts.analysis ? reportContributors() : []) {
      try {
        const extra = await contribute({ inPath: job.inPath, input: info, outPath: job.outPath, array: geometry, report })
        Object.assign(report, extra)
      } catch (e) {
        const message = (e as Error)?.message ?? String(e)
        ;(report.analysisErrors ??= []).push({ contributor: name, message: message.split('\n')[0]! })
      }
    }
    if (opts.stems !== undefined && geometry) {
      const { stageStems } = await import('./stems.ts')
      stems = await stageStems(opts.stems, job.inPath, geometry, job.fromFrame, job.endFrame, signal)
      report.tracks = stems.tracks
    }
    if (job.fromFrame > 0) toShowTime(report, job.fromFrame / job.sampleRate)
    report.elapsedSeconds = Math.round((now() - started) * 1000) / 1000
    if (signal.aborted) throw interrupted(signal, job)
    // The engineer's loop: the class timeline and alarms as an Audacity label track beside the report.
    const labels = opts.analysis ? labelTrackPath(opts.report) : null
    if (labels) report.labelTrack = labels
    writeJsonAtomically(opts.report, report)
    if (labels) writeLabelTrack(labels, classLabels(report.classes))
    try {
      renameSync(job.outPath, opts.out)
      stems?.commit()
    } catch (e) {
      rmSync(opts.report, { force: true })
      if (labels) rmSync(labels, { force: true })
      throw new FirmwareError(
        'FW_ERR_IO',
        `${opts.out}: cannot move the finished output into place (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      )
    }
  } catch (e) {
    // The run is not complete: drop the staged audio, so nothing half-done is left behind.
    rmSync(job.outPath, { force: true })
    stems?.discard()
    throw e
  }
  const what = geometry
    ? `${job.outputs} beam${job.outputs === 1 ? '' : 's'}, ${result.doa.length} DOA estimates`
    : `${job.outputs} line feed${job.outputs === 1 ? '' : 's'}`
  const summary = `processed ${basename(opts.in)} (${(info.frames / info.sampleRate).toFixed(1)} s, ${info.channels} ch) -> ${opts.out} (${what}), report ${opts.report}, in ${report.elapsedSeconds.toFixed(2)} s`
  return { report, summary }
}
