// The telemetry topic tree and its payloads. One unit publishes only under its own root,
// `<site>/<stage>/<unit>/`; the broker's ACL holds it there (docs/telemetry.md). Every payload is a
// JSON object carrying `boot` (the unit's start counter, kept on disk) and `seq` (per boot, from 1),
// so a consumer sees the order and can drop a message delivered twice after a power cut.

/** The sub-topics under a unit's root. */
export const TOPICS = {
  /** Retained: {online, reason, at}. The last will sets it to offline. */
  online: 'online',
  /** Retained: the watchdog state and its cause. */
  state: 'state',
  /** Each watchdog transition. */
  transition: 'transition',
  /** Periodic: xruns, overruns, block timing, temperatures, CPU, memory. */
  health: 'health',
  /** Each recommendation of the EQ automation (with what became of it: suggested, awaiting-operator, adopted). */
  recommendation: 'inference/recommendation',
  /** The crowd state: on each change, else at most once per classEveryS (docs/telemetry.md). */
  inferenceClass: 'inference/class',
  /** Each onset of an alarm class (feedback). */
  alarm: 'inference/alarm',
  /** What an engineer did with a recommendation: accepted, rejected, undone, rolled-back. */
  decision: 'inference/decision',
  /** Retained: the running image's version and slot, and whether an update awaits confirmation. */
  update: 'update',
  /** Each setting change with who made it (an engineer accepting or rejecting shows here). */
  change: 'change',
  /** Retained: firmware, panel and board versions. */
  versions: 'versions',
  /** Retained: the telemetry buffer itself (queued, dropped). */
  buffer: 'telemetry',
} as const

export type TopicName = keyof typeof TOPICS

/** A topic level: no wildcards, no separators, nothing MQTT treats specially. */
export const LEVEL_RE = /^[A-Za-z0-9_.-]{1,64}$/

export function topicRoot(site: string, stage: string, unit: string): string {
  return `${site}/${stage}/${unit}`
}

export function topicFor(root: string, name: TopicName): string {
  return `${root}/${TOPICS[name]}`
}
