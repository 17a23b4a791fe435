// The command registry's contract. Every transport (serial console, HTTPS API, OSC) parses its own
// framing and then calls CommandRegistry.execute(name, args, principal); the commands themselves
// are written once, over ApplianceApi, in this folder or (for inference, the store) registered
// from their owners' folders with registry.register(spec).

import type { ApplianceApi } from '../contract/appliance.ts'
import type { ErrorCode } from '../errors.ts'

/** Who may do what: observe (read-only) < operate (change the sound) < admin (reboot, reset, models). */
export type Permission = 'observe' | 'operate' | 'admin'

export const PERMISSION_RANK: Readonly<Record<Permission, number>> = { observe: 0, operate: 1, admin: 2 }

/** The caller of a command, as its transport authenticated it. */
export interface Principal {
  /** Stable name used for audit and confirm tokens, e.g. "console:/dev/ttyTHS0", "api:CN=fohtech". */
  name: string
  permission: Permission
  /** Transport name: "console", "api", "osc", "panel", "test"... */
  transport: string
}

export type ArgType = 'int' | 'number' | 'bool' | 'enum' | 'string'

/** A bound that may depend on the unit (e.g. the number of outputs comes from the board profile). */
export type Bound = number | ((app: ApplianceApi) => number)

/** One typed, range-checked argument. Console tokens are positional or key=value; JSON uses the key. */
export interface ArgSpec {
  name: string
  type: ArgType
  /** One line for help: what it is, with its unit. */
  help: string
  /** Inclusive lower bound (int, number). */
  min?: Bound
  /** Inclusive upper bound (int, number). */
  max?: Bound
  /** Allowed values (enum). */
  values?: readonly string[]
  /** Strings: longest accepted length. Defaults to 64. */
  maxLength?: number
  /** Strings: allowed characters. Defaults to letters, digits, "-", "_" and ".". */
  pattern?: RegExp
  /** Strings: what `pattern` and `maxLength` allow, in words ("up to 32 letters, digits, ..."); the FW_ERR_BAD_ARG message states it ("a name of <rule>")
   *  (build both with nameArg() in name-rule.ts so they cannot differ). */
  rule?: string
  /** Missing is allowed; the handler sees `default` (or undefined). */
  optional?: boolean
  default?: string | number | boolean
  unit?: string
}

/** Arguments after validation: ints/numbers are numbers, bools are booleans, enums/strings strings. */
export type ParsedArgs = Record<string, string | number | boolean | undefined>

export interface CommandContext {
  app: ApplianceApi
  principal: Principal
  /** The registry, for commands such as help that describe the others. */
  registry: CommandRegistryLike
  /** The argument tokens as typed (console lines), for a spec with `ownParsing`; null for JSON. */
  tokens: readonly string[] | null
  /** The caller's session, as its transport handed it to execute (the console: its SerialConsole). */
  session?: unknown
}

export interface CommandSpec<V = unknown> {
  /** Space-separated words, e.g. "beam steer". The first word groups subcommands in help. */
  name: string
  /** One line for the command list. */
  summary: string
  /** Longer help, optional. */
  details?: string
  /** At least one full example line, as typed on the console. */
  examples: readonly string[]
  permission: Permission
  /** Needs a one-time confirm token (factory-reset, reboot, model rollback). */
  destructive?: boolean
  /** Changes state: audited by the API; OSC refuses destructive ones. Defaults to permission !== 'observe'. */
  mutates?: boolean
  args: readonly ArgSpec[]
  handler: (args: ParsedArgs, ctx: CommandContext) => V | Promise<V>
  /** Human-readable rendering (console human mode). Defaults to an indented key: value listing. */
  human?: (value: V) => string
  /** Set by the registry on the stand-in of a declared command whose owner is not running (the
   *  owner's name, from OWNED_COMMANDS); it answers FW_ERR_NOT_AVAILABLE. Never set it in a spec. */
  unavailable?: string
  /** Replies only once its change is committed to disk (CommandRegistry.replyAfterCommit). Defaults to `mutates`. */
  durable?: boolean
  /** Handler deadline. Defaults to 10000 ms. */
  timeoutMs?: number
  /** Only these transports list and run it (the console's session commands: ['console']); to the
   *  others it does not exist (FW_ERR_UNKNOWN_COMMAND). Defaults to every transport. */
  transports?: readonly string[]
  /** The handler reads ctx.tokens itself (a list such as `subscribe state meters=2`); `args` then
   *  only documents the call for help. */
  ownParsing?: boolean
  /** How help writes the call when the argument list does not say it ("console human|machine"). */
  usage?: string
}

export type CommandResult =
  | { ok: true; command: string; value: unknown }
  | {
      ok: false
      /** The command as resolved ("beam steer"), or the text asked for when it did not resolve. */
      command: string
      code: ErrorCode
      message: string
      /** Set with FW_ERR_CONFIRM_REQUIRED: repeat the call with confirm=<token> (JSON: {"confirm": token}). */
      confirmToken?: string
    }

/** A finished command, for audit logs (API) and event streams. */
export interface ExecutionRecord {
  at: number
  principal: Principal
  command: string
  args: ParsedArgs
  ok: boolean
  code?: ErrorCode
  mutates: boolean
}

/** What commands and transports may call on the registry (kept narrow so help can use it). */
export interface CommandRegistryLike {
  /** The commands every transport has, by name; with `transport`, then the ones only it has, in registration order. */
  list(filter?: { transport?: string }): readonly CommandSpec[]
  get(name: string): CommandSpec | undefined
}

/** A command another part of the firmware owns and registers when it runs (declared once, in
 * owned.ts): until then the registry lists it for help and answers FW_ERR_NOT_AVAILABLE. */
export interface OwnedCommand {
  name: string
  /** Who registers it, as a sentence subject: "the store", "inference". */
  owner: string
  /** The real spec's summary and permission (a test holds them equal). */
  summary: string
  permission: Permission
}

/** The part of the registry a network transport (API, OSC) calls. */
export interface RegistryForApi extends CommandRegistryLike {
  execute(name: string, args: Record<string, unknown>, principal: Principal): CommandResult | Promise<CommandResult>
}

/** Keeps each command's value type for its human() while listing specs of different value types together. */
export const spec = <V>(s: CommandSpec<V>): CommandSpec => s as unknown as CommandSpec
