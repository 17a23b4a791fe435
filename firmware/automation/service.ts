// Inference on the running appliance, as one service for startAppliance({ services: [...] }):
// the worker (health reported to the watchdog), the shipped models, the live feature loop, the
// automation controller over the outputs' EQ, and their commands in the registry.

import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceEvent } from '../contract/appliance.ts'
import type { Service, ServiceHost } from '../contract/service.ts'
import { LiveInference, type LiveInferenceOptions } from '../inference/live.ts'
import { BUILTIN_MANIFESTS } from '../inference/manifest.ts'
import { CROWD_STATE, EQ_RECOMMENDER } from '../inference/models.ts'
import { InferenceService, type InferenceServiceOptions } from '../inference/service.ts'
import { registerInferenceCommands } from './commands.ts'
import { type ApplianceEqSinkOptions, AutomationController, applianceEqSink } from './controller.ts'
import { FeedbackSuppressor, type NotchSink } from './feedback.ts'
import type { AutomationLimits, AutomationMode } from './machine.ts'

export { LiveInference } from '../inference/live.ts'
export { InferenceService } from '../inference/service.ts'
export { RecordingConsent, SnippetStore } from '../inference/snippets.ts'

import type { RecordingConsent, SnippetStore } from '../inference/snippets.ts'

export { BUILTIN_MANIFESTS, loadManifest } from '../inference/manifest.ts'

export interface InferenceAttachOptions {
  /** The registry to add mode/accept/reject/rollback/model commands to. Defaults to none. */
  registry?: CommandRegistry
  /** Manifests to activate at start. Defaults to the shipped models. */
  manifests?: string[]
  /** Automation mode at start. Defaults to advisory. */
  mode?: AutomationMode
  limits?: Partial<AutomationLimits>
  /** Which EQ band slots of each output automation owns. Defaults to 0..7. */
  eq?: ApplianceEqSinkOptions
  live?: LiveInferenceOptions
  /** Where feedback notches go (the engine's setNotch). Defaults to none: the suppressor only proposes. */
  notchSink?: NotchSink
  /** The feedback suppressor's mode. Defaults to the automation mode when a notch sink is given, else advisory. */
  feedbackMode?: AutomationMode
  service?: InferenceServiceOptions
  /** Most seconds between two crowd-state class events while the label stays the same (a change is
   *  published at once). Defaults to 1; bounds the class events to one a second plus the changes. */
  classEveryS?: number
  /** Least ms between two `notches` events of one output (changes in between are coalesced into the
   *  next one, which shows the notches as they are then). Defaults to 250. */
  notchesEveryMs?: number
  /** Loop period for features and automation ticks. Defaults to 10 ms. */
  tickMs?: number
  /** Recording consent and the snippet store, for the consent command. Defaults to none (no command). */
  consent?: RecordingConsent
  snippets?: SnippetStore
}

export interface AttachedInference {
  service: InferenceService
  automation: AutomationController
  feedback: FeedbackSuppressor
  live: LiveInference
  stop(): Promise<void>
}

/** Starts inference on an appliance; the returned stop() undoes it all. */
export async function attachInference(app: ServiceHost, opts: InferenceAttachOptions = {}): Promise<AttachedInference> {
  const log = (level: 'info' | 'warn' | 'error', message: string) => app.logLine(level, 'inference', message)
  const publish = (ev: ApplianceEvent) => app.publish(ev)

  const service = new InferenceService({ onHealth: (ev) => app.reportInference(ev), log, ...opts.service })
  await service.start()
  try {
    return await start(app, service, opts, log, publish)
  } catch (e) {
    await service.stop()
    throw e
  }
}

async function start(
  app: ServiceHost,
  service: InferenceService,
  opts: InferenceAttachOptions,
  log: (level: 'info' | 'warn' | 'error', message: string) => void,
  publish: (ev: ApplianceEvent) => void,
): Promise<AttachedInference> {
  for (const m of opts.manifests ?? BUILTIN_MANIFESTS) {
    try {
      await service.activate(m)
    } catch (e) {
      // A refused model leaves its role empty; the rest still runs, and the watchdog hears of it.
      log('error', (e as Error).message)
      app.reportInference({ type: 'inference-error', at: Date.now(), message: (e as Error).message })
    }
  }
  const bandsHz = (service.active(EQ_RECOMMENDER)?.manifest.bandsHz as number[] | undefined) ?? [63, 125, 250, 500, 1000, 2000, 4000, 8000]
  const automation = new AutomationController({
    outputs: app.profile.audio.outputs,
    bandsHz,
    sink: applianceEqSink(app, bandsHz, opts.eq),
    mode: opts.mode ?? 'advisory',
    ...(opts.limits ? { limits: opts.limits } : {}),
    log: (level, message) => log(level, message),
  })
  automation.onRecommendation((r) =>
    publish({
      type: 'recommendation',
      data: {
        id: r.rec.id,
        output: r.rec.output,
        action: r.action,
        mode: r.mode,
        confidence: r.rec.confidence,
        bandsHz: r.bandsHz,
        deltaDb: r.rec.deltaDb,
        proposedDb: r.rec.proposed,
      },
    }),
  )
  automation.onDecision((d) => publish({ type: 'inference', report: { kind: 'decision', ...d } }))
  const onClass = classReporter(opts.classEveryS ?? 1, service.active(CROWD_STATE)?.manifest.minConfidence ?? 0, publish)
  // A result that could not be delivered is logged (the first, then every 100th: a stuck fault
  // must not flood the log) and counted in the live stats.
  let failures = 0
  const onError = (e: Error) => {
    failures++
    if (failures === 1 || failures % 100 === 0) log('error', `live inference could not deliver a result: ${e.message} (${failures} so far)`)
  }
  const userOnClass = opts.live?.onClass
  const userOnSpeech = opts.live?.onSpeech
  const live = new LiveInference(service, automation, {
    onError,
    ...opts.live,
    onClass: (c) => {
      onClass(c)
      userOnClass?.(c)
    },
    // The VAD reports closed speech intervals (no onsets): one event per interval.
    onSpeech: (iv) => {
      publish({ type: 'inference', report: { kind: 'vad', start: iv.start, end: iv.end } })
      userOnSpeech?.(iv)
    },
  })
  // Feedback: alarms from the engine's howl detector go to the suppressor (advisory unless told
  // otherwise); its notches reach the engine through opts.notchSink (none: proposals only).
  // Every notch change passes the sink: the outputs it touched are published as `notches` events from
  // the loop below, at most one per output per notchesEveryMs.
  const notchSink = opts.notchSink ?? { setNotch: () => {} }
  const notchesDirty = new Set<number>()
  const notchesAt = new Map<number, number>()
  const feedback: FeedbackSuppressor = new FeedbackSuppressor({
    outputs: app.profile.audio.outputs,
    sink: {
      setNotch: (n) => {
        notchSink.setNotch(n)
        notchesDirty.add(n.output)
      },
    },
    mode: opts.feedbackMode ?? (opts.notchSink ? (opts.mode ?? 'advisory') : 'advisory'),
    log: (level, message) => log(level, message),
  })
  live.setFeedbackSink({
    alarm: (a) => {
      log('warn', `feedback on output ${a.output}: ${a.hz} Hz, ${a.levelDb} dBFS, ${a.growthDbPerS} dB/s (${a.reason})`)
      publish({
        type: 'inference',
        report: { kind: 'howl', output: a.output, hz: a.hz, levelDb: a.levelDb, growthDbPerS: a.growthDbPerS, reason: a.reason, t: a.t },
      })
      return feedback.alarm(a)
    },
    observe: (t, output, c) => feedback.observe(t, output, c),
  })
  const notchesEveryMs = opts.notchesEveryMs ?? 250
  const publishNotches = () => {
    if (notchesDirty.size === 0) return
    const now = performance.now()
    for (const output of notchesDirty) {
      if (now - (notchesAt.get(output) ?? -Infinity) < notchesEveryMs) continue
      notchesDirty.delete(output)
      notchesAt.set(output, now)
      const notches = feedback
        .notches()
        .filter((n) => n.output === output && n.enabled)
        .map((n) => ({ hz: n.hz, gainDb: n.gainDb, q: n.q }))
      publish({ type: 'inference', report: { kind: 'notches', output, notches } })
    }
  }
  // The watchdog's inference permission pauses the models and the automation's EQ; not the
  // feedback suppressor, which needs no model (LiveInference.setEnabled).
  const enable = (on: boolean) => {
    live.setEnabled(on)
    automation.setEnabled(on, on ? 'watchdog ACTIVE' : 'watchdog has inference disabled')
  }
  enable(app.inferenceEnabled)
  const unsubscribe = app.onInferencePermission(enable)
  if (opts.registry) {
    registerInferenceCommands(opts.registry, {
      service,
      automation,
      ...(opts.consent ? { consent: opts.consent } : {}),
      ...(opts.snippets ? { snippets: opts.snippets } : {}),
    })
  }
  const timer = setInterval(() => {
    // A throw in a timer callback ends the process: automation's trouble is logged, the sound goes on.
    try {
      const f = app.pollFeatures()
      if (f) live.feed(f)
      automation.tick()
      feedback.tick(performance.now() / 1000)
      publishNotches()
      app.automationMode = automation.mode
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)))
    }
  }, opts.tickMs ?? 10)
  timer.unref()
  return {
    service,
    automation,
    feedback,
    live,
    async stop() {
      clearInterval(timer)
      unsubscribe()
      await service.stop()
    },
  }
}

/** Labels that raise an alarm when classified with at least the model's minimum confidence. */
export const ALARM_LABELS: readonly string[] = ['feedback']

/**
 * Turns the classifier's results (4 a second by default) into class and alarm events: a class on
 * each change of label, else at most once per `everyS`; an alarm once per onset of an alarm label.
 */
export function classReporter(
  everyS: number,
  minConfidence: number,
  publish: (ev: ApplianceEvent) => void,
): (c: { t: number; label: string; confidence: number }) => void {
  let lastLabel: string | null = null
  let lastAt = -Infinity
  let inAlarm = false
  return (c) => {
    const now = performance.now()
    if (c.label !== lastLabel || now - lastAt >= everyS * 1000) {
      lastLabel = c.label
      lastAt = now
      publish({ type: 'inference', report: { kind: 'class', label: c.label, confidence: c.confidence, t: c.t } })
    }
    const alarm = ALARM_LABELS.includes(c.label) && c.confidence >= minConfidence
    if (alarm && !inAlarm) publish({ type: 'inference', report: { kind: 'alarm', alarm: c.label, confidence: c.confidence, t: c.t } })
    inAlarm = alarm
  }
}

/** The same as a startAppliance service. */
export function inferenceService(opts: InferenceAttachOptions = {}): Service {
  return async (app) => attachInference(app, opts)
}
