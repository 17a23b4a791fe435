// The serial console's session commands (mode, event subscriptions, login, history) as command
// specs: they act on the caller's console session, not on the appliance, so they are scoped to the
// console transport (the API and OSC do not have them) and `help` lists them from these specs like
// every other command. The composition root registers them (registerSessionCommands); a console
// started on its own registers them in the registry it was given.

import type { CommandRegistry } from '../commands/registry.ts'
import type { CommandContext, CommandSpec } from '../commands/types.ts'
import { FirmwareError } from '../errors.ts'

/** What the session commands call on the console they were typed on (SerialConsole implements it). */
export interface ConsoleSession {
  readonly isConsoleSession: true
  /** `console [human|machine]`: switches (or shows) the mode. */
  switchMode(tokens: readonly string[]): { mode: string }
  subscribe(tokens: readonly string[]): Record<string, string | number | boolean>
  unsubscribe(tokens: readonly string[]): Record<string, string | number | boolean>
  /** `login <PIN>`; in human mode without the PIN it asks for it (masked) and replies later. */
  login(tokens: readonly string[]): Promise<{ permission: string; note?: string }>
  logout(): { permission: string }
  history(): string[]
}

function session(ctx: CommandContext): ConsoleSession {
  const s = ctx.session as Partial<ConsoleSession> | undefined
  if (!s?.isConsoleSession) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `${ctx.principal.transport}: this command belongs to a console session`)
  return s as ConsoleSession
}

const CONSOLE = ['console'] as const
const common = { permission: 'observe', mutates: false, transports: CONSOLE, ownParsing: true } as const

/** The session commands, in the order help names them. */
// biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
export const SESSION_COMMANDS: readonly CommandSpec<any>[] = [
  {
    name: 'console',
    summary: 'switch the console to human or machine mode, or show the mode',
    usage: 'console human|machine',
    examples: ['console machine', 'console'],
    args: [{ name: 'mode', type: 'enum', values: ['human', 'machine'], optional: true, help: 'human or machine; omit to show the mode' }],
    ...common,
    handler: (_a, ctx) => session(ctx).switchMode(ctx.tokens ?? []),
  },
  {
    name: 'subscribe',
    summary: 'start event lines: state, meters[=HZ], doa, panel, recommendations, changes, all (none given: state, panel, changes)',
    examples: ['subscribe', 'subscribe state meters=2'],
    args: [],
    ...common,
    handler: (_a, ctx) => session(ctx).subscribe(ctx.tokens ?? []),
  },
  {
    name: 'unsubscribe',
    summary: 'stop event lines: the topics given, or all',
    examples: ['unsubscribe meters', 'unsubscribe'],
    args: [],
    ...common,
    handler: (_a, ctx) => session(ctx).unsubscribe(ctx.tokens ?? []),
  },
  {
    name: 'login',
    summary: 'admin rights when a console PIN is set (human mode: login, then the PIN, masked)',
    examples: ['login 123456'],
    args: [{ name: 'PIN', type: 'string', help: 'the console PIN set at provisioning' }],
    ...common,
    handler: (_a, ctx) => session(ctx).login(ctx.tokens ?? []),
  },
  {
    name: 'logout',
    summary: 'back to observe rights',
    examples: ['logout'],
    args: [],
    ...common,
    handler: (_a, ctx) => session(ctx).logout(),
  },
  {
    name: 'history',
    summary: 'the last lines typed on this console',
    examples: ['history'],
    args: [],
    ...common,
    handler: (_a, ctx) => session(ctx).history(),
  },
]

export const SESSION_COMMAND_NAMES: ReadonlySet<string> = new Set(SESSION_COMMANDS.map((s) => s.name))

/** Registers the session commands on `registry` once (the same specs again are left as they are;
 * another command of one of these names is refused as a duplicate). */
export function registerSessionCommands(registry: CommandRegistry): void {
  for (const spec of SESSION_COMMANDS) if (registry.get(spec.name) !== spec) registry.register(spec)
}
