// A name argument's rule, stated once. The pattern the registry applies, the help line and the
// FW_ERR_BAD_ARG message are all derived from the same spec, so what help promises is what an
// error says and what the unit accepts (preset names: issue 10 item 5).
import type { ArgSpec } from './types.ts'

export interface NameRule {
  /** Longest name, in characters (at least 1). */
  maxLength: number
  /** Characters allowed besides ASCII letters and digits, e.g. ['-', '_']. */
  symbols: readonly string[]
}

/** "up to 32 letters, digits, "-" or "_"" (at least one) */
export function describeNameRule(r: NameRule): string {
  const parts = ['letters', 'digits', ...r.symbols.map((c) => `"${c}"`)]
  return `up to ${r.maxLength} ${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
}

/** The anchored pattern a name must match: /^[A-Za-z0-9_-]{1,32}$/ for the preset rule. */
export function nameRulePattern(r: NameRule): RegExp {
  // "-" goes last, where it needs no escape: the preset rule's pattern is /^[A-Za-z0-9_-]{1,32}$/.
  const extra =
    r.symbols
      .filter((c) => c !== '-')
      .map((c) => c.replace(/[\\\]^]/g, '\\$&'))
      .join('') + (r.symbols.includes('-') ? '-' : '')
  return new RegExp(`^[A-Za-z0-9${extra}]{1,${r.maxLength}}$`)
}

/** A string argument that follows the rule; `what` starts its help line ("preset name: up to 32 ..."). */
export function nameArg(name: string, what: string, r: NameRule, extra: Partial<ArgSpec> = {}): ArgSpec {
  const rule = describeNameRule(r)
  return { name, type: 'string', maxLength: r.maxLength, pattern: nameRulePattern(r), rule, help: `${what}: ${rule}`, ...extra }
}

export const PRESET_NAME_RULE: NameRule = { maxLength: 32, symbols: ['-', '_'] }

/** The `name` argument of the store's preset save/load/delete. */
export const presetNameArg: ArgSpec = nameArg('name', 'preset name', PRESET_NAME_RULE)
