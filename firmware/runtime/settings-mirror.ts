// What the appliance has told the engine, mirrored in JS: beams, input trims, and per output the
// gain, EQ bands and compressor. The engine takes commands one way (its command ring), so status,
// presets and the durable settings read them here. Copies in, copies out: nobody outside holds a
// reference to the mirror.

import type { BeamInfo } from '../contract/appliance.ts'
import type { BandParams, CompressorParams } from '../engine/types.ts'

export interface OutputSettings {
  gainDb: number
  eq: BandParams[]
  compressor: CompressorParams
}

const DEFAULT_BAND: BandParams = { type: 'peak', freqHz: 1000, gainDb: 0, q: 1, enabled: false }
const DEFAULT_COMP: CompressorParams = { thresholdDb: -20, ratio: 2, kneeDb: 6, attackMs: 10, releaseMs: 200, makeupDb: 0, enabled: false }
/** EQ bands per output (addons/src/dsp). */
const EQ_BANDS = 8

/** The engine's layout the mirror starts from (engine.options). */
export interface MirrorLayout {
  inputs: number
  outputs: number
  beams: ReadonlyArray<{ kind: string; azimuth: number; elevation: number; auto: boolean }>
}

function beamKind(kind: string): BeamInfo['kind'] {
  return kind === 'mvdr' ? 'mvdr' : 'das'
}

export class SettingsMirror {
  #beams: BeamInfo[]
  #trims: number[]
  #outputs: OutputSettings[]

  constructor(layout: MirrorLayout) {
    this.#beams = layout.beams.map((b, index) => ({ index, kind: beamKind(b.kind), azimuth: b.azimuth, elevation: b.elevation, auto: b.auto }))
    this.#trims = Array.from({ length: layout.inputs }, () => 0)
    this.#outputs = Array.from({ length: layout.outputs }, () => ({
      gainDb: 0,
      eq: Array.from({ length: EQ_BANDS }, () => ({ ...DEFAULT_BAND })),
      compressor: { ...DEFAULT_COMP },
    }))
  }

  /** The beam after the change, or null for a beam that does not exist. */
  steerBeam(beam: number, azimuth: number, elevation: number): BeamInfo | null {
    const b = this.#beams[beam]
    if (!b) return null
    Object.assign(b, { azimuth, elevation, auto: false })
    return { ...b }
  }

  setBeamAuto(beam: number, auto: boolean): BeamInfo | null {
    const b = this.#beams[beam]
    if (!b) return null
    b.auto = auto
    return { ...b }
  }

  setInputTrim(input: number, db: number): void {
    if (input >= 0 && input < this.#trims.length) this.#trims[input] = db
  }

  setOutputGain(output: number, db: number): void {
    const o = this.#outputs[output]
    if (o) o.gainDb = db
  }

  setEqBand(output: number, band: number, params: BandParams): void {
    const o = this.#outputs[output]
    if (o && band < o.eq.length) o.eq[band] = { ...params }
  }

  setCompressor(output: number, params: CompressorParams): void {
    const o = this.#outputs[output]
    if (o) o.compressor = { ...params }
  }

  beams(): BeamInfo[] {
    return this.#beams.map((b) => ({ ...b }))
  }

  inputTrims(): number[] {
    return [...this.#trims]
  }

  outputs(): OutputSettings[] {
    return this.#outputs.map((o) => ({ gainDb: o.gainDb, eq: o.eq.map((b) => ({ ...b })), compressor: { ...o.compressor } }))
  }
}
