// Decodes the records the audio thread publishes (addons/src/engine_binding.cc Poll: plain
// objects) into the typed EngineEvent union, checking every field instead of casting. A record
// that does not decode (a field missing or of the wrong type, an unknown type or cause) is
// counted and dropped: a binding and a face out of step must show, not turn into a wrong fault.
import type { EngineEvent, NativeBypassCause } from './types.ts'

const NATIVE_CAUSES: readonly NativeBypassCause[] = ['heartbeat-stale', 'dsp-overrun', 'non-finite-output', 'runaway-output']

function isNativeCause(v: unknown): v is NativeBypassCause {
  return NATIVE_CAUSES.some((c) => c === v)
}

function num(v: unknown): number | null {
  return typeof v === 'number' && !Number.isNaN(v) ? v : null
}

/** One record, or null when it does not decode. */
export function decodeEngineEvent(raw: Readonly<Record<string, unknown>>): EngineEvent | null {
  const block = num(raw.block)
  if (block === null) return null
  switch (raw.type) {
    case 'native-bypass': {
      const detail = num(raw.detail)
      if (!isNativeCause(raw.cause) || detail === null) return null
      return { type: 'native-bypass', cause: raw.cause, block, detail }
    }
    case 'xrun': {
      const count = num(raw.count)
      return count === null ? null : { type: 'xrun', block, count }
    }
    case 'overrun': {
      const usedUs = num(raw.usedUs)
      const budgetUs = num(raw.budgetUs)
      return usedUs === null || budgetUs === null ? null : { type: 'overrun', block, usedUs, budgetUs }
    }
    case 'processed':
      return { type: 'processed', block }
    case 'end-of-input':
      return { type: 'end-of-input', block }
    case 'backend-error':
      return { type: 'backend-error', block }
    default:
      return null
  }
}

/** Every record that decodes, in order, and how many did not. */
export function decodeEngineEvents(raw: ReadonlyArray<Readonly<Record<string, unknown>>>): { events: EngineEvent[]; undecoded: number } {
  const events: EngineEvent[] = []
  let undecoded = 0
  for (const r of raw) {
    const ev = decodeEngineEvent(r)
    if (ev) events.push(ev)
    else undecoded++
  }
  return { events, undecoded }
}
