// Board temperatures from the profile's thermal zones: sysfs files in millidegrees on the board,
// a settable value on the simulated board.
import { readFileSync } from 'node:fs'
import type { ThermalZone } from '../board/profile.ts'

export interface ThermalSensor {
  /** °C per zone name; a zone that cannot be read is left out. */
  read(): Map<string, number>
}

/** Reads sysfs zones, at most every `intervalMs` (default 500 ms); in between it returns the last reading. */
export class SysfsThermal implements ThermalSensor {
  readonly zones: readonly ThermalZone[]
  readonly intervalMs: number
  #last = new Map<string, number>()
  #at = -Infinity
  readErrors = 0
  constructor(zones: readonly ThermalZone[], intervalMs = 500) {
    this.zones = zones
    this.intervalMs = intervalMs
  }
  read(now = Date.now()): Map<string, number> {
    if (now - this.#at < this.intervalMs) return this.#last
    this.#at = now
    const m = new Map<string, number>()
    for (const z of this.zones) {
      try {
        const v = Number(readFileSync(z.path, 'utf8').trim())
        if (Number.isFinite(v)) m.set(z.name, v / 1000)
      } catch {
        this.readErrors++
      }
    }
    this.#last = m
    return m
  }
}

/** The simulated board's zones: 45 °C until a test (or `firmware run`) sets them. */
export class SimThermal implements ThermalSensor {
  #c = new Map<string, number>()
  constructor(zones: readonly ThermalZone[], initialC = 45) {
    for (const z of zones) this.#c.set(z.name, initialC)
  }
  set(zone: string, c: number): void {
    this.#c.set(zone, c)
  }
  read(): Map<string, number> {
    return this.#c
  }
}

/** The sensor for a profile: sim zones (path "sim") are settable, the rest are read from sysfs. */
export function thermalFor(zones: readonly ThermalZone[]): ThermalSensor {
  return zones.every((z) => z.path === 'sim') ? new SimThermal(zones) : new SysfsThermal(zones.filter((z) => z.path !== 'sim'))
}
