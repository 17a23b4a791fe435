// REST resources over the command registry: every command is a resource at /api/<words>, e.g.
// "beam steer" -> POST /api/beam/steer, "status" -> GET /api/status. Reads (observe, not mutating)
// are GET with query parameters; state changes are POST with a JSON object body. The JSON schema of a
// body is derived from the command's ArgSpecs, so the API validates with the same types and bounds
// the console uses, and nothing is implemented twice.

import type { ArgSpec, CommandRegistryLike, CommandSpec, Permission } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'

/** An argument as the API worker sees it: unit-dependent bounds already resolved to numbers. */
export interface ArgLite {
  name: string
  type: ArgSpec['type']
  help: string
  min?: number
  max?: number
  values?: string[]
  maxLength?: number
  /** RegExp source. */
  pattern?: string
  optional: boolean
  unit?: string
}

/** A command as the API worker sees it (plain data: it crosses a thread boundary). */
export interface SpecLite {
  name: string
  summary: string
  permission: Permission
  destructive: boolean
  mutates: boolean
  args: ArgLite[]
}

export interface Route {
  method: 'GET' | 'POST'
  path: string
  command: string
  spec: SpecLite
  mutates: boolean
}

export function mutates(spec: { permission: Permission; mutates?: boolean }): boolean {
  return spec.mutates ?? spec.permission !== 'observe'
}

export function routePath(command: string): string {
  return `/api/${command.trim().split(/\s+/).map(encodeURIComponent).join('/')}`
}

/** Paths served by the API itself (not commands). */
export const RESERVED = new Set(['/api/openapi.json', '/api/events', '/api/ws', '/api/whoami', '/api/commands'])

function bound(b: ArgSpec['min'], app: ApplianceApi): number | undefined {
  if (b === undefined) return undefined
  return typeof b === 'number' ? b : b(app)
}

/** Plain-data copies of the registry's commands, with this unit's bounds. */
export function liteSpecs(registry: CommandRegistryLike, app: ApplianceApi): SpecLite[] {
  return registry.list().map((spec) => ({
    name: spec.name,
    summary: spec.summary,
    permission: spec.permission,
    destructive: !!spec.destructive,
    mutates: mutates(spec),
    args: spec.args.map((a) => {
      const l: ArgLite = { name: a.name, type: a.type, help: a.help, optional: !!a.optional || a.default !== undefined }
      const lo = bound(a.min, app)
      const hi = bound(a.max, app)
      if (lo !== undefined) l.min = lo
      if (hi !== undefined) l.max = hi
      if (a.values) l.values = [...a.values]
      if (a.maxLength !== undefined) l.maxLength = a.maxLength
      if (a.pattern) l.pattern = a.pattern.source
      if (a.unit) l.unit = a.unit
      return l
    }),
  }))
}

export function buildRoutes(specs: readonly SpecLite[]): Map<string, Route> {
  const routes = new Map<string, Route>()
  for (const spec of specs) {
    const path = routePath(spec.name)
    if (RESERVED.has(path)) continue
    routes.set(path, { method: spec.mutates ? 'POST' : 'GET', path, command: spec.name, spec, mutates: spec.mutates })
  }
  return routes
}

/** A JSON Schema (OpenAPI 3.1 dialect) for one argument. Bounds that depend on the unit are described, not fixed. */
export function argSchema(a: ArgSpec): Record<string, unknown> {
  const s: Record<string, unknown> = { description: a.help + (a.unit ? ` (${a.unit})` : '') }
  switch (a.type) {
    case 'int':
      s.type = 'integer'
      break
    case 'number':
      s.type = 'number'
      break
    case 'bool':
      s.type = 'boolean'
      break
    case 'enum':
      s.type = 'string'
      s.enum = [...(a.values ?? [])]
      break
    case 'string':
      s.type = 'string'
      s.maxLength = a.maxLength ?? 64
      if (a.pattern) s.pattern = a.pattern.source
      break
  }
  if (a.type === 'int' || a.type === 'number') {
    if (typeof a.min === 'number') s.minimum = a.min
    else if (a.min) s.description += '; lower bound depends on the unit'
    if (typeof a.max === 'number') s.maximum = a.max
    else if (a.max) s.description += '; upper bound depends on the unit (see GET /api/status)'
  }
  if (a.default !== undefined) s.default = a.default
  return s
}

export function bodySchema(spec: CommandSpec): Record<string, unknown> {
  const properties: Record<string, unknown> = {}
  for (const a of spec.args) properties[a.name] = argSchema(a)
  if (spec.destructive) properties.confirm = { type: 'string', description: 'one-time confirm token from a previous 409 reply' }
  return {
    type: 'object',
    additionalProperties: false,
    properties,
    required: spec.args.filter((a) => !a.optional && a.default === undefined).map((a) => a.name),
  }
}

const DEFAULT_STRING = /^[A-Za-z0-9._-]*$/

/** A JSON number that does not fit a double (e.g. 1e309): kept with its source text so the reply can quote it. */
export class OverflowNumber {
  readonly source: string
  constructor(source: string) {
    this.source = source
  }
}

/** JSON.parse that keeps numbers too large for a double as OverflowNumber instead of Infinity. */
export function parseJsonBody(text: string): unknown {
  return JSON.parse(text, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
    return typeof value === 'number' && !Number.isFinite(value) ? new OverflowNumber(context?.source ?? String(value)) : value
  } as (this: unknown, key: string, value: unknown) => unknown)
}

/** A value as the client sent it, for error messages. */
function shown(v: unknown): string {
  if (v instanceof OverflowNumber) return v.source
  return JSON.stringify(v) ?? String(v)
}

/**
 * Validates a JSON body (or query) against a command's arguments. Returns the error naming the field,
 * or null. `fromQuery` accepts strings for numbers and booleans (query parameters are text).
 */
export function validateArgs(spec: SpecLite, body: unknown, fromQuery = false): { args: Record<string, unknown>; error: null } | { args: null; error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { args: null, error: `the body must be a JSON object of arguments (${spec.args.map((a) => a.name).join(', ') || 'none'})` }
  }
  const src = body as Record<string, unknown>
  const known = new Set(spec.args.map((a) => a.name))
  if (spec.destructive) known.add('confirm')
  for (const k of Object.keys(src)) {
    if (!known.has(k)) return { args: null, error: `field "${k}" is not an argument of ${spec.name}; allowed: ${[...known].join(', ') || 'none'}` }
  }
  const out: Record<string, unknown> = {}
  for (const a of spec.args) {
    let v = src[a.name]
    // JSON null is a value of the wrong type, never "absent": leave the field out to take its default.
    if (v === undefined) {
      if (a.optional) continue
      return { args: null, error: `field "${a.name}" is required: ${a.help}` }
    }
    if (fromQuery && typeof v === 'string') {
      if (a.type === 'int' || a.type === 'number') v = v.trim() === '' ? NaN : Number(v)
      else if (a.type === 'bool') v = v === 'true' || v === 'on' || v === '1' ? true : v === 'false' || v === 'off' || v === '0' ? false : v
    }
    switch (a.type) {
      case 'int':
      case 'number': {
        if (v instanceof OverflowNumber)
          return {
            args: null,
            error: `field "${a.name}" must be a ${a.type === 'int' ? 'whole number' : 'number'} between ${a.min ?? '-inf'} and ${a.max ?? 'inf'}, got ${v.source} (too large to represent)`,
          }
        if (typeof v !== 'number' || !Number.isFinite(v))
          return { args: null, error: `field "${a.name}" must be a ${a.type === 'int' ? 'whole number' : 'number'}, got ${shown(src[a.name])}` }
        if (a.type === 'int' && !Number.isInteger(v)) return { args: null, error: `field "${a.name}" must be a whole number, got ${v}` }
        const lo = a.min
        const hi = a.max
        if ((lo !== undefined && v < lo) || (hi !== undefined && v > hi)) {
          return { args: null, error: `field "${a.name}" must be between ${lo ?? '-inf'} and ${hi ?? 'inf'}${a.unit ? ` ${a.unit}` : ''}, got ${v}` }
        }
        break
      }
      case 'bool':
        if (typeof v !== 'boolean') return { args: null, error: `field "${a.name}" must be true or false, got ${shown(src[a.name])}` }
        break
      case 'enum':
        if (typeof v !== 'string' || !(a.values ?? []).includes(v))
          return { args: null, error: `field "${a.name}" must be one of ${(a.values ?? []).join(', ')}, got ${shown(v)}` }
        break
      case 'string': {
        if (typeof v !== 'string') return { args: null, error: `field "${a.name}" must be a string, got ${shown(v)}` }
        const max = a.maxLength ?? 64
        if (v.length > max) return { args: null, error: `field "${a.name}" must be at most ${max} characters` }
        const re = a.pattern ? new RegExp(a.pattern) : DEFAULT_STRING
        if (!re.test(v)) return { args: null, error: `field "${a.name}" has characters that are not allowed (${re.source})` }
        break
      }
    }
    out[a.name] = v
  }
  if (spec.destructive && src.confirm !== undefined) {
    // (null included: a confirm token is a string)
    if (typeof src.confirm !== 'string') return { args: null, error: 'field "confirm" must be a string (the token from the 409 reply)' }
    out.confirm = src.confirm
  }
  return { args: out, error: null }
}
