// Everything `firmware run` attaches to the appliance, around ONE command registry: the store
// (presets, the health report recovery waits for), inference and automation, the serial console,
// and the network API (and OSC when enabled). Each transport calls the same registry, so a command
// exists once. A service that cannot start on this unit (say, the API on a unit not provisioned
// yet) says why in the log and the others run: the sound never waits on a transport.
import { createRegistry } from '../commands/index.ts'
import { consoleService } from '../console/index.ts'
import { networkService } from '../api/service.ts'
import { storeService } from '../store/service.ts'
import { inferenceService } from '../inference/index.ts'
import type { Appliance } from './appliance.ts'
import type { Service } from './start.ts'

export interface StackOptions {
  /** Each part can be left out (tests, a unit without models). All default to on. */
  store?: boolean
  inference?: boolean
  console?: boolean
  api?: boolean
  /** Where services report trouble. Defaults to the appliance's log (and stderr for warnings). */
  log?: (level: 'info' | 'warn', message: string) => void
}

export function applianceStack(opts: StackOptions = {}): Service {
  return async (app: Appliance) => {
    const log = opts.log ?? ((level: 'info' | 'warn', message: string) => app.logLine(level, 'services', message))
    const registry = createRegistry(app)
    const stops: Array<() => Promise<void>> = []
    const stopAll = async () => {
      for (const s of stops.reverse()) await s().catch(() => {})
    }
    try {
      if (opts.store !== false) stops.push((await storeService({ registry, log: (l, m) => log(l === 'warn' ? 'warn' : 'info', `store: ${m}`) })(app)).stop)
      if (opts.inference !== false) stops.push((await inferenceService({ registry })(app)).stop)
      if (opts.console !== false) {
        const c = await consoleService({ registry, log: (l, m) => log(l === 'info' ? 'info' : 'warn', `console: ${m}`) })(app)
        stops.push(c.stop)
        if ('path' in c && typeof c.path === 'string') app.endpoints.set('console', c.path)
      }
      if (opts.api !== false) {
        const n = await networkService({ registry, log })(app)
        stops.push(n.stop)
        app.endpoints.set('api', n.api ? `https://127.0.0.1:${n.api.port}` : 'off (not provisioned: see docs/provisioning.md)')
        if (n.osc) app.endpoints.set('osc', `udp ${n.osc.port}`)
      }
    } catch (e) {
      await stopAll()
      throw e
    }
    return { stop: stopAll }
  }
}
