// The telemetry publisher: MQTT 5 over TLS with the unit's own identity certificate. It listens to
// the one event stream (transitions, recommendations, setting changes) and samples health on a
// timer; every message goes through the disk buffer (queue.ts) first and leaves it, in order, only
// once the broker acknowledged it (QoS 1), at most `maxRate` messages a second. The retained
// `online` topic is set on each connect and by the last will, so a dead unit shows as offline.
import { readFileSync } from 'node:fs'
import { connect, type MqttClient } from 'mqtt'
import type { ApplianceApi, ApplianceEvent } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import type { DeviceIdentity } from '../secrets/identity.ts'
import { type Batch, DiskQueue, type QueueStats } from './queue.ts'
import { type TopicName, topicFor, topicRoot } from './topics.ts'

export interface TelemetrySetting {
  enabled: boolean
  /** mqtts://host:port */
  url: string
  site: string
  stage: string
  /** The unit's level in the tree; defaults to the device serial (the certificate's CN). */
  unit?: string
  /** The broker's CA certificate (PEM file). */
  ca: string
  /** Seconds between health messages. */
  healthS: number
  /** Most messages a second sent to the broker (the rest waits on disk). */
  maxRate: number
  /** MQTT keep-alive in seconds: the broker publishes the last will within 1.5 of these. */
  keepaliveS: number
  /** Disk buffer bounds. */
  bufferBytes: number
  bufferAgeS: number
  /** Take signed commands from the fleet on <root>/cmd/request (fleet-commands.ts). Off by default. */
  commands?: boolean
}

export const TELEMETRY_DEFAULTS = { healthS: 5, maxRate: 50, keepaliveS: 10, bufferBytes: 16 * 1024 * 1024, bufferAgeS: 24 * 3600 } as const

export interface TelemetryDeps {
  identity: DeviceIdentity
  /** Where the buffer lives (<dataDir>/telemetry/queue). */
  queueDir: string
  /** °C per zone, if the unit has sensors. */
  temperatures?: () => Record<string, number>
  /** What the unit runs (firmware, panel, board). */
  versions?: () => Record<string, string | null>
  log?: (level: 'info' | 'warn', message: string) => void
  /** The update status: the running image's version and slot, and whether it awaits confirmation (null: not known). */
  update?: () => { version: string; slot: string | null; pending: boolean | null }
  /** Runs a fleet command request and returns the reply to publish (only with `commands` on). */
  onCommand?: (payload: Buffer, topic: string) => Promise<unknown>
}

export interface TelemetryStats extends QueueStats {
  connected: boolean
  sent: number
  /** Messages the broker refused (a reason code such as not authorized). */
  refused: number
  root: string
}

/** The broker's CA certificate; FW_ERR_BAD_OPTION when the file cannot be read or holds no certificate. */
export function readCa(file: string): Buffer {
  let ca: Buffer
  try {
    ca = readFileSync(file)
  } catch (e) {
    throw new FirmwareError(
      'FW_ERR_BAD_OPTION',
      `telemetry: the broker CA file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    )
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new FirmwareError('FW_ERR_BAD_OPTION', `telemetry: ${file} holds no PEM certificate`)
  return ca
}

export class Telemetry {
  readonly root: string
  readonly #app: ApplianceApi
  readonly #setting: TelemetrySetting
  readonly #deps: TelemetryDeps
  readonly #queue: DiskQueue
  readonly #client: MqttClient
  readonly #timers: NodeJS.Timeout[] = []
  readonly #unsubscribe: () => void
  #pending: Array<{ name: TopicName; body: Record<string, unknown>; retain: boolean }> = []
  #flushTimer: NodeJS.Timeout | null = null
  #flushing: Promise<void> = Promise.resolve()
  #pumping = false
  #stopped = false
  #sent = 0
  #refused = 0
  #nextSendAt = 0
  #lastUpdate: string | null = null
  #cpu = process.cpuUsage()
  #cpuAt = performance.now()
  /** What the last health message carried (for the metrics endpoint). */
  lastHealth: Record<string, unknown> | null = null

  private constructor(app: ApplianceApi, setting: TelemetrySetting, deps: TelemetryDeps, queue: DiskQueue, ca: Buffer) {
    this.#app = app
    this.#setting = setting
    this.#deps = deps
    this.#queue = queue
    const unit = setting.unit ?? deps.identity.serial
    this.root = topicRoot(setting.site, setting.stage, unit)
    const will = { online: false, reason: 'lost', unit, at: null }
    this.#client = connect(setting.url, {
      protocolVersion: 5,
      clientId: `stage-unit-${unit}`,
      clean: true,
      keepalive: setting.keepaliveS,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      key: deps.identity.deviceKeyPem,
      cert: deps.identity.deviceCertPem,
      ca,
      rejectUnauthorized: true,
      will: { topic: topicFor(this.root, 'online'), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    })
    let wasUp = false
    this.#client.on('connect', () => {
      if (!wasUp) this.#log('info', `telemetry: connected to ${setting.url} as ${this.root}`)
      wasUp = true
      this.#onConnect()
    })
    this.#client.on('offline', () => {
      if (wasUp) this.#log('warn', `telemetry: broker ${setting.url} unreachable; buffering on disk`)
      wasUp = false
    })
    this.#client.on('error', (e) => this.#log('warn', `telemetry: ${e.message}`))
    const requests = `${this.root}/cmd/request`
    const onCommand = setting.commands ? deps.onCommand : undefined
    if (onCommand) {
      this.#client.on('message', (topic, payload) => {
        if (topic !== requests) return
        void onCommand(payload, topic).then(
          (reply) => this.#client.publishAsync(`${this.root}/cmd/reply`, JSON.stringify(reply), { qos: 1 }).catch(() => {}),
          (e: Error) => this.#log('warn', `telemetry: a fleet command failed: ${e.message}`),
        )
      })
    }
    this.#unsubscribe = app.subscribe((ev) => this.#onEvent(ev))
    this.#emit('state', this.#stateBody(), true)
    this.#timers.push(
      setInterval(() => {
        this.#emit('health', this.#health(), true)
        this.#publishUpdate()
      }, setting.healthS * 1000),
    )
  }

  static async start(app: ApplianceApi, setting: TelemetrySetting, deps: TelemetryDeps): Promise<Telemetry> {
    // One reading of the CA: readCa also refuses a file that holds no certificate.
    const ca = readCa(setting.ca)
    const queue = await DiskQueue.open(deps.queueDir, { maxBytes: setting.bufferBytes, maxAgeMs: setting.bufferAgeS * 1000 })
    return new Telemetry(app, setting, deps, queue, ca)
  }

  get stats(): TelemetryStats {
    return { ...this.#queue.stats, connected: this.#client.connected, sent: this.#sent, refused: this.#refused, root: this.root }
  }

  /** Publishes a health message now (besides the timer). */
  healthNow(): void {
    this.#emit('health', this.#health(), true)
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const t of this.#timers) clearInterval(t)
    this.#unsubscribe()
    this.#flush()
    await this.#flushing
    if (this.#client.connected) {
      const bye = { online: false, reason: 'stopped', unit: this.root, at: Date.now() }
      await Promise.race([
        this.#client.publishAsync(topicFor(this.root, 'online'), JSON.stringify(bye), { qos: 1, retain: true }).catch(() => {}),
        new Promise((r) => setTimeout(r, 1000)),
      ])
    }
    // Forced: nothing waits on the broker. Bounded all the same: a stop never hangs the unit's shutdown.
    await Promise.race([this.#client.endAsync(true).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())])
  }

  #log(level: 'info' | 'warn', message: string): void {
    this.#deps.log?.(level, message)
  }

  #onConnect(): void {
    const c = this.#client
    if (this.#setting.commands && this.#deps.onCommand) c.subscribe(`${this.root}/cmd/request`, { qos: 1 })
    const opts = { qos: 1 as const, retain: true }
    c.publish(topicFor(this.root, 'online'), JSON.stringify({ online: true, reason: 'connected', at: Date.now(), boot: this.#queue.boot }), opts)
    c.publish(topicFor(this.root, 'versions'), JSON.stringify({ at: Date.now(), ...(this.#deps.versions?.() ?? {}) }), opts)
    this.#lastUpdate = null
    this.#publishUpdate()
    c.publish(topicFor(this.root, 'buffer'), JSON.stringify({ at: Date.now(), ...this.#queue.stats }), opts)
    // The state again, after the backlog: a broker restarted without persistence has lost the retained one.
    this.#emit('state', this.#stateBody(), true)
    void this.#pump()
  }

  /** The retained update status: on each connect, and on the health timer when it changed (a confirmation). */
  #publishUpdate(): void {
    if (!this.#deps.update || !this.#client.connected) return
    const now = JSON.stringify(this.#deps.update())
    if (now === this.#lastUpdate) return
    this.#lastUpdate = now
    this.#client.publish(topicFor(this.root, 'update'), JSON.stringify({ at: Date.now(), ...JSON.parse(now) }), { qos: 1, retain: true })
  }

  #onEvent(ev: ApplianceEvent): void {
    if (ev.type === 'transition') {
      this.#emit('transition', { ...ev.record }, false)
      this.#emit('state', this.#stateBody(), true)
    } else if (ev.type === 'recommendation') {
      this.#emit('recommendation', { recommendation: ev.data }, false)
    } else if (ev.type === 'change') {
      this.#emit('change', { ...ev.change }, false)
    } else if (ev.type === 'inference') {
      const { kind, ...body } = ev.report
      // A howl is an alarm (its body says `alarm: 'howl'`); notches, speech intervals and tracks stay on the unit's streams.
      if (kind === 'notches' || kind === 'vad' || kind === 'tracks') return
      if (kind === 'howl') this.#emit('alarm', { alarm: 'howl', ...body }, false)
      else this.#emit(kind === 'class' ? 'inferenceClass' : kind === 'alarm' ? 'alarm' : 'decision', body, false)
    }
  }

  #stateBody(): Record<string, unknown> {
    const s = this.#app.status()
    return { state: s.state, cause: s.cause, since: s.since, relay: s.relay, mode: s.automationMode }
  }

  #health(): Record<string, unknown> {
    const s = this.#app.status()
    const now = performance.now()
    const cpu = process.cpuUsage(this.#cpu)
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.#cpuAt)) * 100
    this.#cpu = process.cpuUsage()
    this.#cpuAt = now
    const body = {
      state: s.state,
      uptimeS: Math.round(s.uptimeS),
      xruns: s.engine.xruns,
      overruns: s.engine.overruns,
      droppedCommands: s.engine.droppedCommands,
      droppedEvents: s.engine.droppedEvents,
      blockUsP50: s.engine.blockTimeUs.p50,
      blockUsP99: s.engine.blockTimeUs.p99,
      temperatures: this.#deps.temperatures?.() ?? {},
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      rssBytes: process.memoryUsage.rss(),
      buffer: this.#queue.stats,
    }
    this.lastHealth = body
    return body
  }

  /** Queues one message: numbered now, written to disk in the next flush (a few ms), then sent. */
  #emit(name: TopicName, body: Record<string, unknown>, retain: boolean): void {
    if (this.#stopped) return
    this.#pending.push({ name, body: { boot: this.#queue.boot, seq: this.#queue.nextSeq(), at: Date.now(), ...body }, retain })
    this.#flushTimer ??= setTimeout(() => this.#flush(), 20)
  }

  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer)
    this.#flushTimer = null
    const batch = this.#pending.map((m) => ({ topic: topicFor(this.root, m.name), payload: JSON.stringify(m.body), retain: m.retain }))
    this.#pending = []
    if (batch.length === 0) return
    this.#flushing = this.#flushing
      .then(() => this.#queue.enqueue(batch))
      .then(
        () => void this.#pump(),
        (e: Error) => this.#log('warn', `telemetry: could not buffer ${batch.length} messages: ${e.message}`),
      )
  }

  /** Sends the buffer, oldest batch first, while connected. One pump at a time keeps the order. */
  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (!this.#stopped && this.#client.connected) {
        const batch = await this.#queue.peek()
        if (!batch) break
        if (!(await this.#send(batch))) break
        await this.#queue.ack(batch)
      }
    } catch (e) {
      this.#log('warn', `telemetry: ${(e as Error).message}`)
    } finally {
      this.#pumping = false
    }
  }

  /** Publishes a batch in order (mqtt.js keeps the order on the wire); true once all were acknowledged. */
  async #send(batch: Batch): Promise<boolean> {
    // Each acknowledgement is settled as it is made: one that fails while the next message waits for
    // the rate limit (the publisher stopping: "client disconnecting") must not be an unhandled
    // rejection, which would end the firmware process.
    const acks: Array<Promise<PromiseSettledResult<unknown>>> = []
    const gap = 1000 / this.#setting.maxRate
    for (const m of batch.messages) {
      const wait = this.#nextSendAt - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      // Stopped meanwhile: the rest of the batch stays on disk for the next start.
      if (this.#stopped) return false
      this.#nextSendAt = Math.max(performance.now(), this.#nextSendAt) + gap
      // Published while connected: if the link drops before the acknowledgement, mqtt.js resends
      // the message itself on reconnect and only then calls back, so nothing is sent twice from here.
      acks.push(
        this.#client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain }).then(
          (value) => ({ status: 'fulfilled' as const, value }),
          (reason: unknown) => ({ status: 'rejected' as const, reason }),
        ),
      )
    }
    const results = await Promise.all(acks)
    for (const r of results) {
      if (r.status === 'fulfilled') {
        this.#sent++
        continue
      }
      const e = r.reason as Error & { code?: unknown }
      // A reason code from the broker (say, 0x87 not authorized) will not change on a retry: logged and
      // counted, and the buffer moves on. Anything else (the link went) keeps the batch for the next connect.
      if (typeof e.code !== 'number') return false
      this.#refused++
      this.#log('warn', `telemetry: the broker refused a message (reason code ${e.code}): ${e.message}`)
    }
    return true
  }
}
