// The appliance's own commands, written once over ApplianceApi, one module per thing they govern
// (under builtin/), assembled here in help order. Channels, beams and bands are numbered from 1,
// as printed on the rear panel and in every transport. Commands another part owns (presets: the
// store; mode and models: inference; ...) are defined there and declared in owned.ts.
import { beamAuto, beamList, beamSteer } from './builtin/beams.ts'
import { bypass } from './builtin/bypass.ts'
import { help } from './builtin/help.ts'
import { inputShow, trim } from './builtin/inputs.ts'
import { factoryReset, reboot } from './builtin/lifecycle.ts'
import { meters } from './builtin/meters.ts'
import { comp, eq, gain, outputShow } from './builtin/outputs.ts'
import { faults, logTail } from './builtin/records.ts'
import { automationShow, netShow, status, updateStatus, version } from './builtin/status.ts'
import type { CommandRegistry } from './registry.ts'
import type { CommandSpec } from './types.ts'

export { addStatusFields } from './builtin/status.ts'

/** The built-in command specs, in help order. */
const BUILTIN_COMMANDS: readonly CommandSpec[] = [
  help,
  status,
  version,
  updateStatus,
  bypass,
  automationShow,
  beamList,
  beamSteer,
  beamAuto,
  gain,
  trim,
  eq,
  comp,
  outputShow,
  inputShow,
  faults,
  logTail,
  meters,
  netShow,
  reboot,
  factoryReset,
]

/** The built-in command specs, in help order (a fresh list: callers may add to it). */
// biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
export function builtinCommands(): CommandSpec<any>[] {
  return [...BUILTIN_COMMANDS]
}

/** Registers every built-in command on `registry`. */
export function registerBuiltins(registry: CommandRegistry): void {
  for (const c of builtinCommands()) registry.register(c)
}
