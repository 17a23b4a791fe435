// Board profiles: the data that says what a unit has (audio device, UARTs, thermal zones, watchdog
// device, data directory, API port, array geometry). Validated once at load, with errors that name
// the field, so nothing downstream has to second-guess a profile. What the board has is derived
// here once, as capabilities (board/README.md); firmware/board/drivers.ts maps each to a driver.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type NativeAes67Stream, resolveStreams } from '../engine/aes67-options.ts'
import type { SimLoopOptions } from '../engine/engine.ts'
import { validateGeometry } from '../engine/geometry.ts'
import type { ArrayGeometry, BackendKind, SimSource } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import type { ThermalZone } from '../hardware/thermal.ts'
import { checker, numberIn, record, text } from '../validate.ts'

export type { ThermalZone }

export interface UartConfig {
  /** Device path; "sim" for a PTY pair made by the simulated board, "none" when not fitted. */
  path: string
  /** Defaults to 115200 (8N1). Control systems often use 9600. */
  baudRate: number
  /**
   * Front panel only: the heartbeat timeout the firmware sets on the controller (TIMEOUT), 10..5000 ms.
   * Unset: the appliance's 150 ms (a microcontroller's timer behind a real UART). The sim board
   * sets more: its controller is a Node process behind two socat PTY hops on a shared machine,
   * where a loaded CI run delivered heartbeat gaps past 150 ms.
   */
  heartbeatTimeoutMs?: number
}

export interface BoardProfile {
  name: string
  description: string
  /** Directory the profile was loaded from (board/<name>). */
  dir: string
  audio: {
    /** 'aes67': the engine's inputs and outputs are network streams (docs/aes67.md, "In the board profile"). */
    backend: BackendKind | 'aes67'
    sampleRate: 44100 | 48000 | 96000
    blockSize: number
    inputs: number
    outputs: number
    dryMap: number[]
    /** The simulated stage; `loop`: a feedback loop from an output back into an input (engine option sim.loop). */
    sim?: { noiseDb: number; sources: SimSource[]; loop?: SimLoopOptions }
    alsa?: { capture: string; playback: string }
    aes67?: BoardAes67
  }
  array?: ArrayGeometry
  uarts: { console: UartConfig; panel: UartConfig }
  thermalZones: ThermalZone[]
  watchdogDevice: string
  /** Persistent data (identity, presets, logs); relative paths resolve against the repo root. */
  dataDir: string
  api: { port: number; oscPort: number }
  /** The watchdog's escalation latch (docs/watchdog.md): the `escalateAfterBypasses`-th automatic
   *  bypass within `escalateWindowMs` latches the bypass until a person releases it. From the
   *  profile's optional `watchdog: {"escalateAfterBypasses": 3, "escalateWindowS": 60}`;
   *  defaults 3 and 60 s; 0 bypasses turns the latch off. */
  watchdog: { escalateAfterBypasses: number; escalateWindowMs: number }
  /** What the board has, derived from the sections above; the drivers are chosen by these. */
  capabilities: BoardCapabilities
}

/**
 * What a board has, as firmware/board/drivers.ts reads it to pick the drivers. Derived from the
 * profile's sections: a path "sim" is the simulated board's stand-in, "none" means not fitted.
 */
export interface BoardCapabilities {
  /** The front-panel controller (relay, bypass button, LEDs): on a UART (uarts.panel.path), the
   *  simulated controller on a PTY pair ("sim"), or none ("none": the relay is kept in memory). */
  panel: 'uart' | 'simulated' | 'none'
  /** The serial console: a UART, a PTY pair made for a terminal ("sim"), or none ("none"). */
  console: 'uart' | 'simulated' | 'none'
  /** Thermal zones: sysfs files in millidegrees, settable simulated values ("sim"), or none (an empty list). */
  thermal: 'sysfs' | 'simulated' | 'none'
  /** A kernel watchdog device (watchdogDevice other than "none"). */
  watchdogDevice: boolean
}

/**
 * The AES67 streams of a board whose audio backend is "aes67" (docs/aes67.md, "In the board
 * profile"): checked and defaulted at load as the engine takes them, so a bad stream is refused
 * with the profile field named before anything starts.
 */
export interface BoardAes67 {
  /** Receive streams (engine inputs); streams with the same firstChannel and channels are one input's sources, by priority. */
  rx: NativeAes67Stream[]
  /** Transmit streams (engine outputs). */
  tx: NativeAes67Stream[]
  /** Announce the transmit streams with SAP while the unit runs. Defaults to true. */
  sap: boolean
  /** The SAP port announcements go to and are heard on (group 239.255.255.255). Defaults to 9875 (RFC 2974). */
  sapPort: number
  /** Name in the SDP `s=` line of each transmit stream (the stream's index is added). Defaults to the profile's name. */
  sessionName: string
  /** ptp4l's management socket (its uds_address) read every second for PtpMonitor; '' : no PTP monitoring. Defaults to ''. */
  ptpSocket: string
  /** An input whose playing source has sent nothing for this long is netaudio-input-dead, ms. Defaults to 1000. */
  deadMs: number
  /** Stream slots the engine preallocates per direction (the profile's streams fill the first; `aes67 rx add` / `tx add` the rest), 1..8. Defaults to 8. */
  rxSlots: number
  txSlots: number
}

const AES67_KEYS = ['rx', 'tx', 'sap', 'sapPort', 'sessionName', 'ptpSocket', 'deadMs', 'rxSlots', 'txSlots']

/** Checks the profile's audio.aes67 section; the engine's own stream checks, re-worded for the profile. */
function aes67Section(raw: unknown, inputs: number, outputs: number, name: string): BoardAes67 {
  const o = obj(raw, 'audio.aes67')
  for (const k of Object.keys(o)) if (!AES67_KEYS.includes(k)) fail(`audio.aes67.${k}`, `is not an AES67 setting (known: ${AES67_KEYS.join(', ')})`)
  const streams = (dir: 'rx' | 'tx', limit: number): NativeAes67Stream[] => {
    try {
      return resolveStreams(o[dir] ?? [], dir, limit)
    } catch (e) {
      // "engine option aes67.rx[0].port: ..." -> "board profile audio.aes67.rx[0].port: ..."
      const m = /^engine option ([^:]*): (.*)$/s.exec((e as Error).message)
      if (!m) throw e
      fail(`audio.${m[1]}`, m[2] as string)
    }
  }
  const rx = streams('rx', inputs)
  const tx = streams('tx', outputs)
  if (rx.length + tx.length === 0) fail('audio.aes67', 'lists no stream (give rx and/or tx)')
  if (o.sap !== undefined && typeof o.sap !== 'boolean') fail('audio.aes67.sap', `must be true or false, got ${JSON.stringify(o.sap)}`)
  return {
    rx,
    tx,
    sap: o.sap ?? true,
    sapPort: num(o.sapPort ?? 9875, 'audio.aes67.sapPort', 1, 65535, true),
    sessionName: o.sessionName === undefined ? name : str(o.sessionName, 'audio.aes67.sessionName'),
    ptpSocket: o.ptpSocket === undefined ? '' : str(o.ptpSocket, 'audio.aes67.ptpSocket'),
    deadMs: num(o.deadMs ?? 1000, 'audio.aes67.deadMs', 50, 60_000, true),
    rxSlots: num(o.rxSlots ?? Math.max(8, rx.length), 'audio.aes67.rxSlots', Math.max(1, rx.length), 8, true),
    txSlots: num(o.txSlots ?? Math.max(8, tx.length), 'audio.aes67.txSlots', Math.max(1, tx.length), 8, true),
  }
}

/** The path value that stands for a simulated part, and the one for a part that is not fitted. */
const SIMULATED = 'sim'
const NOT_FITTED = 'none'

function portKind(path: string): 'uart' | 'simulated' | 'none' {
  return path === SIMULATED ? 'simulated' : path === NOT_FITTED ? 'none' : 'uart'
}

/** Defaults for the profile's optional `watchdog` section. */
export const DEFAULT_PROFILE_WATCHDOG = { escalateAfterBypasses: 3, escalateWindowS: 60 }

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const boardRoot = join(repoRoot, 'board')

function fail(where: string, msg: string): never {
  throw new FirmwareError('FW_ERR_BOARD_PROFILE', `board profile ${where}: ${msg}`)
}

const PROFILE = checker('FW_ERR_BOARD_PROFILE', (where, complaint) => `board profile ${where}: ${complaint}`)

function num(v: unknown, where: string, min: number, max: number, integer = false): number {
  return numberIn(PROFILE, v, where, { min, max, integer })
}

function str(v: unknown, where: string): string {
  return text(PROFILE, v, where)
}

function obj(v: unknown, where: string): Record<string, unknown> {
  return record(PROFILE, v, where)
}

/** Validates a parsed profile object. `dir` is where it was found. */
export function validateProfile(raw: unknown, dir: string): BoardProfile {
  const p = obj(raw, '(root)')
  const a = obj(p.audio, 'audio')
  const backend = a.backend
  if (backend !== 'file' && backend !== 'sim' && backend !== 'alsa' && backend !== 'aes67')
    fail('audio.backend', `must be "file", "sim", "alsa" or "aes67", got ${JSON.stringify(backend)}`)
  const sampleRate = a.sampleRate
  if (sampleRate !== 44100 && sampleRate !== 48000 && sampleRate !== 96000)
    fail('audio.sampleRate', `must be 44100, 48000 or 96000, got ${JSON.stringify(sampleRate)}`)
  const blockSize = num(a.blockSize ?? 64, 'audio.blockSize', 32, 1024, true)
  const inputs = num(a.inputs, 'audio.inputs', 1, 64, true)
  const outputs = num(a.outputs, 'audio.outputs', 1, 16, true)
  if (!Array.isArray(a.dryMap) || a.dryMap.length !== outputs) fail('audio.dryMap', `must list one input per output (${outputs})`)
  const dryMap = (a.dryMap as unknown[]).map((v, k) => num(v, `audio.dryMap[${k}]`, 0, inputs - 1, true))
  const array = p.array === undefined ? undefined : validateGeometry(p.array, 'board profile array')
  if (array && array.mics.length > inputs) fail('array.mics', `has ${array.mics.length} mics but audio.inputs is ${inputs}`)
  if (array && array.sampleRate !== sampleRate) fail('array.sampleRate', `${array.sampleRate} differs from audio.sampleRate ${sampleRate}`)
  const uarts = obj(p.uarts, 'uarts')
  const uart = (k: string): UartConfig => {
    const u = obj(uarts[k], `uarts.${k}`)
    const c: UartConfig = { path: str(u.path, `uarts.${k}.path`), baudRate: num(u.baudRate ?? 115200, `uarts.${k}.baudRate`, 1200, 4_000_000, true) }
    if (u.heartbeatTimeoutMs !== undefined) {
      if (k !== 'panel') fail(`uarts.${k}.heartbeatTimeoutMs`, 'belongs to uarts.panel only')
      c.heartbeatTimeoutMs = num(u.heartbeatTimeoutMs, `uarts.${k}.heartbeatTimeoutMs`, 10, 5000, true)
    }
    return c
  }
  // The relay and the bypass button hang off the front-panel controller (docs/architecture.md,
  // "Changes from the first design"): nothing drives a GPIO, so a profile that names one is refused
  // rather than believed.
  if (p.gpio !== undefined)
    fail('gpio', 'is not read: the relay and the bypass button are on the front-panel controller (uarts.panel); remove the section (board/README.md)')
  if (!Array.isArray(p.thermalZones)) fail('thermalZones', 'must be a list')
  const thermalZones = (p.thermalZones as unknown[]).map((z, k): ThermalZone => {
    const o = obj(z, `thermalZones[${k}]`)
    const path = str(o.path, `thermalZones[${k}].path`)
    return {
      name: str(o.name, `thermalZones[${k}].name`),
      path,
      warnC: num(o.warnC, `thermalZones[${k}].warnC`, 0, 150),
      bypassC: num(o.bypassC, `thermalZones[${k}].bypassC`, 0, 150),
      source: path === SIMULATED ? 'simulated' : 'sysfs',
    }
  })
  const simulatedZones = thermalZones.filter((z) => z.source === 'simulated').length
  if (simulatedZones > 0 && simulatedZones < thermalZones.length) fail('thermalZones', 'mixes simulated ("sim") and sysfs zones; a board has one or the other')
  const api = obj(p.api, 'api')
  const audio: BoardProfile['audio'] = { backend, sampleRate, blockSize, inputs, outputs, dryMap }
  if (a.sim !== undefined) audio.sim = a.sim as BoardProfile['audio']['sim']
  if (a.alsa !== undefined) {
    const al = obj(a.alsa, 'audio.alsa')
    audio.alsa = { capture: str(al.capture, 'audio.alsa.capture'), playback: str(al.playback, 'audio.alsa.playback') }
  }
  if (backend === 'alsa' && !audio.alsa) fail('audio.alsa', 'is required when audio.backend is "alsa"')
  if (a.aes67 !== undefined && backend !== 'aes67') fail('audio.aes67', `is only read when audio.backend is "aes67" (it is ${JSON.stringify(backend)})`)
  if (backend === 'aes67') {
    if (a.aes67 === undefined) fail('audio.aes67', 'is required when audio.backend is "aes67" (the streams: rx, tx)')
    audio.aes67 = aes67Section(a.aes67, inputs, outputs, typeof p.name === 'string' ? p.name : 'unit')
  }
  const dataDir = str(p.dataDir, 'dataDir')
  const wd = p.watchdog === undefined ? {} : obj(p.watchdog, 'watchdog')
  for (const k of Object.keys(wd)) {
    if (!(k in DEFAULT_PROFILE_WATCHDOG)) fail(`watchdog.${k}`, `is not a watchdog setting (known: ${Object.keys(DEFAULT_PROFILE_WATCHDOG).join(', ')})`)
  }
  const watchdog = {
    escalateAfterBypasses: num(wd.escalateAfterBypasses ?? DEFAULT_PROFILE_WATCHDOG.escalateAfterBypasses, 'watchdog.escalateAfterBypasses', 0, 100, true),
    escalateWindowMs: 1000 * num(wd.escalateWindowS ?? DEFAULT_PROFILE_WATCHDOG.escalateWindowS, 'watchdog.escalateWindowS', 1, 3600),
  }
  const uartsOut = { console: uart('console'), panel: uart('panel') }
  const watchdogDevice = str(p.watchdogDevice, 'watchdogDevice')
  const capabilities: BoardCapabilities = {
    panel: portKind(uartsOut.panel.path),
    console: portKind(uartsOut.console.path),
    thermal: thermalZones.length === 0 ? 'none' : simulatedZones > 0 ? 'simulated' : 'sysfs',
    watchdogDevice: watchdogDevice !== NOT_FITTED,
  }
  const profile: BoardProfile = {
    name: str(p.name, 'name'),
    description: typeof p.description === 'string' ? p.description : '',
    dir,
    audio,
    uarts: uartsOut,
    thermalZones,
    watchdogDevice,
    dataDir: isAbsolute(dataDir) ? dataDir : resolve(repoRoot, dataDir),
    api: { port: num(api.port, 'api.port', 1, 65535, true), oscPort: num(api.oscPort, 'api.oscPort', 1, 65535, true) },
    watchdog,
    capabilities,
  }
  if (array) profile.array = array
  return profile
}

/** Loads a profile by name (board/<name>/profile.json) or by path to a profile.json. */
export function loadProfile(nameOrPath: string): BoardProfile {
  const file = nameOrPath.endsWith('.json') ? resolve(nameOrPath) : join(boardRoot, nameOrPath, 'profile.json')
  if (!existsSync(file)) {
    throw new FirmwareError('FW_ERR_BOARD_PROFILE', `no board profile "${nameOrPath}" (looked for ${file})`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new FirmwareError('FW_ERR_BOARD_PROFILE', `board profile ${file} is not valid JSON: ${(e as Error).message}`)
  }
  return validateProfile(raw, dirname(file))
}
