// CommandRegistry: the one place where commands are looked up, their arguments typed and
// range-checked, permissions and confirmations enforced, and handlers run. Transports hand it
// either console tokens or a JSON object and get back {ok, value} or {ok:false, code, message}.
import { randomInt } from 'node:crypto'
import type { ApplianceApi } from '../contract/appliance.ts'
import { type ErrorCode, FirmwareError, isFirmwareError } from '../errors.ts'
import {
  type ArgSpec,
  type Bound,
  type CommandContext,
  type CommandResult,
  type CommandSpec,
  type ExecutionRecord,
  type OwnedCommand,
  type ParsedArgs,
  PERMISSION_RANK,
  type Principal,
} from './types.ts'

export interface RegistryOptions {
  /** How long a confirm token stays valid. Defaults to 30000 ms. */
  confirmTtlMs?: number
  /** Clock, injectable for tests. Defaults to Date.now. */
  now?: () => number
}

const CONFIRM_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
const NAME_RE = /^[a-z][a-z0-9-]*( [a-z][a-z0-9-]*){0,2}$/
/** What a string argument takes when its spec gives no pattern. */
export const DEFAULT_STRING_RE = /^[A-Za-z0-9_.-]+$/

export class CommandError extends FirmwareError {}

/** A command refused before (or instead of) running, as the caller gets it. */
type Refusal = CommandResult & { ok: false }
/** Typed arguments, and the confirm token a destructive command was sent with. */
interface Parsed {
  args: ParsedArgs
  confirm?: string | undefined
}

/** Splits a console line into tokens: whitespace-separated, "double quotes" with \" and \\ escapes. */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let i = 0
  const n = line.length
  while (i < n) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++
    if (i >= n) break
    let tok = ''
    let quoted = false
    while (i < n && line[i] !== ' ' && line[i] !== '\t') {
      const c = line[i]!
      if (c === '"') {
        quoted = true
        i++
        while (i < n && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < n) i++
          tok += line[i]
          i++
        }
        if (i >= n) throw new FirmwareError('FW_ERR_BAD_ARG', 'a quote is not closed; end the quoted text with "')
        i++
      } else {
        tok += c
        i++
      }
    }
    if (tok.length > 0 || quoted) out.push(tok)
  }
  return out
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = tmp
    }
  }
  return prev[b.length]!
}

function bound(b: Bound | undefined, app: ApplianceApi): number | undefined {
  return typeof b === 'function' ? b(app) : b
}

/** "beam steer <beam> <azimuth> [elevation]" */
export function usage(spec: CommandSpec): string {
  if (spec.usage !== undefined) return spec.usage
  return [spec.name, ...spec.args.map((a) => (a.optional ? `[${a.name}]` : `<${a.name}>`))].join(' ')
}

function describeArg(a: ArgSpec, app: ApplianceApi, json = false): string {
  const unit = a.unit ? ` ${a.unit}` : ''
  switch (a.type) {
    case 'int':
      return `a whole number from ${bound(a.min, app) ?? '-inf'} to ${bound(a.max, app) ?? 'inf'}${unit}`
    case 'number':
      return `a number from ${bound(a.min, app) ?? '-inf'} to ${bound(a.max, app) ?? 'inf'}${unit}`
    case 'bool':
      return json ? 'true or false' : 'on or off'
    case 'enum':
      return `one of ${(a.values ?? []).join(', ')}`
    case 'string':
      // A string with its own pattern and no name rule (an address list) is described by its help.
      if (!a.rule && a.pattern && a.help) return `${a.help} (up to ${a.maxLength ?? 64} characters)`
      return `a name of ${a.rule ?? `up to ${a.maxLength ?? 64} letters, digits, "-", "_" or "."`}`
  }
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)$/

/** Converts one raw value (console token or JSON value) to the arg's type, or throws FW_ERR_BAD_ARG. */
function coerce(spec: CommandSpec, a: ArgSpec, raw: unknown, app: ApplianceApi, json: boolean): string | number | boolean {
  const bad = (): never => {
    const got = typeof raw === 'string' ? JSON.stringify(raw) : (JSON.stringify(raw) ?? String(raw))
    throw new CommandError(
      'FW_ERR_BAD_ARG',
      `${spec.name}: ${a.name} must be ${describeArg(a, app, json)}, got ${got}. Usage: ${usage(spec)}; e.g. ${spec.examples[0] ?? spec.name}`,
    )
  }
  switch (a.type) {
    case 'int':
    case 'number': {
      let v: number
      if (typeof raw === 'number') v = raw
      else if (!json && typeof raw === 'string' && NUMBER_RE.test(raw)) v = Number(raw)
      else return bad()
      if (!Number.isFinite(v)) return bad()
      if (a.type === 'int' && !Number.isInteger(v)) return bad()
      const lo = bound(a.min, app)
      const hi = bound(a.max, app)
      if ((lo !== undefined && v < lo) || (hi !== undefined && v > hi)) return bad()
      return v
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw
      if (!json && typeof raw === 'string') {
        const s = raw.toLowerCase()
        if (s === 'on' || s === 'true' || s === 'yes' || s === '1') return true
        if (s === 'off' || s === 'false' || s === 'no' || s === '0') return false
      }
      return bad()
    }
    case 'enum': {
      if (typeof raw !== 'string') return bad()
      const s = raw.toLowerCase()
      if (!(a.values ?? []).includes(s)) return bad()
      return s
    }
    case 'string': {
      if (typeof raw !== 'string') return bad()
      if (raw.length === 0 || raw.length > (a.maxLength ?? 64) || !(a.pattern ?? DEFAULT_STRING_RE).test(raw)) return bad()
      return raw
    }
  }
}

function finish(spec: CommandSpec, got: Map<string, unknown>, app: ApplianceApi, json: boolean): ParsedArgs {
  const out: ParsedArgs = {}
  for (const a of spec.args) {
    if (got.has(a.name)) out[a.name] = coerce(spec, a, got.get(a.name), app, json)
    else if (a.optional) out[a.name] = a.default
    else {
      throw new CommandError('FW_ERR_BAD_ARG', `${spec.name}: ${a.name} is missing (${a.help}). Usage: ${usage(spec)}; e.g. ${spec.examples[0] ?? spec.name}`)
    }
  }
  return out
}

/** Console tokens: positional in declaration order, or key=value in any order. */
export function parseTokens(spec: CommandSpec, tokens: readonly string[], app: ApplianceApi): ParsedArgs {
  const got = new Map<string, unknown>()
  const positional: string[] = []
  for (const t of tokens) {
    const eq = t.indexOf('=')
    if (eq > 0) {
      // Keys are case-insensitive on the console (a tech types linkoffsetms or linkOffsetMs alike);
      // the argument keeps the name its spec declares.
      const typed = t.slice(0, eq).toLowerCase()
      const key = spec.args.find((a) => a.name.toLowerCase() === typed)?.name
      if (key === undefined) {
        const names = spec.args.map((a) => a.name).join(', ') || 'none'
        throw new CommandError('FW_ERR_BAD_ARG', `${spec.name}: no argument "${typed}" (its arguments: ${names}). Usage: ${usage(spec)}`)
      }
      if (got.has(key)) throw new CommandError('FW_ERR_BAD_ARG', `${spec.name}: ${key} is given twice`)
      got.set(key, t.slice(eq + 1))
    } else {
      positional.push(t)
    }
  }
  let k = 0
  for (const a of spec.args) {
    if (k >= positional.length) break
    if (got.has(a.name)) continue
    got.set(a.name, positional[k++])
  }
  if (k < positional.length) {
    throw new CommandError(
      'FW_ERR_BAD_ARG',
      `${spec.name}: too many arguments (from "${positional[k]}"). Usage: ${usage(spec)}; e.g. ${spec.examples[0] ?? spec.name}`,
    )
  }
  return finish(spec, got, app, false)
}

/** JSON arguments (the API's): keys are argument names, values of their JSON type (numbers as numbers,
 * booleans as true/false); unknown keys are refused, naming the field. */
export function parseJson(spec: CommandSpec, obj: Record<string, unknown>, app: ApplianceApi): ParsedArgs {
  const got = new Map<string, unknown>()
  for (const [key, v] of Object.entries(obj)) {
    if (!spec.args.some((a) => a.name === key)) {
      const names = spec.args.map((a) => a.name).join(', ') || 'none'
      throw new CommandError('FW_ERR_BAD_ARG', `${spec.name}: unknown field "${key}" (its fields: ${names})`)
    }
    // JSON null is a value of the wrong type, not "absent": leave a field out to take its default.
    if (v !== undefined) got.set(key, v)
  }
  return finish(spec, got, app, true)
}

/** A JSON Schema (draft 2020-12 subset) for a command's JSON arguments, for the API's OpenAPI text. */
export function argsJsonSchema(spec: CommandSpec, app: ApplianceApi): Record<string, unknown> {
  const properties: Record<string, unknown> = {}
  const required: string[] = []
  for (const a of spec.args) {
    const p: Record<string, unknown> = { description: a.help }
    if (a.type === 'int' || a.type === 'number') {
      p.type = a.type === 'int' ? 'integer' : 'number'
      const lo = bound(a.min, app)
      const hi = bound(a.max, app)
      if (lo !== undefined) p.minimum = lo
      if (hi !== undefined) p.maximum = hi
    } else if (a.type === 'bool') p.type = 'boolean'
    else if (a.type === 'enum') {
      p.type = 'string'
      p.enum = [...(a.values ?? [])]
    } else {
      p.type = 'string'
      p.maxLength = a.maxLength ?? 64
      p.pattern = (a.pattern ?? DEFAULT_STRING_RE).source
    }
    if (a.default !== undefined) p.default = a.default
    properties[a.name] = p
    if (!a.optional) required.push(a.name)
  }
  if (spec.destructive) properties.confirm = { type: 'string', description: 'the one-time token from the FW_ERR_CONFIRM_REQUIRED reply' }
  return { type: 'object', additionalProperties: false, properties, required }
}

/** Whether a caller on `transport` has the command (undefined: every transport-scoped one is hidden). */
function visible(spec: CommandSpec, transport: string | undefined): boolean {
  return spec.transports === undefined || (transport !== undefined && spec.transports.includes(transport))
}

function notAvailableMessage(command: string, owner: string): string {
  return `${command} is not available yet: ${owner} is not running on this unit`
}

/** What the registry lists and answers for a declared owned command until its owner registers it. */
function standIn(e: OwnedCommand): CommandSpec {
  return {
    name: e.name,
    summary: e.summary,
    examples: [e.name],
    permission: e.permission,
    args: [],
    unavailable: e.owner,
    handler: () => {
      throw new FirmwareError('FW_ERR_NOT_AVAILABLE', notAvailableMessage(e.name, e.owner))
    },
  }
}

interface PendingConfirm {
  token: string
  expires: number
}

export class CommandRegistry {
  readonly app: ApplianceApi
  readonly #specs = new Map<string, CommandSpec>()
  readonly #owned = new Map<string, OwnedCommand>()
  #commit: (() => Promise<void>) | null = null
  readonly #confirms = new Map<string, PendingConfirm>()
  readonly #listeners = new Set<(r: ExecutionRecord) => void>()
  readonly #confirmTtlMs: number
  readonly #now: () => number

  constructor(app: ApplianceApi, options: RegistryOptions = {}) {
    this.app = app
    this.#confirmTtlMs = options.confirmTtlMs ?? 30_000
    this.#now = options.now ?? Date.now
  }

  /**
   * Declares commands other parts own (OWNED_COMMANDS): each is listed for help and answers
   * FW_ERR_NOT_AVAILABLE ("<owner> is not running") until its owner registers the real spec.
   */
  declareOwned(entries: readonly OwnedCommand[]): void {
    for (const e of entries) {
      if (this.#owned.has(e.name)) throw new FirmwareError('FW_ERR_BAD_OPTION', `command "${e.name}" is declared twice`)
      this.#owned.set(e.name, e)
      if (!this.#specs.has(e.name)) this.#addSpec(standIn(e))
    }
  }

  /**
   * Adds a command. A name already taken by a real command is refused (no command is implemented
   * twice); the stand-in of a declared owned command of the same name is replaced.
   */
  // biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
  register(spec: CommandSpec<any>): void {
    if (spec.unavailable !== undefined)
      throw new FirmwareError('FW_ERR_BAD_OPTION', `command "${spec.name}": unavailable is set by the registry, not by a spec`)
    const old = this.#specs.get(spec.name)
    if (old && old.unavailable === undefined) throw new FirmwareError('FW_ERR_BAD_OPTION', `command "${spec.name}" is already registered`)
    this.#addSpec(spec as CommandSpec)
  }

  #addSpec(spec: CommandSpec): void {
    if (!NAME_RE.test(spec.name)) throw new FirmwareError('FW_ERR_BAD_OPTION', `command name "${spec.name}" must be 1-3 lowercase words`)
    if (spec.examples.length === 0) throw new FirmwareError('FW_ERR_BAD_OPTION', `command "${spec.name}" needs at least one example`)
    for (const other of this.#specs.keys()) {
      // "beam" and "beam steer" cannot both be commands: the console could not tell them apart.
      if (other !== spec.name && (other.startsWith(`${spec.name} `) || spec.name.startsWith(`${other} `))) {
        throw new FirmwareError('FW_ERR_BAD_OPTION', `command "${spec.name}" clashes with "${other}"`)
      }
    }
    this.#specs.set(spec.name, spec)
  }

  /** Removes a command (for owners that shut down); a declared owned command goes back to its
   * "not available" stand-in. Returns whether a real command was removed. */
  unregister(name: string): boolean {
    const old = this.#specs.get(name)
    if (!old || old.unavailable !== undefined) return false
    this.#specs.delete(name)
    const e = this.#owned.get(name)
    if (e) this.#specs.set(name, standIn(e))
    return true
  }

  /**
   * "Reply after commit": from now on every command that is `durable` (by default: every
   * state-changing one) replies only once `commit()` resolved after its handler ran, so an
   * acknowledged change is on disk. The handler deadline covers the wait.
   */
  replyAfterCommit(commit: () => Promise<void>): void {
    this.#commit = commit
  }

  /** The commands every transport has, by name; with `transport`, then the ones only it has
   * (the console's session commands), in the order they were registered. */
  list(filter: { transport?: string } = {}): readonly CommandSpec[] {
    const all = [...this.#specs.values()]
    const shared = all.filter((s) => s.transports === undefined).sort((a, b) => a.name.localeCompare(b.name))
    const t = filter.transport
    return t === undefined ? shared : [...shared, ...all.filter((s) => s.transports?.includes(t))]
  }

  get(name: string): CommandSpec | undefined {
    return this.#specs.get(name.trim().toLowerCase().replace(/\s+/g, ' '))
  }

  /** Listens to every finished execution (audit logs). Returns the unsubscribe function. */
  onExecuted(listener: (r: ExecutionRecord) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Finds the command named by the first words of `tokens` (longest match). Returns the spec and
   * how many tokens its name used, or an FW_ERR_UNKNOWN_COMMAND result that suggests what to type.
   */
  resolve(
    tokens: readonly string[],
    transport?: string,
  ): { spec: CommandSpec; used: number } | { ok: false; command: string; code: ErrorCode; message: string } {
    const words = tokens.slice(0, 3).map((t) => t.toLowerCase())
    for (let n = Math.min(3, words.length); n >= 1; n--) {
      const spec = this.#specs.get(words.slice(0, n).join(' '))
      if (spec && visible(spec, transport)) return { spec, used: n }
    }
    const asked = words.join(' ')
    const first = words[0] ?? ''
    const group = this.list().filter((s) => s.name.startsWith(`${first} `))
    if (group.length > 0) {
      const subs = group.map((s) => s.name).join(' | ')
      const what = words.length > 1 ? `"${first}" has no subcommand "${words[1]}"` : `"${first}" needs a subcommand`
      return { ok: false, command: first, code: 'FW_ERR_UNKNOWN_COMMAND', message: `${what}: ${subs}; e.g. ${group[0]!.examples[0]}` }
    }
    let best = ''
    let bestD = Infinity
    const candidates = new Set<string>()
    for (const s of this.#specs.values()) {
      if (visible(s, transport)) candidates.add(s.name.split(' ')[0]!)
    }
    for (const c of candidates) {
      const d = levenshtein(first, c)
      if (d < bestD) {
        bestD = d
        best = c
      }
    }
    const hint = bestD <= Math.max(1, Math.floor(first.length / 3)) ? `did you mean "${best}"? ` : ''
    const shown = first.length > 24 ? `${first.slice(0, 24)}...` : first
    return { ok: false, command: asked, code: 'FW_ERR_UNKNOWN_COMMAND', message: `no command "${shown}"; ${hint}type help for the list` }
  }

  /** Runs a console line ("beam steer 1 45"). Empty lines give FW_ERR_UNKNOWN_COMMAND. */
  async executeLine(line: string, principal: Principal, session?: unknown): Promise<CommandResult> {
    let tokens: string[]
    try {
      tokens = tokenize(line)
    } catch (e) {
      return { ok: false, command: '', code: 'FW_ERR_BAD_ARG', message: (e as Error).message }
    }
    if (tokens.length === 0) return { ok: false, command: '', code: 'FW_ERR_UNKNOWN_COMMAND', message: 'empty command; type help for the list' }
    const r = this.resolve(tokens, principal.transport)
    if ('ok' in r) return r
    return this.execute(r.spec.name, tokens.slice(r.used), principal, session)
  }

  /**
   * Runs a command by name ("beam steer") with console tokens or a JSON object of named arguments.
   * A destructive command also takes `confirm` (token "confirm=XXXX" or JSON "confirm"): without a
   * valid one it answers FW_ERR_CONFIRM_REQUIRED with a fresh token to repeat the call with.
   */
  async execute(name: string, args: readonly string[] | Record<string, unknown>, principal: Principal, session?: unknown): Promise<CommandResult> {
    const spec = this.#lookup(name, principal)
    if ('ok' in spec) return spec
    const refused = this.#availability(spec) ?? this.#permission(spec, principal)
    if (refused) return this.#record(principal, spec, {}, refused)
    const parsed = this.#parse(spec, args)
    if ('ok' in parsed) return this.#record(principal, spec, {}, parsed)
    const ask = spec.destructive ? this.#confirm(spec, principal, args, parsed) : null
    if (ask) return this.#record(principal, spec, parsed.args, ask)
    const ctx = { app: this.app, principal, registry: this, tokens: Array.isArray(args) ? (args as readonly string[]) : null, session }
    return this.#record(principal, spec, parsed.args, await this.#run(spec, parsed.args, ctx))
  }

  /** Lookup: the spec this caller's transport has under `name`, or FW_ERR_UNKNOWN_COMMAND with a hint. */
  #lookup(name: string, principal: Principal): CommandSpec | Refusal {
    const found = this.get(name)
    if (found && visible(found, principal.transport)) return found
    const r = this.resolve(name.trim().split(/\s+/), principal.transport)
    if (!('ok' in r)) return { ok: false, command: name, code: 'FW_ERR_UNKNOWN_COMMAND', message: `no command "${name}"; did you mean "${r.spec.name}"?` }
    return r
  }

  /** Availability: a declared owned command whose owner is not running answers FW_ERR_NOT_AVAILABLE. */
  #availability(spec: CommandSpec): Refusal | null {
    if (spec.unavailable === undefined) return null
    return { ok: false, command: spec.name, code: 'FW_ERR_NOT_AVAILABLE', message: notAvailableMessage(spec.name, spec.unavailable) }
  }

  /** Permission: the caller's rights are at least the command's. */
  #permission(spec: CommandSpec, principal: Principal): Refusal | null {
    if (PERMISSION_RANK[principal.permission] >= PERMISSION_RANK[spec.permission]) return null
    const how = principal.transport === 'console' ? '; log in with: login <PIN>' : ''
    return {
      ok: false,
      command: spec.name,
      code: 'FW_ERR_PERMISSION',
      message: `${spec.name} needs ${spec.permission} rights; you have ${principal.permission}${how}`,
    }
  }

  /** Parse: console words or a JSON object to typed, range-checked arguments, the confirm token set apart. */
  #parse(spec: CommandSpec, args: readonly string[] | Record<string, unknown>): Parsed | Refusal {
    const command = spec.name
    try {
      if (spec.ownParsing) {
        if (!Array.isArray(args)) throw new CommandError('FW_ERR_BAD_ARG', `${command}: takes console words, not JSON`)
        return { args: {} }
      }
      if (Array.isArray(args)) {
        let confirm: string | undefined
        const rest: string[] = []
        for (const t of args as readonly string[]) {
          if (spec.destructive && /^confirm=/i.test(t)) confirm = t.slice(8)
          else rest.push(t)
        }
        return { args: parseTokens(spec, rest, this.app), confirm }
      }
      if (typeof args !== 'object' || args === null) throw new CommandError('FW_ERR_BAD_ARG', `${command}: arguments must be a JSON object`)
      const { confirm, ...rest } = args as Record<string, unknown>
      if (confirm !== undefined) {
        if (!spec.destructive) throw new CommandError('FW_ERR_BAD_ARG', `${command}: unknown field "confirm" (it is not destructive)`)
        if (typeof confirm !== 'string') throw new CommandError('FW_ERR_BAD_ARG', `${command}: confirm must be a string token`)
      }
      return { args: parseJson(spec, rest, this.app), confirm: confirm as string | undefined }
    } catch (e) {
      return this.#failure(command, e)
    }
  }

  /**
   * Confirm: a destructive command runs only with the valid token of an earlier call by the same
   * caller with the same arguments; otherwise FW_ERR_CONFIRM_REQUIRED with a fresh token. Null: go on.
   */
  #confirm(spec: CommandSpec, principal: Principal, args: readonly string[] | Record<string, unknown>, parsed: Parsed): Refusal | null {
    const command = spec.name
    const { confirm } = parsed
    const key = `${principal.name}\u0000${command}\u0000${JSON.stringify(parsed.args, Object.keys(parsed.args).sort())}`
    const pending = this.#confirms.get(key)
    const now = this.#now()
    for (const [k, p] of this.#confirms) if (p.expires <= now) this.#confirms.delete(k)
    if (confirm && pending && pending.expires > now && pending.token === confirm.toUpperCase()) {
      this.#confirms.delete(key)
      return null
    }
    const token = Array.from({ length: 4 }, () => CONFIRM_ALPHABET[randomInt(CONFIRM_ALPHABET.length)]).join('')
    this.#confirms.set(key, { token, expires: now + this.#confirmTtlMs })
    // Say it the way the caller asked: a console line, or (JSON transports) the body to send again.
    let again: string
    if (Array.isArray(args)) again = [command, ...(args as readonly string[]).filter((t) => !/^confirm=/i.test(t)), `confirm=${token}`].join(' ')
    else {
      const { confirm: _old, ...rest } = args as Record<string, unknown>
      again = `the same request with the body ${JSON.stringify({ ...rest, confirm: token })}`
    }
    const why = confirm ? 'that confirm token is wrong or expired; ' : ''
    return {
      ok: false,
      command,
      code: 'FW_ERR_CONFIRM_REQUIRED',
      message: `${why}${command} is destructive (${spec.summary}). To proceed within ${Math.round(this.#confirmTtlMs / 1000)} s send: ${again}`,
      confirmToken: token,
    }
  }

  /** Run: the handler within its deadline; a durable command replies only after the commit (reply-after-commit). */
  async #run(spec: CommandSpec, parsed: ParsedArgs, ctx: CommandContext): Promise<CommandResult> {
    const command = spec.name
    let timer: NodeJS.Timeout | undefined
    try {
      const timeoutMs = spec.timeoutMs ?? 10_000
      const commit = this.#commit !== null && (spec.durable ?? spec.mutates ?? spec.permission !== 'observe') ? this.#commit : null
      const value = await Promise.race([
        Promise.resolve().then(async () => {
          const v = await spec.handler(parsed, ctx)
          if (commit) await commit()
          return v
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new CommandError('FW_ERR_COMMAND_FAILED', `${command} did not finish within ${timeoutMs} ms; check status and faults`)),
            timeoutMs,
          )
        }),
      ])
      return { ok: true, command, value: value === undefined ? null : value }
    } catch (e) {
      return this.#failure(command, e)
    } finally {
      if (timer) clearTimeout(timer)
    }
  }

  /** Record: every finished execution goes to the audit listeners, then back to the caller. */
  #record(principal: Principal, spec: CommandSpec, args: ParsedArgs, r: CommandResult): CommandResult {
    this.#emit(principal, spec, args, r)
    return r
  }

  #failure(command: string, e: unknown): CommandResult & { ok: false } {
    if (isFirmwareError(e)) return { ok: false, command, code: e.code, message: e.message }
    const msg = e instanceof Error ? e.message : String(e)
    return { ok: false, command, code: 'FW_ERR_COMMAND_FAILED', message: `${command} failed: ${msg}` }
  }

  #emit(principal: Principal, spec: CommandSpec, args: ParsedArgs, r: CommandResult): void {
    if (this.#listeners.size === 0) return
    const rec: ExecutionRecord = {
      at: this.#now(),
      principal,
      command: spec.name,
      args,
      ok: r.ok,
      mutates: spec.mutates ?? spec.permission !== 'observe',
    }
    if (!r.ok) rec.code = r.code
    for (const l of this.#listeners) {
      try {
        l(rec)
      } catch {
        // An audit listener's failure must not change the command's result.
      }
    }
  }
}
