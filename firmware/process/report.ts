// The processing report (REPORT.json of `firmware process`), and the place where analysers that
// are not part of the engine (classifiers, VAD, EQ recommendations) add their sections.
import type { DoaEstimate, FeatureFrames } from '../engine/types.ts'
import type { TrackSummary } from '../mix/separation.ts'
import type { WavInfo, WavSource } from '../wav/wav.ts'

export interface ChannelMeter {
  /** dBFS of the largest sample over the whole file (-Infinity is written as null). */
  peakDb: number | null
  /** dBFS RMS over the whole file. */
  rmsDb: number | null
}

/**
 * The report's DOA track as it grows during a run, 20 bytes an estimate instead of an object each
 * (about 120 bytes, and a garbage-collected heap that grows with them): the time as a double, and
 * azimuth, elevation (hundredths of a degree) and confidence (thousandths) as 32-bit integers, the
 * precision the report writes them with (engine-runner.ts rounds to it; a value pushed with more
 * decimals is kept rounded to it, a NaN or infinite one is written as null as JSON.stringify does).
 * A 2-hour 16-channel show at 47 estimates a second is 6.8 MB (the fourth round's 32 bytes: 10.8).
 * In chunks of CHUNK estimates. Iterates as DoaEstimate objects; the report writer streams it item
 * by item, so the same numbers give the same report text byte for byte.
 */
export class DoaTrack implements Iterable<DoaEstimate> {
  static readonly CHUNK = 8192
  /** Bytes an estimate holds: the time (8) and three 32-bit integers. */
  static readonly BYTES = 20
  /** The integer stored for NaN and infinities (read back as NaN, written as null). */
  static readonly #NONE = -2147483648
  readonly #times: Float64Array[] = []
  readonly #values: Int32Array[] = []
  #length = 0

  get length(): number {
    return this.#length
  }

  static #int(v: number, scale: number): number {
    return Number.isFinite(v) ? Math.round(v * scale) : DoaTrack.#NONE
  }

  static #num(i: number, scale: number): number {
    return i === DoaTrack.#NONE ? Number.NaN : i / scale
  }

  push(t: number, azimuth: number, elevation: number, confidence: number): void {
    const i = this.#length % DoaTrack.CHUNK
    if (i === 0) {
      this.#times.push(new Float64Array(DoaTrack.CHUNK))
      this.#values.push(new Int32Array(3 * DoaTrack.CHUNK))
    }
    this.#times[this.#times.length - 1]![i] = t
    const v = this.#values[this.#values.length - 1]!
    v[3 * i] = DoaTrack.#int(azimuth, 100)
    v[3 * i + 1] = DoaTrack.#int(elevation, 100)
    v[3 * i + 2] = DoaTrack.#int(confidence, 1000)
    this.#length++
  }

  at(k: number): DoaEstimate | undefined {
    if (k < 0 || k >= this.#length) return undefined
    const c = Math.floor(k / DoaTrack.CHUNK)
    const i = k % DoaTrack.CHUNK
    const v = this.#values[c]!
    return {
      t: this.#times[c]![i]!,
      azimuth: DoaTrack.#num(v[3 * i]!, 100),
      elevation: DoaTrack.#num(v[3 * i + 1]!, 100),
      confidence: DoaTrack.#num(v[3 * i + 2]!, 1000),
    }
  }

  /** Applies `f` to every time (e.g. to show time with --from). */
  mapTimes(f: (t: number) => number): void {
    for (let k = 0; k < this.#length; k++) {
      const c = this.#times[Math.floor(k / DoaTrack.CHUNK)]!
      c[k % DoaTrack.CHUNK] = f(c[k % DoaTrack.CHUNK]!)
    }
  }

  *[Symbol.iterator](): Iterator<DoaEstimate> {
    for (let k = 0; k < this.#length; k++) yield this.at(k)!
  }

  /** As a plain array (JSON.stringify, small tracks); the report writer does not need it. */
  toJSON(): DoaEstimate[] {
    return [...this]
  }
}

export interface BeamDescription {
  index: number
  beamformer: 'das' | 'mvdr'
  /** 'doa' when the beam follows the DOA estimate, else the fixed direction in degrees. */
  steer: 'doa' | { azimuth: number; elevation: number }
}

export interface ClassRecord {
  t: number
  label: string
  confidence: number
}
export interface VadSegment {
  start: number
  end: number
}
export interface Recommendation {
  t: number
  output: number
  bands: unknown[]
  confidence: number
}

export interface ProcessReport {
  /** Bumped when a field changes meaning. */
  version: 1
  /** `files`: the channels' files (each the consecutive parts of one) when --in named several. */
  /** `part`: the show time processed, with --from/--to (the report's times are show time). */
  input: WavInfo & { path: string; files?: string[][]; seconds: number; part?: { from: number; to: number } }
  output: { path: string; channels: number; format: string; beams: BeamDescription[] }
  /** Null without --array (line feeds). */
  array: { path: string; mics: number } | null
  blockSize: number
  /** DOA track, one estimate per DOA frame; empty without an array. In a report file (and in
   * JSON.parse of one) an array; in the report processRecording returns, a DoaTrack. */
  doa: DoaEstimate[] | DoaTrack
  meters: { input: ChannelMeter[]; output: ChannelMeter[] }
  /** Watchdog transitions during the run (offline: native fail-open events, normally none). */
  watchdog: Array<{ t: number; event: string; detail?: string }>
  /** Filled by report contributors (the inference part); empty when none ran. */
  classes: ClassRecord[]
  vad: VadSegment[]
  recommendations: Recommendation[]
  engine: {
    blocks: number
    /** Samples between input and output of beam 0 (fractional-delay filter group delay etc.). */
    latencySamples: number
    blockTimeUs: { p50: number; p99: number; max: number }
    overruns: number
    droppedDoa: number
    droppedMeters: number
  }
  /** The Audacity label track written beside the report (class timeline and alarms); absent with --no-analysis. */
  labelTrack?: string
  /** With --stems: the tracked sources (id, life, azimuth path decimated to 10 a second; docs/mixes.md). */
  tracks?: TrackSummary[]
  /** Wall-clock seconds the run took. */
  elapsedSeconds: number
  /** Sections from contributors that failed, with why; the rest of the report still stands. */
  analysisErrors?: Array<{ contributor: string; message: string }>
}

/** What a contributor gets: the finished run (output already written). */
export interface ReportContext {
  inPath: WavSource
  input: WavInfo
  /** The finished output WAV (still under its staged name; it becomes OUT.wav after the report). */
  outPath: string
  /** Null without an array: the inputs are line feeds (analysers should use their mix). */
  array: { mics: Array<[number, number, number]>; sampleRate: number } | null
  report: Readonly<ProcessReport>
}

/**
 * A report contributor adds fields (classes, vad, recommendations, or new keys) to the report.
 * It runs after the engine, reads the input (or output) WAV itself, and returns the fields to merge.
 * A contributor that throws is recorded in `analysisErrors`; it never fails the run.
 */
export type ReportContributor = (ctx: ReportContext) => Promise<Partial<ProcessReport> & Record<string, unknown>>

const contributors = new Map<string, ReportContributor>()

/** Registers (or replaces) a named contributor; the inference part calls this at import. */
export function registerReportContributor(name: string, fn: ReportContributor): void {
  contributors.set(name, fn)
}

export function reportContributors(): ReadonlyMap<string, ReportContributor> {
  return contributors
}

/**
 * A streaming contributor analyses during the engine pass, from the features the engine computes
 * (no second pass over the files, memory flat with length): feed() gets every poll's features and
 * the engine waits while it runs; finish() returns the fields to merge. Created once per run.
 * feed()'s arrays are views of a buffer the next poll refills: copy what is kept past the feed.
 */
export interface StreamingContributor {
  feed(f: FeatureFrames): Promise<void>
  finish(): Promise<Partial<ProcessReport> & Record<string, unknown>>
  /** Releases what it holds (models, workers) when the run ends early; finish() does it otherwise. */
  close(): Promise<void>
}
export type StreamingContributorFactory = (ctx: { input: WavInfo; array: ReportContext['array'] }) => Promise<StreamingContributor>

const streaming = new Map<string, StreamingContributorFactory>()

/** Registers (or replaces) a named streaming contributor; the inference part calls this at import. */
export function registerStreamingContributor(name: string, fn: StreamingContributorFactory): void {
  streaming.set(name, fn)
}

export function streamingContributors(): ReadonlyMap<string, StreamingContributorFactory> {
  return streaming
}

/** Linear peak and mean square to the report's dB figures (null for silence). */
export function meterFromLinear(peak: number, meanSquare: number): ChannelMeter {
  const round = (v: number) => Math.round(v * 100) / 100
  return {
    peakDb: peak > 0 ? round(20 * Math.log10(peak)) : null,
    rmsDb: meanSquare > 0 ? round(10 * Math.log10(meanSquare)) : null,
  }
}
