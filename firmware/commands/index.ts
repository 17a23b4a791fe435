// The command registry's public face. Transports call createRegistry(app) once and share it;
// subsystems that own commands (inference: mode/model, store: preset) call registry.register(spec)
// from their own folders, which replaces the built-in "not available yet" placeholder.
import type { ApplianceApi } from '../runtime/types.ts'
import { CommandRegistry, type RegistryOptions } from './registry.ts'
import { registerBuiltins } from './builtin.ts'

export { CommandRegistry, tokenize, usage, parseTokens, parseJson, argsJsonSchema } from './registry.ts'
export type { RegistryOptions } from './registry.ts'
export { builtinCommands, registerBuiltins } from './builtin.ts'
export { formatMachine, formatHuman, flatten, machineScalar } from './format.ts'
export * from './types.ts'

/** A registry with every built-in command registered. */
export function createRegistry(app: ApplianceApi, options: RegistryOptions = {}): CommandRegistry {
  const registry = new CommandRegistry(app, options)
  registerBuiltins(registry)
  return registry
}
