// `firmware process` options: parsed and checked here, so the engine only ever sees a clean,
// defaulted object. Every refusal is one line with a code (FW_ERR_USAGE for the shape of the
// command line, FW_ERR_BAD_OPTION for a value out of range).

import type { BeamformerKind } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { WAV_FORMATS, type WavFormat } from '../wav/wav.ts'
import { MAX_SHIFT_HZ } from './feedback-loop.ts'

export interface ProcessOptions {
  /** Array geometry JSON ({"sampleRate","mics"}) or a board profile.json with an "array". Without it the inputs are line feeds. */
  array?: string
  /** Input recording: channel k is mic k of the array. The first --in when several are given. */
  in: string
  /**
   * Every --in in order: one WAV; a folder of WAVs (the channels, in file-name order); a map
   * JSON {"channels": [...]}; or several WAVs, the channels in order (with `join`, the
   * consecutive parts of one recording instead). Resolved by resolveInput in process.ts.
   */
  inputs: string[]
  /** The --in files (or the folder's files) are consecutive parts of one recording, not channels. */
  join: boolean
  /** Output WAV: the beams (beam 0 first), or the processed line feeds without --array. */
  out: string
  /** Report JSON: DOA track, meters, engine figures (and the analysers' sections). */
  report: string
  /** Fixed steering of beam 0 in degrees. Without it beam 0 follows the DOA. */
  steer?: { azimuth: number; elevation: number }
  /** Defaults to 'das'. */
  beamformer: BeamformerKind
  /** Frames per block, 32 to 1024. Defaults to 64. */
  block: number
  /** Number of beams written, 1 to 16. Defaults to 4. */
  beams: number
  /** Sample format of the output. Defaults to 'float32' (beams can exceed full scale). */
  format: WavFormat
  /** Run the analysers (classes, VAD, EQ recommendations) into the report. Defaults to true. */
  analysis: boolean
  /** Process only from this many seconds into the recording (show time). */
  from?: number
  /** ...up to this many seconds into the recording (show time). */
  to?: number
  /** Seconds between machine-readable progress lines when stderr is not a terminal. Defaults to 1; 0: none. */
  progressEvery: number
  /**
   * --loop-gain: run the input (the programme at the microphone, mixed to mono, 48 kHz) through the
   * simulated acoustic loop instead of the engine (firmware/process/feedback-loop.ts); --room
   * names the room (default club); --suppress places notches at detected howls; --shift-hz shifts
   * the loudspeaker feed up by that many Hz (0 to 20, default 0: off); --afc puts the adaptive
   * feedback canceller on the microphone (AFC_DEFAULTS).
   */
  loop?: { gainDb: number; room: string; suppress: boolean; shiftHz: number; afc?: boolean }
  /** --stems DIR: one WAV per tracked source (track-<id>.wav) and residual.wav there; the tracks in the report. */
  stems?: string
}

export const processUsage = `usage: firmware process --in IN.wav --out OUT.wav --report REPORT.json [options]

  --array FILE          array geometry JSON {"sampleRate":48000,"mics":[[x,y,z],...]} (metres),
                        a board profile.json with an "array", or a board name (sim,
                        jetson-agx-rack); channel k of IN.wav is mic k.
                        Without it the channels are line feeds: no beams, no DOA.
  --in IN.wav           the recording (16/24/32-bit PCM or 32-bit float WAV, RIFF or RF64);
                        a folder of WAVs, one per channel in file-name order; a map JSON
                        {"channels":["mic1.wav",["mic2-a.wav","mic2-b.wav"],...]}; or --in
                        given several times: the channels in order
  --join                the --in files (or the folder's files) are consecutive parts of one
                        recording split by the recorder, joined without a gap
  --out OUT.wav         the beam outputs, beam 0 first (line feeds without --array)
  --report REPORT.json  DOA track, meters and engine figures
  --steer AZ[,EL]       point beam 0 at azimuth AZ, elevation EL degrees (default: follow the DOA)
  --beamformer das|mvdr delay-and-sum (default) or MVDR
  --beams N             beams to write, 1 to 16 (default 4; beam k>0 at AZ + k*360/N)
  --block N             frames per block, 32 to 1024 (default 64)
  --format F            output sample format: float32 (default), pcm16, pcm24, pcm32
  --no-analysis         skip the classifiers, VAD and EQ recommender (their report sections stay empty)
  --from T, --to T      process only this part of the show; T in seconds, M:SS or H:MM:SS(.s);
                        times in the report stay show time
  --progress-every S    seconds between progress lines on stderr when it is not a terminal
                        (JSON: "progress {...}"); 0 for none (default 1; a terminal gets a bar)
  --loop-gain DB        instead of the engine: put IN.wav (the programme at the microphone) through
                        a simulated acoustic loop, mic -> gain -> loudspeaker -> room -> mic, at DB
                        over the point where it starts to howl (-40 to 20); OUT.wav is the
                        loudspeaker feed, the report lists the feedback alarms (docs/feedback.md)
  --room R              the loop's room: small, club (default), hall, studio, or LxWxH:absorption
  --suppress            with --loop-gain: place notches at detected howls (the auto mode)
  --shift-hz HZ         with --loop-gain: shift the loudspeaker feed up by HZ (0 to 20; default 0,
                        off), a frequency shifter after the notches (docs/feedback.md)
  --afc                 with --loop-gain: an adaptive feedback canceller (PEM prewhitened) takes
                        its estimate of the feedback off the microphone, before the notches
  --stems DIR           with --array: localise and track up to 4 sources, write one WAV per track
                        (DIR/track-<id>.wav, a beam + post-filter) and DIR/residual.wav; the
                        tracks go in the report (docs/mixes.md)`

const valued = new Set([
  '--array',
  '--in',
  '--out',
  '--report',
  '--steer',
  '--beamformer',
  '--block',
  '--beams',
  '--format',
  '--from',
  '--to',
  '--progress-every',
  '--loop-gain',
  '--room',
  '--shift-hz',
  '--stems',
])
const flags = new Set(['--no-analysis', '--join', '--suppress', '--afc'])
/** Options that may be given more than once. */
const repeatable = new Set(['--in'])

function usage(msg: string): never {
  throw new FirmwareError('FW_ERR_USAGE', `process: ${msg}; try "firmware process --help"`)
}

function bad(msg: string): never {
  throw new FirmwareError('FW_ERR_BAD_OPTION', `process: ${msg}`)
}

function parseDegrees(text: string, what: string): number {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) bad(`${what} must be a number of degrees, got "${text}"`)
  return Number(text)
}

function parseIntOption(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) bad(`${name} must be a whole number from ${min} to ${max}, got "${text}"`)
  const v = Number(text)
  if (v < min || v > max) bad(`${name} must be from ${min} to ${max}, got ${v}`)
  return v
}

/** Show time: seconds, M:SS or H:MM:SS, with an optional fraction ("90", "1:30", "1:02:03.5"). */
export function parseShowTime(text: string, name: string): number {
  const m = /^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)$/.exec(text.trim())
  if (!m) bad(`${name} must be a time in seconds, M:SS or H:MM:SS, got "${text}"`)
  const [h, mi] = m[2] === undefined ? [0, Number(m[1] ?? 0)] : [Number(m[1]), Number(m[2])]
  const sec = Number(m[3])
  if ((m[1] !== undefined && sec >= 60) || (m[2] !== undefined && mi >= 60)) bad(`${name} must be a time in seconds, M:SS or H:MM:SS, got "${text}"`)
  return h * 3600 + mi * 60 + sec
}

/** Show time as H:MM:SS.s (or M:SS.s under an hour), for messages and the progress bar. */
export function formatShowTime(seconds: number): string {
  const t = Math.max(0, seconds)
  const h = Math.floor(t / 3600)
  const m = Math.floor((t % 3600) / 60)
  const s = (t % 60).toFixed(1).padStart(4, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/** Returns null when help was asked for. */
export function parseProcessArgs(argv: string[]): ProcessOptions | null {
  const seen = new Map<string, string>()
  const inputs: string[] = []
  const set = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return null
    if (flags.has(arg)) {
      if (set.has(arg)) usage(`${arg} is given twice`)
      set.add(arg)
      continue
    }
    let name = arg
    let value: string | undefined
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq)
      value = arg.slice(eq + 1)
    }
    if (!valued.has(name)) {
      if (arg.startsWith('-')) usage(`unknown option "${name}"`)
      usage(`unexpected argument "${arg}" (options are given as --name value)`)
    }
    if (value === undefined) {
      value = argv[++i]
      if (value === undefined || (value.startsWith('--') && valued.has(value))) usage(`${name} needs a value`)
    }
    if (seen.has(name) && !repeatable.has(name)) usage(`${name} is given twice`)
    if (name === '--in') {
      if (value === '') usage('--in needs a file')
      inputs.push(value)
    }
    if (!seen.has(name)) seen.set(name, value)
  }
  const need = (n: string): string => {
    const v = seen.get(n)
    if (v === undefined || v === '') usage(`${n} is required`)
    return v
  }
  const opts: ProcessOptions = {
    in: need('--in'),
    inputs,
    join: set.has('--join'),
    out: need('--out'),
    report: need('--report'),
    beamformer: 'das',
    block: 64,
    beams: 4,
    format: 'float32',
    analysis: !set.has('--no-analysis'),
    progressEvery: 1,
  }
  const from = seen.get('--from')
  if (from !== undefined) opts.from = parseShowTime(from, '--from')
  const to = seen.get('--to')
  if (to !== undefined) opts.to = parseShowTime(to, '--to')
  if (opts.from !== undefined && opts.to !== undefined && opts.to <= opts.from) bad(`--to ${to} must come after --from ${from}`)
  const every = seen.get('--progress-every')
  if (every !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(every) || Number(every) > 3600) bad(`--progress-every must be seconds from 0 to 3600, got "${every}"`)
    opts.progressEvery = Number(every)
  }
  const array = seen.get('--array')
  if (array !== undefined) {
    if (array === '') usage('--array needs a file')
    opts.array = array
  }
  const steer = seen.get('--steer')
  if (steer !== undefined) {
    const parts = steer.split(',')
    if (parts.length > 2) bad(`--steer takes AZ or AZ,EL in degrees, got "${steer}"`)
    const azimuth = parseDegrees(parts[0]!, '--steer azimuth')
    const elevation = parts[1] === undefined ? 0 : parseDegrees(parts[1], '--steer elevation')
    if (elevation < -90 || elevation > 90) bad(`--steer elevation must be from -90 to 90 degrees, got ${elevation}`)
    // Azimuths wrap: -90 and 270 are the same direction.
    opts.steer = { azimuth: ((azimuth % 360) + 360) % 360, elevation }
  }
  const bf = seen.get('--beamformer')
  if (bf !== undefined) {
    if (bf !== 'das' && bf !== 'mvdr') bad(`--beamformer must be das or mvdr, got "${bf}"`)
    opts.beamformer = bf
  }
  const block = seen.get('--block')
  if (block !== undefined) opts.block = parseIntOption(block, '--block', 32, 1024)
  const beams = seen.get('--beams')
  if (beams !== undefined) opts.beams = parseIntOption(beams, '--beams', 1, 16)
  const format = seen.get('--format')
  if (format !== undefined) {
    if (!(WAV_FORMATS as readonly string[]).includes(format)) bad(`--format must be one of ${WAV_FORMATS.join(', ')}, got "${format}"`)
    opts.format = format as WavFormat
  }
  const loopGain = seen.get('--loop-gain')
  if (loopGain !== undefined) {
    if (!/^[+-]?\d+(\.\d+)?$/.test(loopGain) || Math.abs(Number(loopGain)) > 40 || Number(loopGain) > 20) {
      throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `process: --loop-gain must be dB from -40 to 20, got "${loopGain}"`)
    }
    for (const n of ['--array', '--steer', '--beamformer', '--beams', '--from', '--to', '--stems']) if (seen.has(n)) usage(`${n} does not go with --loop-gain`)
    const shift = seen.get('--shift-hz') ?? '0'
    if (!/^\d+(\.\d+)?$/.test(shift) || Number(shift) > MAX_SHIFT_HZ) {
      throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `process: --shift-hz must be Hz from 0 to ${MAX_SHIFT_HZ}, got "${shift}"`)
    }
    opts.loop = { gainDb: Number(loopGain), room: seen.get('--room') ?? 'club', suppress: set.has('--suppress'), shiftHz: Number(shift), afc: set.has('--afc') }
  } else {
    for (const n of ['--room', '--suppress', '--shift-hz', '--afc']) if (seen.has(n) || set.has(n)) usage(`${n} needs --loop-gain`)
  }
  const stems = seen.get('--stems')
  if (stems !== undefined) opts.stems = stems
  if (!opts.array) {
    for (const n of ['--steer', '--beamformer', '--beams']) {
      if (seen.has(n)) usage(`${n} needs --array (without an array the inputs are line feeds, with no beams)`)
    }
  }
  return opts
}
