// The serial console's public face: startConsole(app, profile, opts) -> {path, stop(), ...}.
export { startConsole, SerialConsole } from './console.ts'
export type { ConsoleHandle, ConsoleOptions, ConsoleStats, ConsoleMode, ConsolePort, OpenPort } from './console.ts'
export { registerSessionCommands, SESSION_COMMANDS } from './session.ts'
export type { ConsoleSession } from './session.ts'
export { LineEditor } from './line-editor.ts'
export type { EditorAction, LineEditorOptions } from './line-editor.ts'

import type { ApplianceApi } from '../contract/appliance.ts'
import { startConsole, type ConsoleHandle, type ConsoleOptions } from './console.ts'

/** The console as a runtime service: startAppliance(board, { services: [consoleService()] }). */
export function consoleService(opts: ConsoleOptions = {}): (app: ApplianceApi) => Promise<ConsoleHandle> {
  return (app) => startConsole(app, app.profile, opts)
}
