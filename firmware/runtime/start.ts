// Starting the whole appliance for a board: the board's drivers (firmware/board/drivers.ts: the
// front panel, thermal zones, hardware watchdogs), the Appliance itself, then the services the
// integrator attaches (console, API, inference), and stopping it all in reverse.

import { type ControllerReport, driversFor, noPanelDriver, type PanelConnection, type SimulatedPanel, uartPanelDriver } from '../board/drivers.ts'
import { type BoardProfile, loadProfile } from '../board/profile.ts'
import type { ServiceHandle } from '../contract/service.ts'
import { FirmwareError } from '../errors.ts'
import type { SystemdNotifier } from '../hardware/systemd-notify.ts'
import type { HardwareWatchdog } from '../hardware/watchdog-device.ts'
import { setPanelController } from '../rehearsal/faults.ts'
import { runningImage } from '../self.ts'
import { Appliance, type ApplianceOptions } from './appliance.ts'

/** A service attached to the running appliance (console, API, inference...). */

/** A service as the composition root starts it. Parts write contract Services (they see a
 *  ServiceHost); only runtime's own (the stack, rehearsal) take the concrete Appliance. */
export type RuntimeService = (app: Appliance) => Promise<ServiceHandle>

export interface StartApplianceOptions extends Omit<Partial<ApplianceOptions>, 'hardwareWatchdogs' | 'panel'> {
  /** Started in order after the appliance, stopped in reverse before it. */
  services: RuntimeService[]
  /**
   * The front-panel controller's UART. 'auto' (default): the board's panel driver (a simulated
   * board spawns its controller on a fresh socat PTY pair; a real one opens uarts.panel.path).
   * A path: a controller is already there (e.g. a test's own simulator). null: no panel (the
   * relay is simulated in memory).
   */
  panelPort: string | null | 'auto'
  /** Heartbeat timeout configured on the controller, at open and after every controller hello.
   *  Defaults to the appliance's (ApplianceOptions.panelTimeoutMs, 150 ms with the sentinel). */
  panelTimeoutMs: number | undefined
  /** Every report of a simulated controller (a board whose panel is simulated, panelPort 'auto'). */
  onPanelReport: ((r: ControllerReport) => void) | undefined
  /** 'auto' (default): the board's watchdog device when it has one, and systemd when NOTIFY_SOCKET is set. */
  hardwareWatchdogs: HardwareWatchdog[] | 'auto'
}

export interface RunningAppliance {
  readonly app: Appliance
  readonly profile: BoardProfile
  /** The simulated controller when this call spawned it (a board whose panel is simulated). */
  readonly simPanel: SimulatedPanel | null
  /** Process ids of the children this call spawned (socat, the simulated controller). */
  readonly children: number[]
  /** Stops services (reverse order), the appliance (relay drops to bypass), the panel, children. */
  stop(): Promise<void>
}

export async function startAppliance(profileName: string | BoardProfile, opts: Partial<StartApplianceOptions> = {}): Promise<RunningAppliance> {
  const profile = typeof profileName === 'string' ? loadProfile(profileName) : profileName
  const { services = [], panelPort = 'auto', panelTimeoutMs: _timeout, onPanelReport, hardwareWatchdogs = 'auto', ...appOpts } = opts
  const cleanups: Array<() => Promise<void>> = []
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {})
    cleanups.length = 0
  }
  const children: number[] = []
  // The caller's timeout, else the board's (its profile), else the appliance's default.
  const panelTimeoutMs = opts.panelTimeoutMs ?? profile.uarts.panel.heartbeatTimeoutMs
  try {
    const drivers = driversFor(profile)
    const panelDriver = panelPort === 'auto' ? drivers.panel : panelPort === null ? noPanelDriver : uartPanelDriver(panelPort, profile.uarts.panel.baudRate)
    const connection: PanelConnection = await panelDriver.open({
      ...(panelTimeoutMs !== undefined ? { timeoutMs: panelTimeoutMs } : {}),
      ...(onPanelReport ? { onReport: onPanelReport } : {}),
    })
    cleanups.push(() => connection.close())
    children.push(...connection.children)
    const simPanel: SimulatedPanel | null = connection.controller
    const panel = connection.link

    let watchdogs: HardwareWatchdog[]
    let notifier: SystemdNotifier | null = null
    if (hardwareWatchdogs === 'auto') {
      const w = drivers.watchdogs()
      watchdogs = w.all
      notifier = w.notifier
    } else {
      watchdogs = hardwareWatchdogs
    }

    // The version (and slot) every interface reports: the image's manifest, not a default.
    // The timeout goes to the appliance too: it sets TIMEOUT again at every controller hello, and
    // an earlier version let its default there overwrite the caller's.
    const app = await Appliance.start(profile, {
      firmwareVersion: runningImage().label,
      thermal: drivers.thermal(),
      ...appOpts,
      ...(panelTimeoutMs !== undefined ? { panelTimeoutMs } : {}),
      panel,
      hardwareWatchdogs: watchdogs,
    })
    cleanups.push(() => app.stop())
    // `rehearse panel-silent` stops this process for a while (simulated controller only).
    if (simPanel) setPanelController(app, simPanel)
    notifier?.ready()
    for (const s of services) {
      const handle = await s(app)
      cleanups.push(() => handle.stop())
    }
    let stopping: Promise<void> | null = null
    return { app, profile, simPanel, children, stop: () => (stopping ??= cleanup()) }
  } catch (e) {
    await cleanup()
    if (e instanceof FirmwareError) throw e
    throw new FirmwareError('FW_ERR_ENGINE', `the appliance could not start: ${(e as Error).message}`, { cause: e })
  }
}
