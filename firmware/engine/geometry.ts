// Microphone-array geometry, checked where the engine takes it (options, board profiles, the
// offline tool's --geometry file).
import { FirmwareError } from '../errors.ts'
import type { ArrayGeometry } from './types.ts'

/** Validates an array geometry in the documented format; throws FW_ERR_BAD_GEOMETRY naming the field. */
export function validateGeometry(raw: unknown, where = 'array'): ArrayGeometry {
  const bad = (msg: string): never => {
    throw new FirmwareError('FW_ERR_BAD_GEOMETRY', `${where}: ${msg}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be an object {"sampleRate":..., "mics":[[x,y,z],...]}')
  const g = raw as Record<string, unknown>
  const sr = g.sampleRate
  if (sr !== 44100 && sr !== 48000 && sr !== 96000) bad(`sampleRate must be 44100, 48000 or 96000, got ${JSON.stringify(sr)}`)
  if (!Array.isArray(g.mics) || g.mics.length < 2) bad('mics must list at least 2 microphones as [x,y,z] in metres')
  const mics = g.mics as unknown[]
  if (mics.length > 64) bad(`at most 64 microphones, got ${mics.length}`)
  const out: Array<[number, number, number]> = mics.map((m, k) => {
    if (!Array.isArray(m) || m.length !== 3 || !m.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      bad(`mics[${k}] must be [x,y,z] in metres, got ${JSON.stringify(m)}`)
    }
    const [x, y, z] = m as number[]
    if (Math.hypot(x!, y!, z!) > 10) bad(`mics[${k}] is ${Math.hypot(x!, y!, z!).toFixed(2)} m from the origin; positions are in metres`)
    return [x!, y!, z!]
  })
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const [a, b] = [out[i]!, out[j]!]
      if (Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]) < 1e-4) bad(`mics[${i}] and mics[${j}] are at the same position`)
    }
  }
  return { sampleRate: sr as number, mics: out }
}
