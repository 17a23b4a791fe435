// Turning OSC on and off on a running unit. OSC has no encryption and no authentication beyond the
// source address, so it is off by default, only an admin can open it, the allow-list is part of
// the same decision, and the setting is kept in the store (config.subsystems.osc) so it survives a
// restart. Applied live: the listener is restarted with the new allow-list; if the new settings
// cannot start (say, the port is taken), the old listener stays as it was.
import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import type { ConfigStore } from '../store/config.ts'
import { type OscHandle, type OscOptions, startOsc } from './server.ts'

export interface OscSetting {
  enabled: boolean
  /** IPs or CIDRs allowed to send. */
  allow: string[]
}

export const OSC_OFF: OscSetting = { enabled: false, allow: [] }

/** Reads the stored setting; anything malformed counts as off (fail closed). */
export function oscSettingFrom(subsystems: Record<string, unknown>): OscSetting {
  const v = subsystems.osc as { enabled?: unknown; allow?: unknown } | undefined
  if (v?.enabled !== true || !Array.isArray(v.allow) || !v.allow.every((a) => typeof a === 'string')) return { ...OSC_OFF }
  return { enabled: true, allow: [...(v.allow as string[])] }
}

export interface OscControlDeps {
  /** Where the setting is kept. */
  config: ConfigStore
  /** Listener options other than enabled/allow (port, audit file, log). */
  options?: OscOptions
  /** Told the listening port after each change (null: off). */
  onPort?: (port: number | null) => void
}

export class OscControl {
  #handle: OscHandle | null = null
  #setting: OscSetting = { ...OSC_OFF }
  readonly #config: ConfigStore
  readonly #start: (s: OscSetting) => Promise<OscHandle>

  constructor(app: ApplianceApi, registry: CommandRegistry, deps: OscControlDeps) {
    const { config, options = {}, onPort } = deps
    this.#config = config
    this.#start = async (s) => {
      const h = await startOsc(app, registry, app.profile, { ...options, enabled: s.enabled, allow: s.allow })
      onPort?.(h.enabled ? h.port : null)
      return h
    }
  }

  get setting(): OscSetting {
    return { ...this.#setting, allow: [...this.#setting.allow] }
  }

  get port(): number | null {
    return this.#handle?.enabled ? this.#handle.port : null
  }

  /** Starts OSC as the store says (off when nothing is stored). */
  async startFromStore(): Promise<void> {
    const cfg = await this.#config.load()
    await this.apply(oscSettingFrom(cfg.subsystems), false)
  }

  /** Applies a setting live, then stores it (`persist`). */
  async apply(next: OscSetting, persist = true): Promise<OscSetting> {
    if (next.enabled && next.allow.length === 0) {
      throw new FirmwareError('FW_ERR_BAD_OPTION', 'OSC needs at least one allowed source: osc on allow=192.168.1.20,10.0.0.0/24')
    }
    const previous = this.#handle
    const previousSetting = this.#setting
    await previous?.stop()
    try {
      this.#handle = await this.#start(next)
      this.#setting = { ...next, allow: [...next.allow] }
    } catch (e) {
      this.#handle = previous ? await this.#start(previousSetting).catch(() => null) : null
      throw e
    }
    if (persist) {
      const cfg = await this.#config.load()
      await this.#config.update({ subsystems: { ...cfg.subsystems, osc: { enabled: next.enabled, allow: next.allow } } })
    }
    return this.setting
  }

  async stop(): Promise<void> {
    await this.#handle?.stop()
    this.#handle = null
  }
}

/** `osc show`, `osc on allow=...`, `osc off` on the one registry. */
export function registerOscCommands(registry: CommandRegistry, control: OscControl): void {
  const describe = () => ({ enabled: control.setting.enabled, allow: control.setting.allow.join(',') || 'none', port: control.port ?? 'off' })
  registry.register({
    name: 'osc show',
    summary: 'show whether OSC (unencrypted UDP control) is on, on which port, and who may send',
    examples: ['osc show'],
    permission: 'observe',
    args: [],
    handler: () => describe(),
  })
  registry.register({
    name: 'osc on',
    summary: 'turn OSC on for the listed sources only (no encryption: use on a closed show network)',
    examples: ['osc on allow=192.168.1.20', 'osc on allow=192.168.1.0/24,10.0.0.5'],
    permission: 'admin',
    args: [
      { name: 'allow', type: 'string', maxLength: 400, pattern: /^[0-9A-Fa-f.:/,]+$/, help: 'comma-separated IP addresses or CIDR ranges allowed to send' },
    ],
    handler: async (args, { app, principal }) => {
      const allow = String(args.allow)
        .split(',')
        .filter((a) => a.length > 0)
      await control.apply({ enabled: true, allow })
      app.publish?.({ type: 'change', change: { what: 'osc', target: {}, value: describe(), who: principal.name } })
      return describe()
    },
  })
  registry.register({
    name: 'osc off',
    summary: 'turn OSC off',
    examples: ['osc off'],
    permission: 'admin',
    args: [],
    handler: async (_args, { app, principal }) => {
      await control.apply({ ...OSC_OFF })
      app.publish?.({ type: 'change', change: { what: 'osc', target: {}, value: describe(), who: principal.name } })
      return describe()
    },
  })
}
