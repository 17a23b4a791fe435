// Renders command results for line transports: one machine line (`OK <command> <values>` /
// `ERR <code> <message>`, grammar in docs/console-protocol.md) or a human-readable block.
import type { CommandResult, CommandSpec } from './types.ts'

const BARE_RE = /^[A-Za-z0-9_.:/+@%,-]+$/

/** A scalar as one machine token: numbers to at most 3 decimals, quoted strings when needed. */
export function machineScalar(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'boolean') return v ? 'on' : 'off'
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan'
    if (v === Infinity) return 'inf'
    if (v === -Infinity) return '-inf'
    return String(Number.isInteger(v) ? v : Number(v.toFixed(3)))
  }
  const s = String(v)
  if (s.length > 0 && BARE_RE.test(s)) return s
  return (
    '"' +
    s
      .replace(/\\/g, '\\\\')
      .replace(/"/g, '\\"')
      .replace(/\r/g, '\\r')
      .replace(/\n/g, '\\n')
      .replace(/[\u0000-\u001f\u007f-\uffff]/g, '?') +
    '"'
  )
}

/**
 * Flattens a value into key=value tokens: nested keys joined with ".", array items numbered
 * from 1 (like the channels on the rear panel). A scalar becomes a single bare token.
 */
export function flatten(v: unknown, prefix = '', out: string[] = []): string[] {
  if (Array.isArray(v)) {
    if (v.length === 0 && prefix) out.push(`${prefix}=-`)
    v.forEach((item, k) => {
      flatten(item, prefix ? `${prefix}.${k + 1}` : String(k + 1), out)
    })
  } else if (v !== null && typeof v === 'object') {
    for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
      if (item === undefined) continue
      flatten(item, prefix ? `${prefix}.${key}` : key, out)
    }
  } else if (prefix) {
    out.push(`${prefix}=${machineScalar(v)}`)
  } else if (v !== null && v !== undefined) {
    out.push(machineScalar(v))
  }
  return out
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '?')
}

/** The single reply line for a result (no line terminator). */
export function formatMachine(r: CommandResult): string {
  if (!r.ok) return `ERR ${r.code} ${oneLine(r.message)}`
  const values = flatten(r.value)
  return values.length ? `OK ${r.command} ${values.join(' ')}` : `OK ${r.command}`
}

function humanValue(v: unknown, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    if (v.length === 0) out.push(`${indent}(none)`)
    v.forEach((item, k) => {
      if (item !== null && typeof item === 'object') {
        out.push(`${indent}${k + 1}:`)
        humanValue(item, `${indent}  `, out)
      } else out.push(`${indent}${k + 1}: ${typeof item === 'string' ? item : machineScalar(item)}`)
    })
  } else if (v !== null && typeof v === 'object') {
    for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
      if (item === undefined) continue
      if (item !== null && typeof item === 'object') {
        const flat = Array.isArray(item) && item.every((x) => x === null || typeof x !== 'object')
        if (flat) out.push(`${indent}${key}: ${(item as unknown[]).map((x) => (typeof x === 'string' ? x : machineScalar(x))).join(' ') || '(none)'}`)
        else {
          out.push(`${indent}${key}:`)
          humanValue(item, `${indent}  `, out)
        }
      } else out.push(`${indent}${key}: ${typeof item === 'string' ? item : machineScalar(item)}`)
    }
  } else if (v !== null && v !== undefined) {
    out.push(`${indent}${typeof v === 'string' ? v : machineScalar(v)}`)
  }
}

/** The human-readable block for a result, lines joined with "\n" (no trailing newline). */
export function formatHuman(r: CommandResult, spec?: CommandSpec): string {
  if (!r.ok) return `error: ${r.message} [${r.code}]`
  if (spec?.human) return spec.human(r.value)
  const out: string[] = []
  humanValue(r.value, '', out)
  return out.length ? out.join('\n') : 'ok'
}
