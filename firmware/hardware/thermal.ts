// Board temperatures from the profile's thermal zones: sysfs files in millidegrees on the board,
// a settable value on the simulated board.
import { readFileSync } from 'node:fs'

/** One thermal zone of a board profile (firmware/board/profile.ts validates them). */
export interface ThermalZone {
  name: string
  /** sysfs file in millidegrees (e.g. /sys/class/thermal/thermal_zone0/temp). */
  path: string
  warnC: number
  bypassC: number
  /** Where the reading comes from: set by the profile from the path ("sim" = simulated).
   *  Defaults to sysfs. */
  source?: 'sysfs' | 'simulated'
}

export interface ThermalSensor {
  /** °C per zone name; a zone that cannot be read is left out. */
  read(): Map<string, number>
}

/** A sysfs temperature: whole millidegrees and a newline. Anything else (no file, an empty or
 *  garbage read) is no reading: an empty file must not pass for 0 °C. */
function readMillidegrees(path: string): number | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch {
    return null
  }
  if (!/^-?\d{1,7}$/.test(text)) return null
  return Number(text)
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
      const v = readMillidegrees(z.path)
      if (v === null) this.readErrors++
      else m.set(z.name, v / 1000)
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

/** The sensor for a profile's zones: simulated zones are settable, the rest are read from sysfs.
 *  (firmware/board/drivers.ts chooses by the board's capability; this stays for callers that
 *  hold only the zones.) */
export function thermalFor(zones: readonly ThermalZone[]): ThermalSensor {
  const simulated = (z: ThermalZone) => z.source === 'simulated'
  return zones.every(simulated) ? new SimThermal(zones) : new SysfsThermal(zones.filter((z) => !simulated(z)))
}
