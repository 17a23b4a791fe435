// The shared validators: one wording for "must be a number" everywhere a value crosses into the
// firmware (board profiles, engine options, stored documents, file headers, wire protocols).
// Each caller names where the value came from and which error code a bad value raises; the
// message is "<where>: must be ..., got <value>", so a person sees the field and what was there.
import { type ErrorCode, FirmwareError } from './errors.ts'

export interface NumberRule {
  min?: number
  max?: number
  /** A whole number. */
  integer?: boolean
}

/** Who is checking: the error code to raise and the prefix that names the field. */
export interface Checker {
  code: ErrorCode
  /** Turns a field name and a complaint into the message, e.g. (f, m) => `engine option ${f}: ${m}`. */
  say(field: string, complaint: string): string
}

export function checker(code: ErrorCode, say: (field: string, complaint: string) => string): Checker {
  return { code, say }
}

function fail(c: Checker, field: string, complaint: string): never {
  throw new FirmwareError(c.code, c.say(field, complaint))
}

const shown = (v: unknown): string => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)))

/** A finite number within the rule; NaN, Infinity, strings and null are refused. */
export function numberIn(c: Checker, v: unknown, field: string, rule: NumberRule = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(c, field, `must be a number, got ${shown(v)}`)
  if (rule.integer && !Number.isInteger(v)) fail(c, field, `must be a whole number, got ${v}`)
  const { min = -Infinity, max = Infinity } = rule
  if (v < min || v > max) fail(c, field, `must be between ${min} and ${max}, got ${v}`)
  return v
}

/** A whole number within [min, max]. */
export function wholeNumberIn(c: Checker, v: unknown, field: string, min: number, max: number): number {
  return numberIn(c, v, field, { min, max, integer: true })
}

/** One of the listed values. */
export function oneOf<T extends string | number>(c: Checker, v: unknown, field: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(c, field, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${shown(v)}`)
  return v as T
}

/** A non-empty string. */
export function text(c: Checker, v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(c, field, `must be a non-empty string, got ${shown(v)}`)
  return v
}

/** A plain object (not null, not an array). */
export function record(c: Checker, v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(c, field, `must be an object, got ${shown(v)}`)
  return v as Record<string, unknown>
}
