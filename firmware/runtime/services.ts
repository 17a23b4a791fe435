// Everything `firmware run` attaches to the appliance, around ONE command registry: the store
// (presets, the health report recovery waits for), inference and automation, the serial console,
// and the network API (and OSC when enabled). Each transport calls the same registry, so a command
// exists once. A service that cannot start on this unit (say, the API on a unit not provisioned
// yet) says why in the log and the others run: the sound never waits on a transport.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FeedbackShiftControl, registerFeedbackShiftCommands } from '../automation/feedback-shift.ts'
import { type AttachedInference, attachInference } from '../automation/service.ts'
import { addStatusFields } from '../commands/builtin.ts'
import { type CommandRegistry, createRegistry } from '../commands/index.ts'
import type { CommandSpec } from '../commands/types.ts'
import { consoleService, registerSessionCommands } from '../console/index.ts'
import { mixCommands, trackingCommands } from '../mix/commands.ts'
import { startMixes } from '../mix/control.ts'
import { startTracking } from '../mix/live.ts'
import { Aes67Unit, aes67Commands, type SavedStreams, type StreamHost } from '../netaudio/unit.ts'
import { OscControl, registerOscCommands } from '../osc/control.ts'
import { registerRehearsal } from '../rehearsal/index.ts'
import { updateStatus } from '../self.ts'
import { type Store, writeFileAtomic } from '../store/index.ts'
import { MarkLog, markCommands } from '../store/marks.ts'
import { storeService } from '../store/service.ts'
import { bootPresetCommand, DurableSettings } from '../store/settings.ts'
import { registerTelemetryCommands, TelemetryControl } from '../telemetry/control.ts'
import { registerMetricsCommand } from '../telemetry/metrics.ts'
import type { Appliance } from './appliance.ts'
import { networkService } from './network.ts'
import type { RuntimeService } from './start.ts'

export interface StackOptions {
  /** Each part can be left out (tests, a unit without models). All default to on. */
  store?: boolean
  inference?: boolean
  console?: boolean
  api?: boolean
  /** OSC's on/off commands and listener (off until an admin turns it on). Defaults to on. */
  osc?: boolean
  /** Telemetry's on/off commands and publisher (off until an admin turns it on). Defaults to on. */
  telemetry?: boolean
  /** Personal mixes: profiles in the store, `mix ...` commands, the streamer (docs/mixes.md). Defaults to on. */
  mix?: boolean
  /** Told the one registry once every service has registered its commands (docs generators, tests). */
  onRegistry?: (registry: CommandRegistry) => void
  /** Where services report trouble. Defaults to the appliance's log (and stderr for warnings). */
  log?: (level: 'info' | 'warn', message: string) => void
}

const API_OFF = 'API off: '

/** What the live screen's links line says when the API did not start, from the reason it logged:
 * "not provisioned" only when that is the reason (a port already in use must not send a tech to
 * provisioning). */
export function apiOffEndpoint(reason: string | null): string {
  if (reason === null) return 'off'
  if (reason.includes('FW_ERR_NOT_PROVISIONED')) return 'off (not provisioned: see docs/provisioning.md)'
  return `off (${reason})`
}

export function applianceStack(opts: StackOptions = {}): RuntimeService {
  return async (app: Appliance) => {
    // Warnings go to stderr as well (the journal under systemd): a store fallback or a service that
    // stays off is news for the person running the unit, not only for the in-memory log tail.
    const log =
      opts.log ??
      ((level: 'info' | 'warn', message: string) => {
        app.logLine(level, 'services', message)
        if (level === 'warn') process.stderr.write(`warning: ${message}\n`)
      })
    const registry = createRegistry(app)
    const stops: Array<() => Promise<void>> = []
    const stopAll = async () => {
      for (const s of stops.reverse()) await s().catch(() => {})
    }
    try {
      let store: Store | null = null
      // Durable settings: `firmware run` opened and restored them before the unit went ACTIVE;
      // embedded elsewhere (tests), the stack opens them and restores now.
      let settings: DurableSettings | undefined = DurableSettings.for(app.profile.dataDir)
      if (opts.store !== false) {
        const storeLog = (l: string, m: string) => log(l === 'warn' ? 'warn' : 'info', `store: ${m}`)
        if (!settings) {
          const own = await DurableSettings.open(app.profile.dataDir, { log: storeLog })
          log('info', `store: ${own.restore(app)}`)
          own.attach(app)
          settings = own
          stops.push(() => own.close())
        }
        const s = settings
        stops.push(
          (
            await storeService({
              registry,
              log: storeLog,
              settings: s,
              onOpen: (st) => {
                store = st
              },
            })(app)
          ).stop,
        )
        registry.register(bootPresetCommand(s))
        // Issue 14: marked moments for the models (the FOH page's "that was feedback / wrong").
        for (const spec of markCommands(new MarkLog(app.profile.dataDir))) registry.register(spec)
        addStatusFields(app, () => s.status())
      }
      let inference: AttachedInference | null = null
      if (opts.inference !== false) {
        // Feedback notches (issue 13) go to the engine's outputs through its command ring.
        const notchSink = app.engine.setNotch
          ? { setNotch: (n: Parameters<NonNullable<typeof app.engine.setNotch>>[0]) => app.engine.setNotch?.(n) }
          : undefined
        inference = await attachInference(app, { registry, ...(settings ? { mode: settings.mode } : {}), ...(notchSink ? { notchSink } : {}) })
        stops.push(inference.stop)
      }
      // Personal mixes: their commands before the transports start; published mixes stream again.
      if (opts.mix !== false && opts.store !== false) {
        const mixes = await startMixes(app, (m) => log('warn', `mixes: ${m}`))
        // Issue 17: live tracks (off until `tracking on`; the setting is stored) aim the mix streamer's
        // separator at the tracked sources the published mixes name (never an engine beam).
        const tracking = await startTracking(app, (m) => log('warn', `tracking: ${m}`))
        tracking.stemsFrom(
          () => mixes.stemSlots(),
          (dirs) => mixes.aimStems(dirs),
        )
        for (const c of mixCommands(mixes, tracking)) registry.register(c)
        app.watchMixStreams(() => mixes.stats())
        stops.push(async () => {
          app.watchMixStreams(null)
          mixes.stop()
        })
        for (const c of trackingCommands(tracking)) registry.register(c)
        stops.push(async () => tracking.close())
      }
      // Issue 15: the AES67 streams of the board profile and those added at run time (saved in the
      // data directory with the store's atomic write), counters, SDP, SAP announcing and discovery.
      const aes67 = app.profile.audio.aes67
        ? new Aes67Unit(
            app.profile.audio.aes67,
            () => app.netStats(),
            () => app.ptpStatus(),
            aes67Host(app, log),
          )
        : null
      for (const c of aes67Commands(() => aes67)) registry.register(c as CommandSpec)
      if (aes67) {
        await aes67.start().catch((e: Error) => log('warn', `AES67: SAP announcing and discovery off: ${e.message}`))
        stops.push(() => aes67.stop())
      }
      // Before the transports start, so the API's routes include it.
      registerRehearsal(registry, app, { inference: () => inference?.service ?? null })
      // The figures telemetry publishes, as OpenMetrics (GET /metrics on the API); the MQTT part joins later.
      let telemetryStats: (() => ReturnType<TelemetryControl['stats']>) | null = null
      const temperatures = () => Object.fromEntries(app.thermal.read())
      if (opts.telemetry !== false) registerMetricsCommand(registry, app, { temperatures, telemetry: () => telemetryStats?.() ?? null })
      if (opts.console !== false) {
        registerSessionCommands(registry)
        // On the sim board the console's PTY link lives in the data directory (one firmware per data
        // directory), so its path stays the same across reboots: a tech reconnects with the same command.
        const c = await consoleService({
          registry,
          simDir: join(app.profile.dataDir, 'run'),
          log: (l, m) => log(l === 'info' ? 'info' : 'warn', `console: ${m}`),
        })(app)
        stops.push(c.stop)
        if ('path' in c && typeof c.path === 'string') app.endpoints.set('console', c.path)
      }
      if (opts.api !== false) {
        let apiOff: string | null = null
        const netLog = (level: 'info' | 'warn', message: string) => {
          if (message.startsWith(API_OFF)) apiOff = message.slice(API_OFF.length)
          log(level, message)
        }
        const n = await networkService({ registry, log: netLog })(app)
        stops.push(n.stop)
        app.endpoints.set('api', n.api ? `https://127.0.0.1:${n.api.port}` : apiOffEndpoint(apiOff))
      }
      // OSC: off unless an admin turned it on (kept in the store); `osc on|off|show` on the registry.
      const config = (store as Store | null)?.config
      if (opts.osc !== false && config) {
        const osc = new OscControl(app, registry, {
          config,
          options: { auditFile: join(app.profile.dataDir, 'logs', 'osc-audit.jsonl'), log },
          onPort: (port) => app.endpoints.set('osc', port === null ? 'off' : `udp ${port}`),
        })
        registerOscCommands(registry, osc)
        stops.push(() => osc.stop())
        await osc.startFromStore().catch((e: Error) => log('warn', `OSC stays off: ${e.message}`))
      }
      // Issue 13: the feedback frequency shifter per output (kept in the store); `feedback show|shift`.
      const setShift = app.engine.setShift
      if (config && setShift) {
        const shift = new FeedbackShiftControl({
          setShift: (o, hz) => setShift.call(app.engine, o, hz),
          outputs: app.profile.audio.outputs,
          config,
          onShift: (o, hz) => inference?.live.setShift(o, hz),
        })
        registerFeedbackShiftCommands(registry, shift)
        await shift.startFromStore().catch((e: Error) => log('warn', `feedback shift stays off: ${e.message}`))
      }
      // Telemetry (MQTT): off unless an admin turned it on (kept in the store); `telemetry on|off|show`.
      if (opts.telemetry !== false && config) {
        const telemetry = new TelemetryControl(app, {
          config,
          dataDir: app.profile.dataDir,
          registry,
          auditFile: join(app.profile.dataDir, 'logs', 'fleet-audit.jsonl'),
          temperatures,
          versions: () => {
            const s = app.status()
            return { firmware: s.firmwareVersion, panel: s.panelVersion, board: s.board }
          },
          update: () => updateStatus(),
          log,
        })
        registerTelemetryCommands(registry, telemetry)
        telemetryStats = () => telemetry.stats()
        stops.push(() => telemetry.stop())
        await telemetry.startFromStore().catch((e: Error) => log('warn', `telemetry stays off: ${e.message}`))
      }
      // Every state-changing command replies only once its change is on disk (declared on the
      // registry, so it holds for every command whenever it was registered).
      if (settings) {
        const s = settings
        registry.replyAfterCommit(() => s.flushed())
      }
      opts.onRegistry?.(registry)
    } catch (e) {
      await stopAll()
      throw e
    }
    return { stop: stopAll }
  }
}

/** The engine and the data directory for AES67 streams added at run time (docs/aes67.md, "Streams at run time"). */
function aes67Host(app: Appliance, log: (level: 'info' | 'warn', message: string) => void): StreamHost {
  const file = join(app.profile.dataDir, 'aes67-streams.json')
  const engine = app.engine
  return {
    inputs: app.profile.audio.inputs,
    outputs: app.profile.audio.outputs,
    add: (dir, stream) => {
      if (!engine.addAes67Stream) throw new Error('this engine adds no AES67 streams')
      return engine.addAes67Stream(dir, stream)
    },
    remove: async (dir, slot) => {
      if (!engine.removeAes67Stream) throw new Error('this engine removes no AES67 streams')
      await engine.removeAes67Stream(dir, slot)
    },
    load: async () => {
      const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return null
        throw e
      })
      return text === null ? null : (JSON.parse(text) as SavedStreams)
    },
    save: (streams) => writeFileAtomic(file, `${JSON.stringify(streams, null, 2)}\n`),
    log: (m) => log('warn', `aes67: ${m}`),
  }
}
