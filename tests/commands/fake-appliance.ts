// A small in-memory ApplianceApi double for registry and console tests. It records every call so
// tests can check that a refused command changed nothing.
import { loadProfile } from '../../firmware/board/profile.ts'
import type {
  ApplianceApi,
  ApplianceEvent,
  ApplianceStatus,
  BeamInfo,
  LogLine,
  TransitionRecord,
  WatchdogStateName,
} from '../../firmware/contract/appliance.ts'
import type { BandParams, CompressorParams, Meters } from '../../firmware/engine/types.ts'

export class FakeAppliance implements ApplianceApi {
  readonly profile = loadProfile('sim')
  readonly calls: string[] = []
  state: WatchdogStateName = 'ACTIVE'
  transitions: TransitionRecord[] = []
  beamList: BeamInfo[]
  outputs: Array<{ gainDb: number; eq: BandParams[]; compressor: CompressorParams }>
  trims: number[]
  listeners = new Set<(ev: ApplianceEvent) => void>()
  rebooted: string[] = []
  resets: string[] = []
  reboot?: (who: string) => Promise<void>
  factoryReset?: (who: string) => Promise<void>

  constructor(opts: { hooks?: boolean } = {}) {
    this.beamList = [0, 1, 2, 3].map((i) => ({ index: i, kind: 'das' as const, azimuth: i * 90, elevation: 0, auto: i === 0 }))
    this.outputs = Array.from({ length: this.profile.audio.outputs }, () => ({
      gainDb: 0,
      eq: Array.from({ length: 4 }, () => ({ type: 'peak' as const, freqHz: 1000, gainDb: 0, q: 1, enabled: false })),
      compressor: { thresholdDb: -20, ratio: 2, kneeDb: 6, attackMs: 10, releaseMs: 100, makeupDb: 0, enabled: false },
    }))
    this.trims = new Array(this.profile.audio.inputs).fill(0)
    if (opts.hooks) {
      this.reboot = async (who) => {
        this.rebooted.push(who)
      }
      this.factoryReset = async (who) => {
        this.resets.push(who)
      }
    }
  }

  status(): ApplianceStatus {
    return {
      board: 'sim',
      firmwareVersion: '0.1.0-test',
      state: this.state,
      cause: 'test',
      since: 0,
      uptimeS: 12,
      relay: this.state === 'ACTIVE' ? 'processed' : 'bypass',
      panelVersion: 'fp-sim 1.0',
      automationMode: 'advisory',
      engine: {
        blocks: 1000,
        xruns: 0,
        overruns: 0,
        droppedCommands: 0,
        droppedEvents: 0,
        processed: this.state === 'ACTIVE',
        blockTimeUs: { last: 50, p50: 50, p99: 90, max: 120 },
        blockPeriodUs: 1333,
      },
    }
  }
  setManualBypass(on: boolean, who: string): void {
    this.calls.push(`bypass ${on} ${who}`)
    const from = this.state
    this.state = on ? 'MANUAL_BYPASS' : 'ACTIVE'
    const record = { at: Date.now(), from, to: this.state, cause: on ? ('manual' as const) : ('manual-release' as const), evidence: `by ${who}` }
    this.transitions.push(record)
    this.emit({ type: 'transition', record })
  }
  faults(limit = 10): TransitionRecord[] {
    return this.transitions.slice(-limit)
  }
  meters(): Meters | null {
    const n = this.profile.audio.inputs,
      m = this.profile.audio.outputs
    return {
      inputPeakDb: new Array(n).fill(-20),
      inputRmsDb: new Array(n).fill(-26),
      outputPeakDb: new Array(m).fill(-18),
      outputRmsDb: new Array(m).fill(-24),
      gainReductionDb: new Array(m).fill(0),
    }
  }
  doa() {
    return { t: 1, azimuth: 60, elevation: 0, confidence: 0.9 }
  }
  beams(): BeamInfo[] {
    return this.beamList.map((b) => ({ ...b }))
  }
  steerBeam(beam: number, azimuth: number, elevation: number): void {
    this.calls.push(`steer ${beam} ${azimuth} ${elevation}`)
    const b = this.beamList[beam]!
    b.azimuth = azimuth
    b.elevation = elevation
    b.auto = false
  }
  setBeamAuto(beam: number, auto: boolean): void {
    this.calls.push(`auto ${beam} ${auto}`)
    this.beamList[beam]!.auto = auto
  }
  setInputTrim(input: number, db: number): void {
    this.calls.push(`trim ${input} ${db}`)
    this.trims[input] = db
  }
  setOutputGain(output: number, db: number): void {
    this.calls.push(`gain ${output} ${db}`)
    this.outputs[output]!.gainDb = db
  }
  setEqBand(output: number, band: number, p: BandParams): void {
    this.calls.push(`eq ${output} ${band}`)
    this.outputs[output]!.eq[band] = { ...p }
  }
  setCompressor(output: number, p: CompressorParams): void {
    this.calls.push(`comp ${output}`)
    this.outputs[output]!.compressor = { ...p }
  }
  inputTrims(): number[] {
    return Array.from({ length: this.profile.audio.inputs }, (_, k) => this.trims[k] ?? 0)
  }
  outputSettings() {
    return this.outputs.map((o) => ({ gainDb: o.gainDb, eq: o.eq.map((b) => ({ ...b })), compressor: { ...o.compressor } }))
  }
  logTail(n: number): LogLine[] {
    return [{ at: 0, level: 'info' as const, source: 'test', message: 'hello "world"' }].slice(-n)
  }
  subscribe(listener: (ev: ApplianceEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  emit(ev: ApplianceEvent): void {
    for (const l of this.listeners) l(ev)
  }
}
