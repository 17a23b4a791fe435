// The engine face: the typed, validated way the firmware drives the native audio engine.
//
// Policy lives here, compute in C++: every option is defaulted (by spreading) and validated in
// this file, with errors that name the field; the addon gets a plain, already-checked object and
// only re-checks types. Commands are range-checked here too, then travel to the audio thread as
// small fixed records through its command ring (applied at the next block boundary, smoothed).
//
// Fail-open: the audio thread goes dry by itself when the chain overruns its budget
// `overrunBlocks` blocks in a row, when a processed output holds a NaN, an infinity or a runaway
// level, and when the control plane's heartbeat is older than `heartbeatTimeoutMs` (5 s: a late
// event loop only holds the parameters), and reports a `native-bypass` event. It returns to
// processed only after setProcessing(true). The sentinel thread (startSentinel) watches the audio
// thread and the heartbeat from outside and owns the front-panel heartbeat (docs/watchdog.md).
// By default this class writes the heartbeat from a 10 ms timer, so a blocked event loop is
// exactly what makes it stale; a control plane with its own tick sets heartbeatIntervalMs: 0.
import { FirmwareError } from '../errors.ts'
import { checker, numberIn } from '../validate.ts'
import { type Aes67StreamOptions, type NativeAes67Stream, type NetStreamStats, resolveStreams } from './aes67-options.ts'
import { decodeEngineEvents } from './events.ts'
import { validateGeometry } from './geometry.ts'
import type { NativeEngine, NativeEngineOptions, NativeMixStats, NativeMixStream, NativeModule, NativePeakPoll, NativeStemDirection } from './native.ts'
import { loadNative } from './native.ts'
import { checkRoom, parseRoom, type RoomSpec } from './rooms.ts'
import type {
  ArrayGeometry,
  BackendKind,
  BandParams,
  BeamformerKind,
  CompressorParams,
  DoaEstimate,
  EngineEvent,
  EngineStats,
  FeatureFrames,
  Meters,
  NativeBypassCause,
  SimSource,
} from './types.ts'

/** The mix streamer as the engine hands it out (Engine.mixPort). */
export interface MixPort {
  start(frameMs: 10 | 20): void
  setStreams(streams: NativeMixStream[]): void
  stats(): NativeMixStats | null
  /** Where each separated-source slot points (issue 17); never moves an engine beam. */
  setDirections(slots: NativeStemDirection[]): void
  stop(): void
}

/** One beam's starting setup. */
export interface BeamOptions {
  /** Beamformer: 'das' (delay-and-sum) or 'mvdr'. Defaults to 'das'. */
  kind: BeamformerKind
  /** Degrees, 0 along +x, counter-clockwise toward +y. Defaults to 0, 90, 180, 270 for beams 0..3. */
  azimuth: number
  /** Degrees above the xy-plane. Defaults to 0. */
  elevation: number
  /** Follow the DOA estimate (smoothed). Defaults to true for beam 0, false for the others. */
  auto: boolean
}

export interface EngineOptions {
  /** Audio backend: 'sim', 'file', 'alsa', 'aes67' (network, docs/aes67.md), or 'null' (silence, unpaced; tests). Defaults to 'sim'. */
  backend: BackendKind | 'null' | 'aes67'
  /** 44100, 48000 or 96000. Defaults to the array's rate, else 48000. */
  sampleRate: number
  /** Frames per block, 32..1024. Defaults to 64. */
  blockSize: number
  /** Input channels, 1..64; the first array.mics.length are the array. Defaults to the mic count, else 2. */
  inputs: number
  /** Output channels, 1..16. Output k carries beam k (beam 0 past the beams). Defaults to 4 with an array, else inputs. */
  outputs: number
  /** Dry path: output k <- input dryMap[k]. Defaults to k mod inputs. */
  dryMap: number[]
  /** Array geometry (documented format). Without it the inputs are line feeds: no beams, no DOA. */
  array: ArrayGeometry | undefined
  /** Beams (1..16). Defaults to 4 delay-and-sum beams at 0/90/180/270 degrees, beam 0 following the DOA. */
  beams: Array<Partial<BeamOptions>>
  /** Run the DOA estimator (needs an array). Defaults to true. */
  doa: boolean
  /** Run DOA on its own thread so its FFTs stay out of the audio blocks (the file backend always runs it inline). Defaults to true. */
  doaThread: boolean
  /** DOA frame in samples (a new estimate every half frame). Defaults to 1024. */
  doaFrameSize: number
  /** Weight of each new DOA estimate in the auto beam's direction, (0, 1]. Defaults to 0.3. */
  doaSmoothing: number
  /** DOA estimates below this confidence do not move auto beams. Defaults to 0.2. */
  doaMinConfidence: number
  /** Processed/dry crossfade time in ms, 0..1000. Defaults to 10. */
  crossfadeMs: number
  /**
   * Heartbeat age that makes the audio thread go dry by itself, ms; 0 disables (offline runs).
   * A shorter silence of the control plane holds the parameters and changes nothing in the sound.
   * Defaults to 5000 (docs/watchdog.md says why).
   */
  heartbeatTimeoutMs: number
  /** A processed output sample above this level (dBFS) is a runaway: dry at once. 0..60, defaults to 24. */
  runawayDb: number
  /** How often this class writes the heartbeat, ms; 0 means the caller calls heartbeat() itself. Defaults to 10. */
  heartbeatIntervalMs: number
  /** Blocks in a row over budget that make the audio thread go dry; 0 disables. Defaults to 4. */
  overrunBlocks: number
  /** The block budget as a share of the block period, (0, 4]. Defaults to 1. */
  budgetFraction: number
  /** Start on the processed signal (false: start dry). Defaults to true. */
  startProcessed: boolean
  /** Ask for SCHED_FIFO for the audio thread (silently normal priority if refused). Defaults to true. */
  realtimePriority: boolean
  /**
   * file backend: the audio thread waits for room in the feature ring instead of dropping, so
   * pollFeatures() sees every frame (the offline analysers); whoever sets it must keep draining.
   * Defaults to false.
   */
  losslessFeatures: boolean
  /**
   * file backend: input WAV (channel count must equal inputs) or several files as one input
   * (columns of consecutive parts, see WavSource in firmware/wav/wav.ts), output WAV, output sample format.
   */
  file: { in: string | string[][]; out?: string; from?: number; to?: number; format?: 'pcm16' | 'pcm24' | 'pcm32' | 'float32' } | undefined
  /** sim backend: the synthetic stage. Defaults to one speechlike source at 60 degrees, noise -50 dB. */
  sim:
    | {
        sources?: SimSource[]
        /** dBFS of each mic's own noise. Defaults to -50. */
        noiseDb?: number
        /** Defaults to 1. */
        seed?: number
        /** Pace blocks by the monotonic clock. Defaults to true. */
        paced?: boolean
        /** Record input and output for this many seconds (fault tests). Defaults to 0. */
        recordSeconds?: number
        /**
         * A feedback loop (docs/feedback.md, "On the sim board"): `output` (from 1) comes back into
         * `inputs` (from 1; default every input: an array hears its wedge on every capsule) through a
         * simulated room (a name from ROOMS, "LxWxH:absorption" or a RoomSpec), `gainDb` over the
         * point where a unit-gain path through the engine would howl. Absent: no loop.
         */
        loop?: SimLoopOptions
      }
    | undefined
  /** alsa backend: PCM names (e.g. "hw:1,0", "plug:array", or an asoundrc pcm). */
  alsa: { capture: string; playback: string; periods?: number } | undefined
  /** Stop the audio thread after this many blocks (0: until stop()). Defaults to 0. */
  maxBlocks: number
  /** aes67 backend: receive streams (engine inputs) and transmit streams (engine outputs), docs/aes67.md. */
  aes67:
    | {
        rx?: Array<Partial<Aes67StreamOptions>>
        tx?: Array<Partial<Aes67StreamOptions>>
        /** Stream slots preallocated at start for streams added at run time, per direction (at least the streams listed, at most 8). Defaults to 8. */
        rxSlots?: number
        txSlots?: number
      }
    | undefined
}

/** The sim board's feedback loop: an output back into an input through a simulated room. */
export interface SimLoopOptions {
  output: number
  inputs?: number[]
  gainDb: number
  room: string | RoomSpec
}

export const DEFAULT_OPTIONS = {
  backend: 'sim',
  blockSize: 64,
  doa: true,
  doaThread: true,
  doaFrameSize: 1024,
  doaSmoothing: 0.3,
  doaMinConfidence: 0.2,
  crossfadeMs: 10,
  heartbeatTimeoutMs: 5000,
  runawayDb: 24,
  heartbeatIntervalMs: 10,
  overrunBlocks: 4,
  budgetFraction: 1,
  startProcessed: true,
  realtimePriority: true,
  losslessFeatures: false,
  maxBlocks: 0,
} as const satisfies Partial<EngineOptions>

/** The largest feedback frequency shift (Hz) an output takes (Engine.setShift). */
export const MAX_FEEDBACK_SHIFT_HZ = 20

/** Feedback notch slots per output (kNotches in addons/src/engine.h). */
export const NOTCH_SLOTS = 32

const SIM_KIND = { tone: 0, noise: 1, speechlike: 2 } as const
const BAND_TYPE = { peak: 0, lowshelf: 1, highshelf: 2, highpass: 3, lowpass: 4 } as const
const BEAM_KIND = { das: 0, mvdr: 1 } as const

function bad(field: string, msg: string): never {
  throw new FirmwareError('FW_ERR_BAD_OPTION', `engine option ${field}: ${msg}`)
}

const OPTION = checker('FW_ERR_BAD_OPTION', (field, complaint) => `engine option ${field}: ${complaint}`)

function checkNumber(v: unknown, field: string, min: number, max: number, integer = false): number {
  return numberIn(OPTION, v, field, { min, max, integer })
}

function checkBool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') bad(field, `must be true or false, got ${JSON.stringify(v)}`)
  return v
}

type Geometry = ReturnType<typeof validateGeometry>
type Native = NativeEngineOptions
/** The options as given over the defaults (what each step below checks). */
type Merged = ReturnType<typeof merged>

/** The defaults, then the channel counts the array implies, then what was given. */
function merged(input: Partial<EngineOptions>, array: Geometry | undefined) {
  // A field given as undefined means "the default", as if it were left out.
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<EngineOptions>
  return {
    ...DEFAULT_OPTIONS,
    sampleRate: array?.sampleRate ?? 48000,
    inputs: array?.mics.length ?? 2,
    ...given,
  }
}

function checkBackend(backend: unknown): Native['backend'] {
  if (backend !== 'sim' && backend !== 'file' && backend !== 'alsa' && backend !== 'null' && backend !== 'aes67') {
    throw new FirmwareError(
      'FW_ERR_UNKNOWN_DEVICE',
      `engine option backend: unknown audio backend ${JSON.stringify(backend)}; use "sim", "file", "alsa" or "aes67"`,
    )
  }
  return backend
}

function checkSampleRate(sampleRate: unknown, array: Geometry | undefined): number {
  if (sampleRate !== 44100 && sampleRate !== 48000 && sampleRate !== 96000) {
    bad('sampleRate', `must be 44100, 48000 or 96000, got ${JSON.stringify(sampleRate)}`)
  }
  if (array && array.sampleRate !== sampleRate) {
    throw new FirmwareError('FW_ERR_BAD_GEOMETRY', `engine option array: sampleRate ${array.sampleRate} differs from the engine's ${sampleRate}`)
  }
  return sampleRate
}

/** Block size, channel counts, and which input each output plays when dry. */
function channels(o: Merged, array: Geometry | undefined): Pick<Native, 'blockSize' | 'inputs' | 'outputs' | 'dryMap'> {
  const blockSize = checkNumber(o.blockSize, 'blockSize', 32, 1024, true)
  const inputs = checkNumber(o.inputs, 'inputs', 1, 64, true)
  if (array && array.mics.length > inputs) {
    throw new FirmwareError('FW_ERR_BAD_GEOMETRY', `engine option array: has ${array.mics.length} mics but the engine has ${inputs} inputs`)
  }
  const outputs = checkNumber(o.outputs ?? (array ? 4 : inputs), 'outputs', 1, 16, true)
  const dryMapIn: unknown = o.dryMap ?? Array.from({ length: outputs }, (_, k) => k % inputs)
  if (!Array.isArray(dryMapIn) || dryMapIn.length !== outputs) bad('dryMap', `must list one input per output (${outputs})`)
  const dryMap = dryMapIn.map((v: unknown, k: number) => checkNumber(v, `dryMap[${k}]`, 0, inputs - 1, true))
  return { blockSize, inputs, outputs, dryMap }
}

/** The beams (checked in count always, in content only with a microphone array: without one there are none). */
function beamsOf(given: unknown, array: Geometry | undefined): Native['beams'] {
  const beamsIn: unknown = given ?? [{ auto: true }, {}, {}, {}]
  if (!Array.isArray(beamsIn) || beamsIn.length < 1 || beamsIn.length > 16) bad('beams', 'must list 1 to 16 beams')
  if (!array) return []
  return beamsIn.map((raw: unknown, b: number) => {
    if (typeof raw !== 'object' || raw === null) bad(`beams[${b}]`, 'must be an object')
    const beam = { kind: 'das', azimuth: (b * 90) % 360, elevation: 0, auto: false, ...(raw as Partial<BeamOptions>) }
    if (beam.kind !== 'das' && beam.kind !== 'mvdr') bad(`beams[${b}].kind`, `must be "das" or "mvdr", got ${JSON.stringify(beam.kind)}`)
    return {
      kind: beam.kind,
      azimuth: checkNumber(beam.azimuth, `beams[${b}].azimuth`, -360, 360),
      elevation: checkNumber(beam.elevation, `beams[${b}].elevation`, -90, 90),
      auto: checkBool(beam.auto, `beams[${b}].auto`),
    }
  })
}

/** The file backend's input WAV and output path and format (empty for the other backends). */
function fileBackend(o: Merged, backend: Native['backend']): Pick<Native, 'inPath' | 'inColumns' | 'inFrom' | 'inTo' | 'outPath' | 'outFormat'> {
  if (backend !== 'file') return { inPath: '', inColumns: [], inFrom: 0, inTo: -1, outPath: '', outFormat: 'float32' }
  const file = o.file
  if (!file) bad('file.in', 'the file backend needs an input WAV path')
  const src = file.in
  const columns = Array.isArray(src) ? src : []
  if (Array.isArray(src)) {
    if (src.length === 0 || !src.every((c) => Array.isArray(c) && c.length > 0 && c.every((p) => typeof p === 'string' && p !== ''))) {
      bad('file.in', 'columns must be non-empty lists of WAV paths')
    }
  } else if (typeof src !== 'string' || src === '') bad('file.in', 'the file backend needs an input WAV path')
  const outFormat = file.format ?? 'float32'
  if (!['pcm16', 'pcm24', 'pcm32', 'float32'].includes(outFormat))
    bad('file.format', `must be pcm16, pcm24, pcm32 or float32, got ${JSON.stringify(outFormat)}`)
  const inPath = typeof src === 'string' ? src : columns[0]![0]!
  const inFrom = file.from === undefined ? 0 : checkNumber(file.from, 'file.from', 0, Number.MAX_SAFE_INTEGER, true)
  const inTo = file.to === undefined ? -1 : checkNumber(file.to, 'file.to', 1, Number.MAX_SAFE_INTEGER, true)
  return { inPath, inColumns: columns, inFrom, inTo, outPath: file.out ?? '', outFormat }
}

/** The simulated room over its defaults. */
function simulation(o: Merged) {
  return {
    sources: [{ azimuth: 60, kind: 'speechlike', freqHz: 220, levelDb: -20 }] as SimSource[],
    noiseDb: -50,
    seed: 1,
    paced: true,
    recordSeconds: 0,
    ...o.sim,
  }
}

function simSourcesOf(sources: SimSource[], sampleRate: number): Native['simSources'] {
  return sources.map((s, i) => {
    if (!(s.kind in SIM_KIND)) bad(`sim.sources[${i}].kind`, `must be tone, noise or speechlike, got ${JSON.stringify(s.kind)}`)
    return {
      azimuth: checkNumber(s.azimuth, `sim.sources[${i}].azimuth`, -360, 360),
      elevation: checkNumber(s.elevation ?? 0, `sim.sources[${i}].elevation`, -90, 90),
      kind: SIM_KIND[s.kind],
      freqHz: checkNumber(s.freqHz ?? 1000, `sim.sources[${i}].freqHz`, 1, sampleRate / 2),
      levelDb: checkNumber(s.levelDb, `sim.sources[${i}].levelDb`, -200, 20),
    }
  })
}

/** The sim board's loop, checked (outputs and inputs from 1 in, from 0 out); nothing without one. */
function simLoopOf(loop: SimLoopOptions | undefined, inputs: number, outputs: number): Pick<Native, 'simLoop'> {
  if (loop === undefined) return {}
  if (typeof loop !== 'object' || loop === null) bad('sim.loop', 'must be { output, inputs?, gainDb, room }')
  const output = checkNumber(loop.output, 'sim.loop.output', 1, outputs, true)
  const ins = loop.inputs ?? Array.from({ length: inputs }, (_, k) => k + 1)
  if (!Array.isArray(ins) || ins.length === 0) bad('sim.loop.inputs', 'must be a list of inputs, from 1')
  for (const [k, n] of ins.entries()) checkNumber(n, `sim.loop.inputs[${k}]`, 1, inputs, true)
  const gainDb = checkNumber(loop.gainDb, 'sim.loop.gainDb', -60, 20)
  const where = 'engine option sim.loop.room'
  const room = typeof loop.room === 'string' ? parseRoom(loop.room, where, 'FW_ERR_BAD_OPTION') : loop.room
  checkRoom(room, where, 'FW_ERR_BAD_OPTION')
  return { simLoop: { output: output - 1, inputs: ins.map((n) => n - 1), gainDb, room } }
}

/** The alsa backend's PCM names and period count (empty for the other backends). */
function alsaBackend(o: Merged, backend: Native['backend']): Pick<Native, 'captureDevice' | 'playbackDevice' | 'alsaPeriods'> {
  if (backend !== 'alsa') return { captureDevice: '', playbackDevice: '', alsaPeriods: 3 }
  if (!o.alsa || typeof o.alsa.capture !== 'string' || !o.alsa.capture) bad('alsa.capture', 'the alsa backend needs a capture PCM name')
  if (typeof o.alsa.playback !== 'string' || !o.alsa.playback) bad('alsa.playback', 'the alsa backend needs a playback PCM name')
  return {
    captureDevice: o.alsa.capture,
    playbackDevice: o.alsa.playback,
    alsaPeriods: checkNumber(o.alsa.periods ?? 3, 'alsa.periods', 2, 16, true),
  }
}

function checkDoaFrameSize(v: unknown): number {
  const doaFrameSize = checkNumber(v, 'doaFrameSize', 128, 8192, true)
  if ((doaFrameSize & (doaFrameSize - 1)) !== 0) bad('doaFrameSize', `must be a power of two, got ${doaFrameSize}`)
  return doaFrameSize
}

/**
 * Validates and defaults engine options into the plain object the addon takes. The checks run in
 * this order (the first bad field is the one reported): array, backend, sampleRate, channels,
 * beams, file, sim sources, alsa, doaFrameSize, then the scalars as listed in the result.
 */
export function resolveOptions(input: Partial<EngineOptions>): NativeEngineOptions {
  if (typeof input !== 'object' || input === null) bad('(options)', 'must be an object')
  const array = input.array === undefined ? undefined : validateGeometry(input.array, 'engine option array')
  const o = merged(input, array)
  const backend = checkBackend(o.backend)
  const sampleRate = checkSampleRate(o.sampleRate, array)
  const chans = channels(o, array)
  const beams = beamsOf(o.beams, array)
  const file = fileBackend(o, backend)
  const sim = simulation(o)
  const simSources = simSourcesOf(sim.sources, sampleRate)
  const alsa = alsaBackend(o, backend)
  const doaFrameSize = checkDoaFrameSize(o.doaFrameSize)
  return {
    backend,
    sampleRate,
    ...chans,
    mics: array?.mics ?? [],
    beams,
    doa: checkBool(o.doa, 'doa') && array !== undefined,
    doaThread: checkBool(o.doaThread, 'doaThread'),
    doaFrameSize,
    doaSmoothing: checkNumber(o.doaSmoothing, 'doaSmoothing', 0.001, 1),
    doaMinConfidence: checkNumber(o.doaMinConfidence, 'doaMinConfidence', 0, 1),
    crossfadeMs: checkNumber(o.crossfadeMs, 'crossfadeMs', 0, 1000),
    heartbeatTimeoutMs: checkNumber(o.heartbeatTimeoutMs, 'heartbeatTimeoutMs', 0, 60_000),
    runawayDb: checkNumber(o.runawayDb, 'runawayDb', 0, 60),
    overrunBlocks: checkNumber(o.overrunBlocks, 'overrunBlocks', 0, 10_000, true),
    budgetFraction: checkNumber(o.budgetFraction, 'budgetFraction', 0.01, 4),
    startProcessed: checkBool(o.startProcessed, 'startProcessed'),
    realtimePriority: checkBool(o.realtimePriority, 'realtimePriority'),
    losslessFeatures: checkBool(o.losslessFeatures, 'losslessFeatures'),
    ...file,
    simSources,
    simNoiseDb: checkNumber(sim.noiseDb, 'sim.noiseDb', -300, 0),
    simSeed: checkNumber(sim.seed, 'sim.seed', 0, 2 ** 32 - 1, true),
    simPaced: checkBool(sim.paced, 'sim.paced'),
    recordSeconds: checkNumber(sim.recordSeconds, 'sim.recordSeconds', 0, 600),
    ...simLoopOf(sim.loop, chans.inputs, chans.outputs),
    maxBlocks: checkNumber(o.maxBlocks, 'maxBlocks', 0, Number.MAX_SAFE_INTEGER, true),
    ...alsa,
    aes67Rx: backend === 'aes67' ? resolveStreams(o.aes67?.rx, 'rx', chans.inputs) : [],
    aes67Tx: backend === 'aes67' ? resolveStreams(o.aes67?.tx, 'tx', chans.outputs) : [],
    aes67RxSlots: o.aes67?.rxSlots === undefined ? 8 : checkNumber(o.aes67.rxSlots, 'aes67.rxSlots', 0, 8, true),
    aes67TxSlots: o.aes67?.txSlots === undefined ? 8 : checkNumber(o.aes67.txSlots, 'aes67.txSlots', 0, 8, true),
  }
}

/** What poll() hands back: every event and DOA estimate since the last poll, and the newest meters. */
/** Linear peak and mean square per channel over `frames` frames. */
export interface ChannelLevels {
  peak: Float64Array
  meanSquare: Float64Array
  frames: number
}
export interface FileLevels {
  input: ChannelLevels
  /** Null without an output file. */
  output: ChannelLevels | null
}

export interface EnginePoll {
  events: EngineEvent[]
  doa: DoaEstimate[]
  meters: (Meters & { t: number }) | null
  /** Records from the binding that did not decode (firmware/engine/events.ts); absent means 0. */
  undecoded?: number
}

/** The sentinel thread's settings (addons/src/sentinel.h, docs/watchdog.md). */
export interface SentinelOptions {
  /** The front-panel controller's tty, opened a second time for the heartbeat; null: no panel. */
  panelPath: string | null
  /** Heartbeat line to the controller every this many ms, 1..100. Defaults to 5. */
  heartbeatMs: number
  /** Block counter still this long = audio-thread stall: RELAY OFF at once. 2..1000 ms, defaults to 20. */
  audioStallMs: number
  /** Control-plane heartbeat older than this: DEGRADED on the panel LED, sent natively. 10..10000 ms, defaults to 100. */
  holdAfterMs: number
  /** Control-plane heartbeat older than this: the panel heartbeats stop (relay drops). 0 (never) or 100..60000 ms; defaults to the engine's heartbeatTimeoutMs. */
  controlPlaneTimeoutMs: number
  /** An open hardware watchdog descriptor the sentinel feeds from now on (it owns it), or -1. Defaults to -1. */
  watchdogFd: number
  /** Feed the watchdog device every this many ms. Defaults to 1000. */
  watchdogFeedMs: number
  /** SCHED_FIFO 80 for the sentinel (above the audio thread), if the OS allows. Defaults to true. */
  realtimePriority: boolean
}

/** What the sentinel has seen (counters since it started). */
export interface SentinelStats {
  running: boolean
  realtime: boolean
  panelOpen: boolean
  heartbeats: number
  writeErrors: number
  reopens: number
  /** Audio-thread stalls declared (RELAY OFF sent each time), and how long the last one had lasted. */
  audioStalls: number
  lastStallMs: number
  /** Control-plane late episodes (LED DEGRADED sent natively), and the heartbeat age at the last. */
  controlHolds: number
  lastHoldAgeMs: number
  controlTimeouts: number
  stalled: boolean
  held: boolean
  withhold: boolean
  watchdogFeeds: number
  /** Gaps between heartbeat lines written: max, mean, count over heartbeatMs + 1 ms (ms). */
  maxGapMs: number
  meanGapMs: number
  lateGaps: number
}

/** Turns a start() failure from the addon into a coded error a user can act on. */
function startError(opts: NativeEngineOptions, message: string): FirmwareError {
  if (opts.backend === 'alsa') return new FirmwareError('FW_ERR_UNKNOWN_DEVICE', message)
  if (opts.backend === 'file') {
    if (/channel\(s\) but the engine expects/.test(message)) return new FirmwareError('FW_ERR_CHANNELS', message)
    if (/no such file|cannot open|cannot stat|cannot create|is a directory|permission/i.test(message)) return new FirmwareError('FW_ERR_IO', message)
    return new FirmwareError('FW_ERR_BAD_WAV', message)
  }
  return new FirmwareError('FW_ERR_ENGINE', message)
}

export class Engine {
  /** The options as resolved (defaults applied), as handed to the addon. */
  readonly options: NativeEngineOptions
  readonly #native: NativeEngine
  readonly #heartbeatIntervalMs: number
  #timer: NodeJS.Timeout | undefined
  #state: 'created' | 'running' | 'sequential' | 'stopped' = 'created'

  /**
   * Validates the options (FW_ERR_BAD_OPTION / FW_ERR_BAD_GEOMETRY / FW_ERR_UNKNOWN_DEVICE naming
   * the field) and builds the chain. `native` is injectable for tests; it defaults to the addon.
   */
  constructor(options: Partial<EngineOptions> = {}, native: NativeModule = loadNative()) {
    this.options = resolveOptions(options)
    this.#heartbeatIntervalMs = checkNumber(options.heartbeatIntervalMs ?? DEFAULT_OPTIONS.heartbeatIntervalMs, 'heartbeatIntervalMs', 0, 10_000)
    try {
      this.#native = new native.Engine(this.options)
    } catch (err) {
      throw new FirmwareError('FW_ERR_ENGINE', `the audio engine could not be built: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Opens the backend and starts the audio thread. Throws with a code when the device or file is bad. */
  start(): void {
    if (this.#state !== 'created') throw new FirmwareError('FW_ERR_ENGINE', `the engine is ${this.#state}; create a new one to start again`)
    try {
      this.#native.start()
    } catch (err) {
      this.#state = 'stopped'
      throw startError(this.options, (err as Error).message)
    }
    this.#state = 'running'
    if (this.#heartbeatIntervalMs > 0) {
      this.#timer = setInterval(() => this.#native.heartbeat(), this.#heartbeatIntervalMs)
      this.#timer.unref()
    }
  }

  /**
   * Sequential mode, for tests and profiling: runs up to `blocks` blocks of the same chain on the
   * calling thread (no audio thread; this blocks the event loop) and returns how many ran, fewer
   * at the end of a file. The engine cannot be start()ed afterwards; stop() still closes it.
   */
  runSequential(blocks: number): number {
    if (this.#state !== 'created' && this.#state !== 'sequential')
      throw new FirmwareError('FW_ERR_ENGINE', `the engine is ${this.#state}; sequential runs need a fresh engine`)
    checkNumber(blocks, 'runSequential(blocks)', 0, Number.MAX_SAFE_INTEGER, true)
    try {
      const ran = this.#native.runBlocks(blocks)
      this.#state = 'sequential'
      return ran
    } catch (err) {
      this.#state = 'stopped'
      throw startError(this.options, (err as Error).message)
    }
  }

  /** Stops and joins the audio thread; the file backend commits its output here. Safe to call twice. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    try {
      this.#native.stop()
    } catch (err) {
      throw new FirmwareError('FW_ERR_IO', (err as Error).message, { cause: err })
    }
  }

  get running(): boolean {
    return this.#state === 'running'
  }

  /** Tells the audio thread the control plane is alive (a monotonic timestamp, one atomic store). */
  heartbeat(): void {
    this.#native.heartbeat()
  }

  /** false: fade to dry. true: fade back to processed, also lifting a native bypass (heartbeat permitting). */
  setProcessing(on: boolean): void {
    this.#native.setProcessing(checkBool(on, 'setProcessing(on)'))
  }

  /** Input trim in dB (-60..+24), smoothed. */
  setInputTrim(input: number, db: number): void {
    checkNumber(input, 'setInputTrim(input)', 0, this.options.inputs - 1, true)
    this.#send(this.#native.setInputTrim(input, checkNumber(db, 'setInputTrim(db)', -60, 24)))
  }

  /** Output gain in dB (-120..+24; -120 is silence), smoothed. */
  setOutputGain(output: number, db: number): void {
    checkNumber(output, 'setOutputGain(output)', 0, this.options.outputs - 1, true)
    this.#send(this.#native.setOutputGain(output, checkNumber(db, 'setOutputGain(db)', -120, 24)))
  }

  /** One EQ band (0..7) of one output. */
  setEq(output: number, band: number, p: BandParams): void {
    checkNumber(output, 'setEq(output)', 0, this.options.outputs - 1, true)
    checkNumber(band, 'setEq(band)', 0, 7, true)
    if (!(p.type in BAND_TYPE)) bad('setEq(type)', `must be peak, lowshelf, highshelf, highpass or lowpass, got ${JSON.stringify(p.type)}`)
    this.#send(
      this.#native.setEq(output, band, {
        type: BAND_TYPE[p.type],
        freqHz: checkNumber(p.freqHz, 'setEq(freqHz)', 10, this.options.sampleRate * 0.49),
        gainDb: checkNumber(p.gainDb, 'setEq(gainDb)', -24, 24),
        q: checkNumber(p.q, 'setEq(q)', 0.05, 30),
        enabled: checkBool(p.enabled, 'setEq(enabled)'),
      }),
    )
  }

  /**
   * One feedback notch (slot 0 to NOTCH_SLOTS - 1) of one output: a peaking band after the EQ that glides and
   * crossfades (no click). Q 30 to 200, gain -30 to 0 dB. A bad value: FW_ERR_FEEDBACK_SETTINGS,
   * nothing sent. docs/feedback.md.
   */
  setNotch(n: { output: number; slot: number; hz: number; gainDb: number; q: number; enabled: boolean }): void {
    const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `setNotch(${f}): ${m}`)
    const output = numberIn(c, n.output, 'output', { min: 0, max: this.options.outputs - 1, integer: true })
    const slot = numberIn(c, n.slot, 'slot', { min: 0, max: NOTCH_SLOTS - 1, integer: true })
    const hz = numberIn(c, n.hz, 'hz', { min: 20, max: this.options.sampleRate * 0.45 })
    const gainDb = numberIn(c, n.gainDb, 'gainDb', { min: -30, max: 0 })
    const q = numberIn(c, n.q, 'q', { min: 30, max: 200 })
    if (typeof n.enabled !== 'boolean')
      throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `setNotch(enabled): must be true or false, got ${JSON.stringify(n.enabled)}`)
    const send = this.#native.setNotch
    if (!send) throw new FirmwareError('FW_ERR_ENGINE', 'this engine build has no feedback notches; rebuild it with "npm run build:addon"')
    this.#send(send.call(this.#native, output, slot, hz, gainDb, q, n.enabled))
  }

  /**
   * The feedback frequency shifter of one output, after the notches: every component moves up by
   * hz (0 to MAX_FEEDBACK_SHIFT_HZ; 0 is off, an exact bypass). Changes glide (50 ms) and crossfade
   * in and out of bypass (no click). A bad value: FW_ERR_FEEDBACK_SETTINGS, nothing sent. docs/feedback.md.
   */
  setShift(output: number, hz: number): void {
    const c = checker('FW_ERR_FEEDBACK_SETTINGS', (f, m) => `setShift(${f}): ${m}`)
    const out = numberIn(c, output, 'output', { min: 0, max: this.options.outputs - 1, integer: true })
    const shift = numberIn(c, hz, 'hz', { min: 0, max: MAX_FEEDBACK_SHIFT_HZ })
    const send = this.#native.setShift
    if (!send) throw new FirmwareError('FW_ERR_ENGINE', 'this engine build has no frequency shifter; rebuild it with "npm run build:addon"')
    this.#send(send.call(this.#native, out, shift))
  }

  /** Compressor/limiter of one output (ratio >= 1000 is a brick-wall limiter). */
  setCompressor(output: number, p: CompressorParams): void {
    checkNumber(output, 'setCompressor(output)', 0, this.options.outputs - 1, true)
    this.#send(
      this.#native.setCompressor(output, {
        thresholdDb: checkNumber(p.thresholdDb, 'setCompressor(thresholdDb)', -80, 0),
        ratio: checkNumber(p.ratio, 'setCompressor(ratio)', 1, 1e6),
        kneeDb: checkNumber(p.kneeDb, 'setCompressor(kneeDb)', 0, 40),
        attackMs: checkNumber(p.attackMs, 'setCompressor(attackMs)', 0.01, 1000),
        releaseMs: checkNumber(p.releaseMs, 'setCompressor(releaseMs)', 1, 10_000),
        makeupDb: checkNumber(p.makeupDb, 'setCompressor(makeupDb)', -24, 48),
        enabled: checkBool(p.enabled, 'setCompressor(enabled)'),
      }),
    )
  }

  /** Points a beam (and stops it following the DOA). */
  steerBeam(beam: number, azimuth: number, elevation = 0): void {
    this.#beam(beam, 'steerBeam(beam)')
    this.#send(this.#native.steerBeam(beam, checkNumber(azimuth, 'steerBeam(azimuth)', -360, 360), checkNumber(elevation, 'steerBeam(elevation)', -90, 90)))
  }

  /** Makes a beam follow the DOA estimate (smoothed), or stop following it. */
  setBeamAuto(beam: number, on: boolean): void {
    this.#beam(beam, 'setBeamAuto(beam)')
    this.#send(this.#native.setBeamAuto(beam, checkBool(on, 'setBeamAuto(on)')))
  }

  /** Switches a beam's beamformer (a one-block crossfade, no click). */
  setBeamformer(beam: number, kind: BeamformerKind): void {
    this.#beam(beam, 'setBeamformer(beam)')
    if (kind !== 'das' && kind !== 'mvdr') bad('setBeamformer(kind)', `must be "das" or "mvdr", got ${JSON.stringify(kind)}`)
    this.#send(this.#native.setBeamformer(beam, BEAM_KIND[kind]))
  }

  /** Test hook: busy-wait `us` microseconds inside the chain for the next `blocks` blocks. */
  injectDspSpin(us: number, blocks: number): void {
    this.#native.injectDspSpin(checkNumber(us, 'injectDspSpin(us)', 0, 1e6, true), checkNumber(blocks, 'injectDspSpin(blocks)', 0, 1e9, true))
  }

  /**
   * Rehearsal/test hook: the audio thread sleeps `ms` (1..10000) once, at its next block: no
   * output for that long, as a stuck driver would do. The sentinel drops the relay.
   */
  injectAudioStall(ms: number): void {
    this.#native.injectAudioStall(checkNumber(ms, 'injectAudioStall(ms)', 1, 10_000, true))
  }

  /** Rehearsal/test hook: a NaN on output 0 of the chain for the next `blocks` (1..1e6) blocks. */
  injectNonFinite(blocks: number): void {
    this.#native.injectNonFinite(checkNumber(blocks, 'injectNonFinite(blocks)', 1, 1e6, true))
  }

  /** Starts the sentinel thread (after start()). FW_ERR_BAD_OPTION for a bad field, FW_ERR_IO when the panel tty cannot be opened. */
  startSentinel(options: Partial<SentinelOptions> = {}): void {
    if (this.#state !== 'running') throw new FirmwareError('FW_ERR_ENGINE', `the sentinel needs a running engine (it is ${this.#state})`)
    const o: SentinelOptions = {
      panelPath: null,
      heartbeatMs: 5,
      audioStallMs: 20,
      holdAfterMs: 100,
      controlPlaneTimeoutMs: this.options.heartbeatTimeoutMs,
      watchdogFd: -1,
      watchdogFeedMs: 1000,
      realtimePriority: true,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    }
    if (o.panelPath !== null && (typeof o.panelPath !== 'string' || o.panelPath === '')) bad('sentinel.panelPath', 'must be a tty path or null')
    const cp = checkNumber(o.controlPlaneTimeoutMs, 'sentinel.controlPlaneTimeoutMs', 0, 60_000)
    if (cp !== 0 && cp < 100) bad('sentinel.controlPlaneTimeoutMs', `must be 0 or 100..60000, got ${cp}`)
    const native = {
      panelPath: o.panelPath ?? '',
      heartbeatMs: checkNumber(o.heartbeatMs, 'sentinel.heartbeatMs', 1, 100),
      audioStallMs: checkNumber(o.audioStallMs, 'sentinel.audioStallMs', 2, 1000),
      holdAfterMs: checkNumber(o.holdAfterMs, 'sentinel.holdAfterMs', 10, 10_000),
      controlPlaneTimeoutMs: cp,
      watchdogFd: checkNumber(o.watchdogFd, 'sentinel.watchdogFd', -1, 1 << 20, true),
      watchdogFeedMs: checkNumber(o.watchdogFeedMs, 'sentinel.watchdogFeedMs', 10, 60_000),
      realtimePriority: checkBool(o.realtimePriority, 'sentinel.realtimePriority'),
    }
    try {
      this.#native.startSentinel(native)
    } catch (err) {
      throw new FirmwareError('FW_ERR_IO', `the sentinel could not start: ${(err as Error).message}`, { cause: err })
    }
  }

  /** The sentinel stops (true) or resumes (false) the front-panel heartbeat. */
  sentinelWithhold(on: boolean): void {
    this.#native.sentinelWithhold(checkBool(on, 'sentinelWithhold(on)'))
  }

  /** Asks the sentinel to send a heartbeat and RELAY ON (refused by it while something is wrong). False without a sentinel. */
  sentinelRelayOn(): boolean {
    return this.#native.sentinelRelayOn()
  }

  /** The sentinel's counters, or null when it is not running. `resetGaps` restarts the gap figures. */
  sentinelStats(resetGaps = false): SentinelStats | null {
    return this.#native.sentinelStats(resetGaps)
  }

  /** Drains the engine's rings: events and DOA estimates since the last poll, and the newest meters. */
  poll(): EnginePoll {
    const p = this.#native.poll()
    const { events, undecoded } = decodeEngineEvents(p.events)
    return { events, doa: p.doa, meters: p.meters, undecoded }
  }

  /**
   * Drains the feature ring: log-mel frames, VAD windows and output spectra for the models.
   * `reuse` (the offline analysers): every array is a view of one buffer the addon keeps and
   * fills again on the next poll with `reuse`, so a poll makes no garbage outside V8's heap; the
   * arrays are valid until that next poll, and whoever keeps one past it copies it.
   */
  pollFeatures(opts?: { reuse?: boolean }): FeatureFrames {
    return (
      this.#native.pollFeatures?.(opts) ?? { logMel: new Float32Array(0), logMelT: -1, vad: new Float32Array(0), vadT: -1, spectra: [], howl: [], dropped: 0 }
    )
  }

  stats(): EngineStats & {
    droppedDoa: number
    droppedMeters: number
    droppedAnalysis: number
    mix: number
    nativeBypass: NativeBypassCause | null
    running: boolean
    finished: boolean
    realtime: boolean
  } {
    return this.#native.stats()
  }

  /** Blocks processed so far: one atomic load, cheap enough for every control tick. */
  blockCounter(): number {
    return this.#native.blockCounter()
  }

  /** The aes67 backend's per-stream counters, receive streams first (docs/aes67.md); [] for other backends. */
  netStats(): NetStreamStats[] {
    return this.#native.netStats()
  }

  /**
   * The aes67 backend: the system clock is the network's media clock (PTP locked, or this unit is
   * the grandmaster): receive streams play by RTP timestamp; false: by arrival (docs/aes67.md, "Playout").
   */
  setMediaClockLocked(locked: boolean): void {
    this.#native.setMediaClockLocked?.(locked)
  }

  /**
   * The aes67 backend: opens an already checked stream in a free preallocated slot while the engine
   * runs, and returns the slot (docs/aes67.md, "Streams at run time"). FW_ERR_AES67_STREAM with the
   * reason (no free slot, the port cannot be bound, the input's sources full).
   */
  addAes67Stream(dir: 'rx' | 'tx', stream: NativeAes67Stream): number {
    if (!this.#native.aes67Add) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this engine has no AES67 streams')
    try {
      return this.#native.aes67Add(dir, stream)
    } catch (e) {
      throw new FirmwareError('FW_ERR_AES67_STREAM', `aes67 ${dir}: ${(e as Error).message}`)
    }
  }

  /**
   * Stops the stream in `slot`: a playing source fades out first (half its link offset); resolves
   * once no thread reads the slot. The event loop (and the 10 ms tick) runs meanwhile: the native
   * side never waits, it is asked every 2 ms.
   */
  async removeAes67Stream(dir: 'rx' | 'tx', slot: number): Promise<void> {
    const begin = this.#native.aes67RemoveBegin
    const finish = this.#native.aes67RemoveFinish
    if (!begin || !finish) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this engine has no AES67 streams')
    try {
      begin.call(this.#native, dir, slot)
      while (!finish.call(this.#native, dir, slot)) await new Promise((r) => setTimeout(r, 2))
    } catch (e) {
      throw new FirmwareError('FW_ERR_AES67_STREAM', `aes67 ${dir}: ${(e as Error).message}`)
    }
  }

  /**
   * Every beam's kind and current direction as the audio thread last published it (auto beams
   * move with the DOA; commands show up after the next block). Empty without an array.
   */
  beams(): Array<{ index: number; kind: BeamformerKind; azimuth: number; elevation: number; auto: boolean }> {
    return this.#native.beams()
  }

  /** Added latency of the processed path (beam 0), samples. */
  latencySamples(): number {
    return this.#native.latencySamples()
  }

  /** sim backend with recordSeconds: the recorded input and output, per channel. After stop(). */
  recording(): { frames: number; input: Float32Array[]; output: Float32Array[] } {
    if (this.#state !== 'stopped') throw new FirmwareError('FW_ERR_ENGINE', 'the recording is available after stop()')
    return this.#native.recording()
  }

  /**
   * The personal-mix streamer's port on this engine (firmware/mix/ validates and drives it): it
   * consumes the engine's mix tap on its own thread, so nothing it does reaches the PA path.
   */
  mixPort(): MixPort {
    const n = this.#native
    if (!n.mixStart || !n.mixSetStreams || !n.mixStats || !n.mixStop) throw new FirmwareError('FW_ERR_ENGINE', 'this engine build has no mix streamer')
    return {
      start: (frameMs) => n.mixStart?.({ frameMs }),
      setStreams: (streams) => n.mixSetStreams?.(streams),
      stats: () => n.mixStats?.() ?? null,
      setDirections: (slots) => n.mixSetDirections?.(slots),
      stop: () => n.mixStop?.(),
    }
  }

  /**
   * Live candidates (issue 17): the DOA thread also runs the multi-peak localiser (on) or not
   * (off, the default). Returns false when this engine cannot (no array, or its DOA runs inline
   * on the audio thread): nothing is turned on then.
   */
  setTracking(on: boolean): boolean {
    return this.#native.setTracking?.(checkBool(on, 'setTracking(on)')) ?? false
  }

  /** Drains the localiser frames the DOA thread pushed since the last call (tracking on). */
  pollPeaks(): NativePeakPoll {
    return this.#native.pollPeaks?.() ?? { frames: [], dropped: 0, on: false }
  }

  /**
   * file backend: whole-run peak and mean square per channel of the input it read and the output
   * as the file stores it (the offline report's meters, without reading the files again). After
   * stop(); null for other backends.
   */
  fileLevels(): FileLevels | null {
    if (this.#state !== 'stopped') throw new FirmwareError('FW_ERR_ENGINE', 'the file levels are available after stop()')
    return this.#native.fileLevels?.() ?? null
  }

  /** Resolves once the audio thread has ended by itself (file backend at end of input, maxBlocks). */
  async finished(pollMs = 5): Promise<void> {
    while (this.#state === 'running' && !this.#native.stats().finished) {
      await new Promise((r) => setTimeout(r, pollMs))
    }
  }

  #beam(beam: number, field: string): void {
    if (this.options.beams.length === 0) bad(field, 'this engine has no array, so no beams')
    checkNumber(beam, field, 0, this.options.beams.length - 1, true)
  }

  #send(accepted: boolean): void {
    // A full command ring means the audio thread is not draining it: report, do not wait.
    if (!accepted) throw new FirmwareError('FW_ERR_ENGINE', 'the engine command queue is full; the audio thread is not keeping up')
  }
}
