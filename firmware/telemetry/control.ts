// Turning telemetry on and off on a running unit, like OSC: off unless an admin turns it on, the
// setting kept in the store (config.subsystems.telemetry) so it survives a restart, applied live.
// `telemetry show|on|off` on the one registry.
import { join } from 'node:path'
import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { loadIdentity } from '../secrets/identity.ts'
import type { ConfigStore } from '../store/config.ts'
import { AuditLog } from '../transport/audit.ts'
import { FleetCommands } from './fleet-commands.ts'
import { readCa, TELEMETRY_DEFAULTS, Telemetry, type TelemetryDeps, type TelemetrySetting, type TelemetryStats } from './publisher.ts'
import { LEVEL_RE } from './topics.ts'

export const TELEMETRY_OFF: TelemetrySetting = { enabled: false, url: '', site: '', stage: '', ca: '', ...TELEMETRY_DEFAULTS }

const URL_RE = /^mqtts:\/\/[A-Za-z0-9.:[\]-]+(:\d{1,5})?$/

const num = (v: unknown, min: number, max: number, dflt: number): number | null => {
  if (v === undefined) return dflt
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : null
}

/** Reads the stored setting; anything malformed counts as off (fail closed). */
export function telemetrySettingFrom(subsystems: Record<string, unknown>): TelemetrySetting {
  const v = subsystems.telemetry as Record<string, unknown> | undefined
  if (v?.enabled !== true) return { ...TELEMETRY_OFF }
  const { url, site, stage, unit, ca } = v
  if (typeof url !== 'string' || !URL_RE.test(url)) return { ...TELEMETRY_OFF }
  if (typeof site !== 'string' || !LEVEL_RE.test(site) || typeof stage !== 'string' || !LEVEL_RE.test(stage)) return { ...TELEMETRY_OFF }
  if (unit !== undefined && (typeof unit !== 'string' || !LEVEL_RE.test(unit))) return { ...TELEMETRY_OFF }
  if (typeof ca !== 'string' || ca.length === 0) return { ...TELEMETRY_OFF }
  const healthS = num(v.healthS, 0.2, 3600, TELEMETRY_DEFAULTS.healthS)
  const maxRate = num(v.maxRate, 1, 10000, TELEMETRY_DEFAULTS.maxRate)
  const keepaliveS = num(v.keepaliveS, 1, 600, TELEMETRY_DEFAULTS.keepaliveS)
  const bufferBytes = num(v.bufferBytes, 4096, 1 << 30, TELEMETRY_DEFAULTS.bufferBytes)
  const bufferAgeS = num(v.bufferAgeS, 1, 30 * 86400, TELEMETRY_DEFAULTS.bufferAgeS)
  if (healthS === null || maxRate === null || keepaliveS === null || bufferBytes === null || bufferAgeS === null) return { ...TELEMETRY_OFF }
  return {
    enabled: true,
    url,
    site,
    stage,
    ...(unit ? { unit } : {}),
    ca,
    healthS,
    maxRate,
    keepaliveS,
    bufferBytes,
    bufferAgeS,
    commands: v.commands === true,
  }
}

export interface TelemetryControlDeps {
  config: ConfigStore
  dataDir: string
  temperatures?: TelemetryDeps['temperatures']
  versions?: TelemetryDeps['versions']
  update?: TelemetryDeps['update']
  log?: TelemetryDeps['log']
  /** For fleet commands (when a setting turns them on): the one registry and the audit file. */
  registry?: CommandRegistry
  auditFile?: string
}

export class TelemetryControl {
  #running: Telemetry | null = null
  #audit: AuditLog | null = null
  #setting: TelemetrySetting = { ...TELEMETRY_OFF }
  readonly #app: ApplianceApi
  readonly #deps: TelemetryControlDeps

  constructor(app: ApplianceApi, deps: TelemetryControlDeps) {
    this.#app = app
    this.#deps = deps
  }

  get setting(): TelemetrySetting {
    return { ...this.#setting }
  }

  get running(): Telemetry | null {
    return this.#running
  }

  /** The running publisher's figures (null while off). */
  stats(): TelemetryStats | null {
    return this.#running?.stats ?? null
  }

  async startFromStore(): Promise<void> {
    const cfg = await this.#deps.config.load()
    await this.apply(telemetrySettingFrom(cfg.subsystems), false)
  }

  /** Applies a setting live (the old publisher stops first), then stores it (`persist`). A setting
   *  that cannot start changes nothing: the previous publisher is started again. */
  async apply(next: TelemetrySetting, persist = true): Promise<TelemetrySetting> {
    if (next.enabled) {
      // Checked before the running publisher stops: no identity, no CA file, nothing changes.
      loadIdentity(this.#deps.dataDir)
      readCa(next.ca)
    }
    const previous = this.#setting
    await this.#running?.stop()
    this.#running = null
    try {
      this.#running = next.enabled ? await this.#start(next) : null
    } catch (e) {
      this.#running = previous.enabled ? await this.#start(previous).catch(() => null) : null
      throw e
    }
    this.#setting = { ...next }
    if (persist) {
      const cfg = await this.#deps.config.load()
      await this.#deps.config.update({
        // `commands` is kept too: a restart must not silently turn fleet commands off (or on).
        subsystems: { ...cfg.subsystems, telemetry: { ...this.#setting, commands: this.#setting.commands === true } },
      })
    }
    return this.setting
  }

  #start(s: TelemetrySetting): Promise<Telemetry> {
    const identity = loadIdentity(this.#deps.dataDir)
    let onCommand: TelemetryDeps['onCommand']
    if (s.commands && this.#deps.registry) {
      this.#audit ??= this.#deps.auditFile ? new AuditLog(this.#deps.auditFile) : null
      const fleet = new FleetCommands(this.#deps.registry, this.#deps.dataDir, identity.caCertPem, this.#audit)
      onCommand = (payload, topic) => fleet.handle(payload, topic)
    }
    return Telemetry.start(this.#app, s, {
      identity,
      ...(onCommand ? { onCommand } : {}),
      queueDir: join(this.#deps.dataDir, 'telemetry', 'queue'),
      ...(this.#deps.temperatures ? { temperatures: this.#deps.temperatures } : {}),
      ...(this.#deps.versions ? { versions: this.#deps.versions } : {}),
      ...(this.#deps.update ? { update: this.#deps.update } : {}),
      ...(this.#deps.log ? { log: this.#deps.log } : {}),
    })
  }

  async stop(): Promise<void> {
    await this.#running?.stop()
    this.#running = null
    this.#audit?.close()
    this.#audit = null
  }
}

const LEVEL = { type: 'string' as const, maxLength: 64, pattern: LEVEL_RE }

/** `telemetry show`, `telemetry on ...`, `telemetry off` on the one registry. */
export function registerTelemetryCommands(registry: CommandRegistry, control: TelemetryControl): void {
  const describe = () => {
    const s = control.setting
    const r = control.running?.stats
    return {
      enabled: s.enabled,
      url: s.url || 'none',
      root: r?.root ?? 'none',
      connected: r?.connected ?? false,
      queued: r?.queuedMessages ?? 0,
      dropped: r?.dropped ?? 0,
      sent: r?.sent ?? 0,
      commands: s.commands === true,
      health_s: s.healthS,
      max_rate: s.maxRate,
    }
  }
  registry.register({
    name: 'telemetry show',
    summary: 'show whether MQTT telemetry is on, to which broker, under which topic, and its buffer',
    examples: ['telemetry show'],
    permission: 'observe',
    args: [],
    handler: () => describe(),
  })
  registry.register({
    name: 'telemetry on',
    summary: 'publish telemetry over MQTT 5 + TLS with the unit certificate under <site>/<stage>/<unit>/',
    examples: ['telemetry on url=mqtts://broker.local:8883 site=fest stage=main ca=/etc/stage/broker-ca.pem'],
    permission: 'admin',
    args: [
      { name: 'url', type: 'string', maxLength: 200, pattern: URL_RE, help: 'the broker, mqtts://host:port' },
      { name: 'site', ...LEVEL, help: 'the site level of the topic tree' },
      { name: 'stage', ...LEVEL, help: 'the stage level of the topic tree' },
      { name: 'ca', type: 'string', maxLength: 400, pattern: /^\/[A-Za-z0-9_./-]+$/, help: "the broker's CA certificate (PEM file on the unit)" },
      { name: 'unit', ...LEVEL, optional: true, help: 'the unit level (default: the device serial)' },
      {
        name: 'health',
        type: 'number',
        min: 0.2,
        max: 3600,
        optional: true,
        default: TELEMETRY_DEFAULTS.healthS,
        unit: 's',
        help: 'seconds between health messages',
      },
      {
        name: 'rate',
        type: 'number',
        min: 1,
        max: 10000,
        optional: true,
        default: TELEMETRY_DEFAULTS.maxRate,
        unit: '/s',
        help: 'most messages a second to the broker',
      },
      {
        name: 'commands',
        type: 'bool',
        optional: true,
        default: false,
        help: 'take signed commands from the fleet (operate at most, never destructive; docs/telemetry.md)',
      },
      {
        name: 'keepalive',
        type: 'int',
        min: 1,
        max: 600,
        optional: true,
        default: TELEMETRY_DEFAULTS.keepaliveS,
        unit: 's',
        help: 'MQTT keep-alive (the last will fires within 1.5 of these)',
      },
    ],
    handler: async (args, { app, principal }) => {
      const next: TelemetrySetting = {
        ...TELEMETRY_OFF,
        enabled: true,
        url: String(args.url),
        site: String(args.site),
        stage: String(args.stage),
        ca: String(args.ca),
        ...(args.unit !== undefined ? { unit: String(args.unit) } : {}),
        healthS: Number(args.health),
        maxRate: Number(args.rate),
        keepaliveS: Number(args.keepalive),
        commands: args.commands === true,
      }
      if (telemetrySettingFrom({ telemetry: next }).enabled !== true) throw new FirmwareError('FW_ERR_BAD_OPTION', 'telemetry: the setting is not valid')
      await control.apply(next)
      app.publish?.({ type: 'change', change: { what: 'telemetry', target: {}, value: describe(), who: principal.name } })
      return describe()
    },
  })
  registry.register({
    name: 'telemetry off',
    summary: 'stop publishing telemetry (what is buffered stays on disk for the next time)',
    examples: ['telemetry off'],
    permission: 'admin',
    args: [],
    handler: async (_args, { app, principal }) => {
      await control.apply({ ...TELEMETRY_OFF })
      app.publish?.({ type: 'change', change: { what: 'telemetry', target: {}, value: describe(), who: principal.name } })
      return describe()
    },
  })
}
