// WAV files from TypeScript: a typed face over the addon's native reader and writer (addons/src/wav.h).
// RIFF and RF64 (EBU Tech 3306, files past 4 GiB) are read; the writer switches to RF64 by itself.
// Options are checked here; native errors come back as FirmwareError FW_ERR_BAD_WAV (the file's
// content is wrong or unsupported) or FW_ERR_IO (the file system said no), each one line that
// starts with the path, e.g. "in.wav: data chunk says 960000 bytes but the file ends after 12000".

import { loadNative } from '../engine/native.ts'
import { FirmwareError } from '../errors.ts'
import { checker, oneOf, wholeNumberIn } from '../validate.ts'

export type WavFormat = 'pcm16' | 'pcm24' | 'pcm32' | 'float32'
export const WAV_FORMATS: readonly WavFormat[] = ['pcm16', 'pcm24', 'pcm32', 'float32']

export interface WavInfo {
  channels: number
  sampleRate: number
  format: WavFormat
  /** Sample frames (one sample per channel) in the file. */
  frames: number
}

export interface WavSpec {
  /** 1 to 1024. */
  channels: number
  /** Hz, 1000 to 768000. */
  sampleRate: number
  /** Sample format in the file. Defaults to 'float32'. */
  format?: WavFormat
  /**
   * Write a WAVE_FORMAT_EXTENSIBLE header. Defaults to true for more than 2 channels and false
   * otherwise (plain headers are what most tools read for mono and stereo).
   */
  extensible?: boolean
  /**
   * WavWriter only: the RIFF size in bytes past which close() writes RF64 (EBU Tech 3306, a ds64
   * chunk with 64-bit sizes) instead of RIFF. Defaults to the RIFF limit, 4 GiB - 1; set it low
   * only to test the RF64 path without writing 4 GB.
   */
  rf64Above?: number
}

/**
 * What is read: one file's path, or several files as one recording (addons/src/wav_join.h): columns
 * side by side (e.g. one mono file per mic), each column's parts end to end (a recording a
 * recorder split at its size limit). Rates and sample formats must agree, the parts of a column
 * have one channel count, and every column the same length; a mismatch is FW_ERR_BAD_WAV naming the file.
 */
export type WavSource = string | string[][]

/** Interleaved samples: frame-major, channel k of frame i at i * channels + k. */
export type Samples = Float32Array | Float64Array

interface NativeReader {
  readonly info: WavInfo
  read(buf: Samples): number
  rewind(): void
  seek(frame: number): void
  close(): void
}
interface NativeWriter {
  readonly frames: number
  write(buf: Samples): void
  close(): void
  abort(): void
}
interface NativeWav {
  info(path: WavSource): WavInfo
  read(path: WavSource, double: boolean): { info: WavInfo; data: Samples }
  write(path: string, spec: Required<WavSpec> | WavSpec, data: Samples): void
  levels(path: WavSource, from?: number, to?: number): { peak: Float64Array; meanSquare: Float64Array }
  Reader: new (path: WavSource) => NativeReader
  Writer: new (path: string, spec: WavSpec) => NativeWriter
}

let native: NativeWav | undefined
function addon(): NativeWav {
  if (!native) {
    // The engine's loader finds engine.node in the repo build or beside a single-binary image.
    const mod = loadNative()
    if (!mod.wav) throw new FirmwareError('FW_ERR_ENGINE', 'the native engine has no WAV support; rebuild it with "npm run build:addon"')
    native = mod.wav as NativeWav
  }
  return native
}

// Native errors carry a code; anything else (a TypeError from marshalling) is a programming error
// and is passed on untouched.
function translate(e: unknown): never {
  const code = (e as { code?: unknown } | null)?.code
  if (code === 'FW_ERR_BAD_WAV' || code === 'FW_ERR_IO') {
    throw new FirmwareError(code, (e as Error).message, { cause: e })
  }
  throw e
}

function call<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    return translate(e)
  }
}

function checkSpec(spec: WavSpec, where: string): WavSpec {
  const { channels, sampleRate } = spec
  const format = spec.format ?? 'float32'
  const c = checker('FW_ERR_BAD_OPTION', (field, complaint) => `${where}: ${field} ${complaint}`)
  wholeNumberIn(c, channels, 'channels', 1, 1024)
  wholeNumberIn(c, sampleRate, 'sampleRate', 1000, 768000)
  oneOf(c, format, 'format', WAV_FORMATS)
  const out: WavSpec = { channels, sampleRate, format }
  if (spec.extensible !== undefined) out.extensible = spec.extensible
  if (spec.rf64Above !== undefined) {
    wholeNumberIn(c, spec.rf64Above, 'rf64Above', 1, 0xffffffff)
    out.rf64Above = spec.rf64Above
  }
  return out
}

/** Reads only the header: channels, rate, format, frames. Refuses corrupt or unsupported files. */
export function wavInfo(path: WavSource): WavInfo {
  return call(() => addon().info(path))
}

/**
 * Reads a whole file into memory, interleaved. `precision: 'float64'` keeps 32-bit PCM exact.
 * For long multichannel files prefer WavReader, which streams.
 */
export function readWav(path: WavSource, opts: { precision?: 'float32' | 'float64' } = {}): { info: WavInfo; data: Samples } {
  return call(() => addon().read(path, opts.precision === 'float64'))
}

/**
 * Writes a whole file. The file appears at `path` only once complete (written to a temp file
 * beside it, then renamed), so a failure never leaves a partial file.
 */
export function writeWav(path: string, spec: WavSpec, data: Samples): void {
  const s = checkSpec(spec, path)
  if (data.length % s.channels !== 0) {
    throw new FirmwareError('FW_ERR_BAD_OPTION', `${path}: ${data.length} samples is not a whole number of ${s.channels}-channel frames`)
  }
  call(() => addon().write(path, s, data))
}

/**
 * Whole-file peak (linear, max |x|) and mean square per channel, computed natively while streaming;
 * or of frames [range.from, range.to) only.
 */
export function wavLevels(path: WavSource, range: { from?: number; to?: number } = {}): { peak: number[]; meanSquare: number[] } {
  const r = call(() => addon().levels(path, range.from ?? 0, range.to ?? -1))
  return { peak: Array.from(r.peak), meanSquare: Array.from(r.meanSquare) }
}

/** Streams a file block by block. Call close() when done (or let it be collected). */
export class WavReader {
  readonly info: WavInfo
  /** The file's path (the first file of a joined source). */
  readonly path: string
  #r: NativeReader
  constructor(source: WavSource) {
    const path = typeof source === 'string' ? source : (source[0]?.[0] ?? 'input')
    this.path = path
    this.#r = call(() => new (addon().Reader)(source))
    this.info = this.#r.info
  }
  /** Fills `buf` with up to buf.length / channels frames; returns frames read, 0 at the end. */
  read(buf: Samples): number {
    return call(() => this.#r.read(buf))
  }
  rewind(): void {
    call(() => this.#r.rewind())
  }
  /** Goes to frame `frame` (0 to info.frames) without reading what lies before it. */
  seek(frame: number): void {
    if (!Number.isSafeInteger(frame) || frame < 0 || frame > this.info.frames) {
      throw new FirmwareError('FW_ERR_BAD_OPTION', `${this.path}: cannot seek to frame ${frame} (0 to ${this.info.frames})`)
    }
    call(() => this.#r.seek(frame))
  }
  close(): void {
    this.#r.close()
  }
}

/**
 * Streams a file out block by block. Nothing appears at `path` until close() succeeds; abort()
 * (or an error) removes the temporary file.
 */
export class WavWriter {
  readonly path: string
  readonly spec: WavSpec
  #w: NativeWriter
  constructor(path: string, spec: WavSpec) {
    this.path = path
    this.spec = checkSpec(spec, path)
    this.#w = call(() => new (addon().Writer)(path, this.spec))
  }
  get frames(): number {
    return this.#w.frames
  }
  write(buf: Samples): void {
    call(() => this.#w.write(buf))
  }
  close(): void {
    call(() => this.#w.close())
  }
  abort(): void {
    this.#w.abort()
  }
}
