// The inference and automation commands, registered into the one command registry by their
// owner: consent, mode, recommendations, accept, reject, approve, undo, rollback, and model
// list|activate|rollback (replacing the registry's "not available" stand-ins declared in
// commands/owned.ts). One module per thing they govern (under commands/), assembled here.
import type { CommandRegistry } from '../commands/registry.ts'
import type { CommandSpec } from '../commands/types.ts'
import { modelsDir } from '../inference/manifest.ts'
import type { InferenceService } from '../inference/service.ts'
import type { RecordingConsent, SnippetStore } from '../inference/snippets.ts'
import { consentCommand } from './commands/consent.ts'
import { decisionCommands } from './commands/decisions.ts'
import { modeCommands } from './commands/mode.ts'
import { modelList, modelSwitching } from './commands/models.ts'
import type { AutomationController } from './controller.ts'

export { installedModels } from './commands/models.ts'

export interface InferenceCommandDeps {
  service: InferenceService
  automation: AutomationController
  /** Directories holding *.manifest.json files. Defaults to the firmware's models/ folder. */
  modelDirs?: string[]
  /** The recording consent setting; with it a `consent` command is registered. */
  consent?: RecordingConsent
  /** Snippets to delete when consent is turned off. */
  snippets?: SnippetStore
}

/** The commands in help order: consent (when the unit has the setting), the automation, the models. */
export function inferenceCommands(deps: InferenceCommandDeps): CommandSpec[] {
  const dirs = deps.modelDirs ?? [modelsDir]
  return [
    ...(deps.consent ? [consentCommand(deps.consent, deps.snippets)] : []),
    ...modeCommands(deps.automation),
    ...decisionCommands(deps.automation),
    modelList(deps.service, dirs),
    ...modelSwitching(deps.service, dirs),
  ]
}

/** Registers the inference and automation commands (replacing their "not available" stand-ins). */
export function registerInferenceCommands(registry: CommandRegistry, deps: InferenceCommandDeps): void {
  for (const c of inferenceCommands(deps)) registry.register(c)
}
