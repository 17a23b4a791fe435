// The API and OSC as one appliance service, the way `firmware run` attaches them:
//   startAppliance(profile, { services: [networkService({ osc: { enabled: true, allow: [...] } })] })
// Fail-open: a unit that is not provisioned yet (or whose identity does not load) runs without the
// API, says why in its log, and keeps passing audio; it never refuses to start over it.
import { join } from 'node:path'
import { type ApiHandle, type ApiOptions, startApi } from '../api/server.ts'
import { createRegistry } from '../commands/index.ts'
import type { RegistryForApi } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { isFirmwareError } from '../errors.ts'
import { type OscHandle, type OscOptions, startOsc } from '../osc/server.ts'

export interface NetworkServiceOptions {
  /** The registry to use (share the console's). Defaults to createRegistry(app). */
  registry?: RegistryForApi | ((app: ApplianceApi) => RegistryForApi)
  /** API options; `enabled: false` turns the API off. Defaults to on, port from the profile. */
  api?: ApiOptions & { enabled?: boolean }
  /** OSC options; off unless `enabled: true`. */
  osc?: OscOptions
  /** Where to say what happened. Defaults to stderr. */
  log?: (level: 'info' | 'warn', message: string) => void
}

export interface NetworkServiceHandle {
  api: ApiHandle | null
  osc: OscHandle | null
  stop(): Promise<void>
}

export function networkService(opts: NetworkServiceOptions = {}): (app: ApplianceApi) => Promise<NetworkServiceHandle> {
  return async (app) => {
    const log = opts.log ?? ((level, m) => process.stderr.write(`${level}: ${m}\n`))
    const registry = typeof opts.registry === 'function' ? opts.registry(app) : (opts.registry ?? createRegistry(app))
    let api: ApiHandle | null = null
    if (opts.api?.enabled !== false) {
      try {
        api = await startApi(app, registry, app.profile, opts.api ?? {})
        log('info', `API on port ${api.port} (TLS 1.3, client certificates)`)
      } catch (e) {
        if (!isFirmwareError(e)) throw e
        log('warn', `API off: ${e.message} [${e.code}]`)
      }
    }
    let osc: OscHandle | null = null
    if (opts.osc?.enabled) {
      const oscOpts: OscOptions = { ...opts.osc }
      if (!oscOpts.log) oscOpts.log = log
      if (!oscOpts.auditFile) oscOpts.auditFile = join(opts.api?.dataDir ?? app.profile.dataDir, 'logs', 'osc-audit.jsonl')
      osc = await startOsc(app, registry, app.profile, oscOpts)
      log('info', `OSC on UDP ${osc.port} (no encryption; allowed: ${(opts.osc.allow ?? []).join(', ') || 'nobody'})`)
    }
    return {
      api,
      osc,
      stop: async () => {
        await osc?.stop()
        await api?.stop()
      },
    }
  }
}
