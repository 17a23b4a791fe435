// The command registry's public face. Transports call createRegistry(app) once and share it;
// subsystems that own commands (inference: mode/model, store: preset) call registry.register(spec)
// from their own folders, which replaces the built-in "not available yet" placeholder.
import type { ApplianceApi } from '../contract/appliance.ts'
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

const perAppliance = new WeakMap<ApplianceApi, CommandRegistry>()

/**
 * THE registry of an appliance: created with the built-ins on first use, then the same object for
 * every caller. Transports (console, API, OSC) and the subsystems that register commands (store,
 * inference) can all use this instead of passing one registry around, and still share one.
 */
export function registryFor(app: ApplianceApi): CommandRegistry {
  let r = perAppliance.get(app)
  if (!r) {
    r = createRegistry(app)
    perAppliance.set(app, r)
  }
  return r
}
