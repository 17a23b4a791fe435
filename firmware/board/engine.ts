// The engine a board profile describes: the profile's audio section as engine options.
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
  if (a.sim) base.sim = { sources: a.sim.sources, noiseDb: a.sim.noiseDb }
  if (a.alsa) base.alsa = { capture: a.alsa.capture, playback: a.alsa.playback }
  return { ...base, ...overrides }
}

/** Builds (does not start) the engine a board profile describes. */
export function createEngineFromProfile(profile: BoardProfile, overrides: Partial<EngineOptions> = {}, native?: NativeModule): Engine {
  return new Engine(engineOptionsFromProfile(profile, overrides), native)
}
