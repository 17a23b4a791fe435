// What the built-in commands share: the argument specs numbered from 1 as on the rear panel, the
// readers of parsed arguments, the formats and the refusal they share.
import type { ApplianceApi } from '../../contract/appliance.ts'
import { FirmwareError } from '../../errors.ts'
import type { ArgSpec, ParsedArgs } from '../types.ts'

export const outputs = (app: ApplianceApi): number => app.profile.audio.outputs
export const inputs = (app: ApplianceApi): number => app.profile.audio.inputs
const beamCount = (app: ApplianceApi): number => Math.max(1, app.beams().length)
export const bandCount = (app: ApplianceApi): number => Math.max(1, app.outputSettings()[0]?.eq.length ?? 0)

export const outputArg: ArgSpec = { name: 'output', type: 'int', min: 1, max: outputs, help: 'output number, from 1' }
export const beamArg: ArgSpec = { name: 'beam', type: 'int', min: 1, max: beamCount, help: 'beam number, from 1' }
export const countArg = (def: number, max: number, what: string): ArgSpec => ({
  name: 'count',
  type: 'int',
  min: 1,
  max,
  optional: true,
  default: def,
  help: `how many ${what} (default ${def})`,
})

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

export function num(args: ParsedArgs, k: string): number {
  return args[k] as number
}

export function notAvailable(what: string, owner: string): never {
  throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `${what} is not available yet: ${owner} is not running on this unit`)
}
