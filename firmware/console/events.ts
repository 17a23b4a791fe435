// The console's event subscriptions (`subscribe`, `unsubscribe`): which topics a session wants, the
// appliance subscription and the meters timer that feed them, and each appliance event kind as the
// fields of its EV line (eventFields, changeFields). Rendering the line is render.ts's job.
import type { ApplianceApi, ApplianceEvent, SettingChange } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'

export type Topic = 'state' | 'meters' | 'doa' | 'panel' | 'recommendations' | 'changes'
export const TOPICS: readonly Topic[] = ['state', 'meters', 'doa', 'panel', 'recommendations', 'changes']
/** What `subscribe` alone subscribes to. */
const DEFAULT_TOPICS: readonly Topic[] = ['state', 'panel', 'changes']

/** The order of an object value's keys on an EV change line. */
const VALUE_ORDER: Partial<Record<SettingChange['what'], readonly string[]>> = {
  eq: ['type', 'freqHz', 'gainDb', 'q', 'enabled'],
  compressor: ['thresholdDb', 'ratio', 'kneeDb', 'attackMs', 'releaseMs', 'makeupDb', 'enabled'],
  beam: ['kind', 'azimuth', 'elevation', 'auto'],
  osc: ['enabled', 'allow', 'port'],
  preset: ['savedAt'],
}

/** Target keys that number things (outputs, inputs, EQ bands, beams): counted from 1 on the wire, as on the rear panel. */
const NUMBERED = new Set(['output', 'input', 'band', 'beam'])

/**
 * A setting change as the fields of its EV line, in a fixed order: what, where (outputs, inputs,
 * bands and beams numbered from 1), the new value (a scalar as `value=`, an object as `value.<key>=`),
 * who changed it. The line's `at` is added by the renderer.
 */
export function changeFields(c: SettingChange): Record<string, unknown> {
  const out: Record<string, unknown> = { what: c.what }
  for (const [k, v] of Object.entries(c.target)) out[k] = NUMBERED.has(k) && typeof v === 'number' ? v + 1 : v
  let value = c.value
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // Fixed key order whoever built the object (a command, a preset, automation); unknown keys last.
    const v = value as Record<string, unknown>
    const ordered: Record<string, unknown> = {}
    for (const k of VALUE_ORDER[c.what] ?? []) if (k in v) ordered[k] = v[k]
    for (const [k, x] of Object.entries(v)) if (!(k in ordered) && !(c.what === 'beam' && k === 'index')) ordered[k] = x
    value = ordered // a beam's index is dropped: the target already names the beam, from 1
  }
  out.value = value
  out.who = c.who
  return out
}

/** One EV line to send: its topic word, its fields, when it happened (ms; absent: now). */
export interface EventLine {
  topic: string
  fields: Record<string, unknown>
  at?: number
}

/** The topic an appliance event kind belongs to (meters come from the timer, not from events). */
const TOPIC_OF: Record<ApplianceEvent['type'], Topic | null> = {
  transition: 'state',
  doa: 'doa',
  panel: 'panel',
  recommendation: 'recommendations',
  change: 'changes',
  meters: null,
  inference: null,
}

/** An appliance event as its EV line; null for a kind that has no line of its own (meters). */
export function eventFields(ev: ApplianceEvent): EventLine | null {
  switch (ev.type) {
    case 'transition': {
      const r = ev.record
      return { topic: 'state', fields: { from: r.from, to: r.to, cause: r.cause, evidence: r.evidence }, at: r.at }
    }
    case 'doa':
      return { topic: 'doa', fields: { azimuth: ev.doa.azimuth, elevation: ev.doa.elevation, confidence: ev.doa.confidence } }
    case 'panel':
      return { topic: 'panel', fields: { event: ev.event } }
    case 'recommendation': {
      const d = ev.data
      return { topic: 'recommendation', fields: d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : { value: d } }
    }
    case 'change':
      return { topic: 'change', fields: changeFields(ev.change) }
    case 'meters':
      return null // meters go out at the subscribed rate, from the timer
    case 'inference':
      return null // crowd classes, alarms and decisions go to telemetry (docs/telemetry.md)
  }
}

/** The meters as their EV line. */
export function metersLine(m: NonNullable<ReturnType<ApplianceApi['meters']>>): EventLine {
  return { topic: 'meters', fields: { in_peak: m.inputPeakDb, in_rms: m.inputRmsDb, out_peak: m.outputPeakDb, out_rms: m.outputRmsDb, gr: m.gainReductionDb } }
}

export type SubscriptionValue = Record<string, string | number | boolean>

/**
 * One session's subscriptions. State: the topics, the meters rate, the time of the last DOA line
 * (at most 10 a second), the appliance subscription and the meters timer (both held only while a
 * topic needs them). Every line goes to `emit`.
 */
export class Subscriptions {
  readonly #app: ApplianceApi
  readonly #emit: (line: EventLine) => void
  readonly #log: (message: string) => void
  #subs = new Set<Topic>()
  #metersHz = 1
  #lastDoa = 0
  #unsubscribeApp: (() => void) | null = null
  #metersTimer: NodeJS.Timeout | undefined

  constructor(app: ApplianceApi, emit: (line: EventLine) => void, log: (message: string) => void) {
    this.#app = app
    this.#emit = emit
    this.#log = log
  }

  subscribe(args: readonly string[]): SubscriptionValue {
    const next = new Set(this.#subs)
    let hz = this.#metersHz
    const list = args.length === 0 ? DEFAULT_TOPICS : args
    for (const raw of list) {
      const [name, val] = raw.toLowerCase().split('=', 2) as [string, string | undefined]
      if (name === 'all') {
        for (const t of TOPICS) next.add(t)
        continue
      }
      if (!(TOPICS as readonly string[]).includes(name) || (val !== undefined && name !== 'meters')) {
        throw new FirmwareError(
          'FW_ERR_BAD_ARG',
          `subscribe: unknown topic "${raw}"; topics: state, meters[=HZ], doa, panel, recommendations, changes, all; e.g. subscribe state meters=2`,
        )
      }
      if (val !== undefined) hz = meterRate(val)
      next.add(name as Topic)
    }
    this.#subs = next
    this.#metersHz = hz
    this.#apply()
    return this.value()
  }

  unsubscribe(args: readonly string[]): SubscriptionValue {
    if (args.length === 0 || args.some((a) => a.toLowerCase() === 'all')) this.#subs.clear()
    else {
      for (const a of args) {
        if (!(TOPICS as readonly string[]).includes(a.toLowerCase())) {
          throw new FirmwareError('FW_ERR_BAD_ARG', `unsubscribe: unknown topic "${a}"; topics: ${TOPICS.join(', ')}, all`)
        }
      }
      for (const a of args) this.#subs.delete(a.toLowerCase() as Topic)
    }
    this.#apply()
    return this.value()
  }

  value(): SubscriptionValue {
    const v: SubscriptionValue = {}
    for (const t of TOPICS) v[t] = t === 'meters' && this.#subs.has(t) ? this.#metersHz : this.#subs.has(t)
    return v
  }

  stop(): void {
    clearInterval(this.#metersTimer)
    this.#metersTimer = undefined
    this.#unsubscribeApp?.()
    this.#unsubscribeApp = null
  }

  #apply(): void {
    const wantApp = TOPICS.some((t) => t !== 'meters' && this.#subs.has(t))
    if (wantApp && !this.#unsubscribeApp) this.#unsubscribeApp = this.#app.subscribe((ev) => this.#onEvent(ev))
    if (!wantApp && this.#unsubscribeApp) {
      this.#unsubscribeApp()
      this.#unsubscribeApp = null
    }
    clearInterval(this.#metersTimer)
    this.#metersTimer = undefined
    if (this.#subs.has('meters')) {
      this.#metersTimer = setInterval(
        () => {
          const m = this.#app.meters()
          if (m) this.#emit(metersLine(m))
        },
        Math.round(1000 / this.#metersHz),
      )
    }
  }

  #onEvent(ev: ApplianceEvent): void {
    try {
      const topic = TOPIC_OF[ev.type]
      if (topic === null || !this.#subs.has(topic)) return
      if (topic === 'doa') {
        const now = Date.now()
        if (now - this.#lastDoa < 100) return
        this.#lastDoa = now
      }
      const line = eventFields(ev)
      if (line) this.#emit(line)
    } catch (e) {
      this.#log(`console event failed: ${(e as Error).message}`)
    }
  }
}

function meterRate(val: string): number {
  const v = /^\d+(\.\d+)?$/.test(val) ? Number(val) : NaN
  if (!(v >= 0.1 && v <= 20))
    throw new FirmwareError('FW_ERR_BAD_ARG', `subscribe: the meters rate must be 0.1 to 20 per second, got "${val}"; e.g. subscribe meters=2`)
  return v
}
