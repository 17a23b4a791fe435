// The command registry's public face. The composition root (firmware/runtime/services.ts) calls
// createRegistry(app) once, hands it to every transport, and has each owner register its commands
// (inference: mode/model, store: preset, ...), which replaces the declared "not available" stand-in
// (owned.ts).
import type { ApplianceApi } from '../contract/appliance.ts'
import { registerBuiltins } from './builtin.ts'
import { OWNED_COMMANDS } from './owned.ts'
import { CommandRegistry, type RegistryOptions } from './registry.ts'

export { builtinCommands, registerBuiltins } from './builtin.ts'
export { flatten, formatHuman, formatMachine, machineScalar } from './format.ts'
export { OWNED_COMMANDS } from './owned.ts'
export type { RegistryOptions } from './registry.ts'
export { argsJsonSchema, CommandRegistry, parseJson, parseTokens, tokenize, usage } from './registry.ts'
export * from './types.ts'

/** THE way to get a registry: every built-in command registered, and every owned one declared
 * (answering FW_ERR_NOT_AVAILABLE until its owner registers it). */
export function createRegistry(app: ApplianceApi, options: RegistryOptions = {}): CommandRegistry {
  const registry = new CommandRegistry(app, options)
  registerBuiltins(registry)
  registry.declareOwned(OWNED_COMMANDS)
  return registry
}
