// The serial console's public face: startConsole(app, profile, opts) -> {path, stop(), ...}.

export type { ConsoleHandle, ConsoleMode, ConsoleOptions, ConsolePort, ConsoleStats, OpenPort } from './console.ts'
export { SerialConsole, startConsole } from './console.ts'
export type { EditorAction, LineEditorOptions } from './line-editor.ts'
export { LineEditor } from './line-editor.ts'
export type { ConsoleSession } from './session.ts'
export { registerSessionCommands, SESSION_COMMANDS } from './session.ts'

import type { ApplianceApi } from '../contract/appliance.ts'
import { type ConsoleHandle, type ConsoleOptions, startConsole } from './console.ts'

/** The console as a runtime service: startAppliance(board, { services: [consoleService()] }). */
export function consoleService(opts: ConsoleOptions = {}): (app: ApplianceApi) => Promise<ConsoleHandle> {
  return (app) => startConsole(app, app.profile, opts)
}
