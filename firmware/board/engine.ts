// The engine a board profile describes: the profile's audio section as engine options.
import { type Aes67StreamOptions, type NativeAes67Stream, PTIMES_MS } from '../engine/aes67-options.ts'
import { Engine, type EngineOptions } from '../engine/engine.ts'
import type { NativeModule } from '../engine/native.ts'
import type { BoardProfile } from './profile.ts'

/** Engine options from a board profile, with overrides on top. */
export function engineOptionsFromProfile(profile: BoardProfile, overrides: Partial<EngineOptions> = {}): Partial<EngineOptions> {
  const a = profile.audio
  const base: Partial<EngineOptions> = {
    backend: a.backend,
    sampleRate: a.sampleRate,
    blockSize: a.blockSize,
    inputs: a.inputs,
    outputs: a.outputs,
    dryMap: a.dryMap,
    array: profile.array,
  }
  if (a.sim) base.sim = { sources: a.sim.sources, noiseDb: a.sim.noiseDb, ...(a.sim.loop ? { loop: a.sim.loop } : {}) }
  if (a.alsa) base.alsa = { capture: a.alsa.capture, playback: a.alsa.playback }
  // The profile's streams are already checked and defaulted (NativeAes67Stream); back to the engine's option form.
  if (a.aes67) base.aes67 = { rx: a.aes67.rx.map(streamOption), tx: a.aes67.tx.map(streamOption), rxSlots: a.aes67.rxSlots, txSlots: a.aes67.txSlots }
  return { ...base, ...overrides }
}

function streamOption(s: NativeAes67Stream): Partial<Aes67StreamOptions> {
  const { ptimeUs, linkOffsetUs, ...rest } = s
  const ptimeMs = Number(Object.keys(PTIMES_MS).find((k) => PTIMES_MS[k] === ptimeUs))
  return { ...rest, bits: rest.bits as 16 | 24, ptimeMs, linkOffsetMs: linkOffsetUs / 1000 }
}

/** Builds (does not start) the engine a board profile describes. */
export function createEngineFromProfile(profile: BoardProfile, overrides: Partial<EngineOptions> = {}, native?: NativeModule): Engine {
  return new Engine(engineOptionsFromProfile(profile, overrides), native)
}
