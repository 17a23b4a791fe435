// The FOH page's test rig: a provisioned unit on the sim board (real engine, watchdog, simulated
// front panel on its PTY) with inference's automation (no models: the test hands it
// recommendations, as the live recommender does) and the API serving the page; Debian's Chromium
// driven by playwright-core, which presents the crew's PKCS#12 bundle in a real mutual-TLS
// handshake with the unit (`clientCertificates`). The page is built first when its build is
// missing or older than its sources.
import type { Browser, BrowserContext } from 'playwright-core'
import { chromium } from 'playwright-core'
import { type ApiHandle, startApi } from '../../firmware/api/server.ts'
import { type AttachedInference, attachInference } from '../../firmware/automation/service.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type CommandRegistry, createRegistry } from '../../firmware/commands/index.ts'
import { type RunningAppliance, startAppliance } from '../../firmware/runtime/start.ts'
import { MarkLog, markCommands } from '../../firmware/store/marks.ts'
import { storeService } from '../../firmware/store/service.ts'
import type { Bundle } from '../../provisioning/provision.ts'
import { buildWeb, webBuildCurrent } from '../../scripts/build-web.ts'
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.ts'

export async function ensurePage(): Promise<void> {
  if (!webBuildCurrent()) await buildWeb()
}

export interface Unit {
  running: RunningAppliance
  registry: CommandRegistry
  inference: AttachedInference
  api: ApiHandle
  origin: string
}

/** The unit, its registry shared by every transport, the API on an ephemeral port. Stopped with the test. */
export async function bootUnit(t: { teardown(fn: () => unknown): void }, dataDir: string): Promise<Unit> {
  let parts: Omit<Unit, 'running' | 'origin'> | null = null
  const running = await startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      // A machine loaded by other builds lags the event loop: those monitors are not what these
      // tests are about, and a DEGRADED they cause would pause automation mid-test.
      monitors: { maxLagMs: 5000, overrunsPerSecond: 1e6, xrunsPerSecond: 1e6, stallMs: 400 },
      watchdog: { healthyPeriodMs: 300, degradedPeriodMs: 300 },
      services: [
        async (app) => {
          const registry = createRegistry(app)
          const store = await storeService({ registry })(app)
          for (const spec of markCommands(new MarkLog(app.profile.dataDir))) registry.register(spec)
          const inference = await attachInference(app, { manifests: [], registry, mode: 'supervised' })
          const api = await startApi(app, registry, app.profile, { port: 0, host: '127.0.0.1', testHooks: true, rateLimit: { perSecond: 500, burst: 1000 } })
          parts = { registry, inference, api }
          return {
            stop: async () => {
              await api.stop()
              await inference.stop()
              await store.stop()
            },
          }
        },
      ],
    },
  )
  t.teardown(() => running.stop())
  const p = parts as unknown as Omit<Unit, 'running' | 'origin'>
  return { running, ...p, origin: `https://127.0.0.1:${p.api.port}` }
}

export async function launch(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true })
  t.teardown(() => browser.close())
  return browser
}

/** A fresh browser context holding one crew bundle (the PKCS#12 file and its one-time password), or none. */
export async function contextFor(browser: Browser, origin: string, bundle: Bundle | null, viewport = { width: 1440, height: 900 }): Promise<BrowserContext> {
  return browser.newContext({
    viewport,
    // The unit's certificate is issued by its own operator CA, which this fresh browser does not know.
    ignoreHTTPSErrors: true,
    ...(bundle ? { clientCertificates: [{ origin, pfxPath: bundle.p12File, passphrase: bundle.p12Password }] } : {}),
  })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
