// Starting the whole appliance for a board: the front panel (on the sim board, the simulated
// controller process on a socat PTY pair), the hardware watchdogs, the Appliance itself, then the
// services the integrator attaches (console, API, inference), and stopping it all in reverse.
import { loadProfile, type BoardProfile } from '../board/profile.ts'
import { FirmwareError } from '../errors.ts'
import { FrontPanel } from '../panel/panel.ts'
import { openPtyPair, type PtyPair } from '../hardware/pty.ts'
import { WatchdogDevice, type HardwareWatchdog } from '../hardware/watchdog-device.ts'
import { SystemdNotifier } from '../hardware/systemd-notify.ts'
import { startSimulatedPanel, type SimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import type { ControllerReport } from '../../board/sim/frontpanel-controller.ts'
import { Appliance, type ApplianceOptions } from './appliance.ts'
import type { ServiceHandle } from '../contract/service.ts'
import { setPanelController } from '../rehearsal/faults.ts'
import { runningImage } from '../self.ts'

/** A service attached to the running appliance (console, API, inference...). */

/** A service as the composition root starts it. Parts write contract Services (they see a
 *  ServiceHost); only runtime's own (the stack, rehearsal) take the concrete Appliance. */
export type RuntimeService = (app: Appliance) => Promise<ServiceHandle>

export interface StartApplianceOptions extends Omit<Partial<ApplianceOptions>, 'hardwareWatchdogs' | 'panel'> {
  /** Started in order after the appliance, stopped in reverse before it. */
  services: RuntimeService[]
  /**
   * The front-panel controller's UART. 'auto' (default): on a profile whose uarts.panel.path is
   * "sim", spawn the simulated controller on a fresh socat PTY pair; otherwise open that path.
   * A path: a controller is already there (e.g. a test's own simulator). null: no panel (the
   * relay is simulated in memory).
   */
  panelPort: string | null | 'auto'
  /** Heartbeat timeout configured on the controller, at open and after every controller hello.
   *  Defaults to the appliance's (ApplianceOptions.panelTimeoutMs, 150 ms with the sentinel). */
  panelTimeoutMs: number | undefined
  /** Every report of the simulated controller (sim board, panelPort 'auto'). */
  onPanelReport: ((r: ControllerReport) => void) | undefined
  /** 'auto' (default): the profile's watchdogDevice (unless "none") and systemd when NOTIFY_SOCKET is set. */
  hardwareWatchdogs: HardwareWatchdog[] | 'auto'
}

export interface RunningAppliance {
  readonly app: Appliance
  readonly profile: BoardProfile
  /** The simulated controller when this call spawned it. */
  readonly simPanel: SimulatedPanel | null
  /** Process ids of the children this call spawned (socat, the simulated controller). */
  readonly children: number[]
  /** Stops services (reverse order), the appliance (relay drops to bypass), the panel, children. */
  stop(): Promise<void>
}

export async function startAppliance(profileName: string | BoardProfile, opts: Partial<StartApplianceOptions> = {}): Promise<RunningAppliance> {
  const profile = typeof profileName === 'string' ? loadProfile(profileName) : profileName
  const { services = [], panelPort = 'auto', panelTimeoutMs, onPanelReport, hardwareWatchdogs = 'auto', ...appOpts } = opts
  const cleanups: Array<() => Promise<void>> = []
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {})
    cleanups.length = 0
  }
  const children: number[] = []
  try {
    let simPanel: SimulatedPanel | null = null
    let panel: FrontPanel | null = null
    let port: string | null = null
    if (panelPort === 'auto' && profile.uarts.panel.path === 'sim') {
      const pty: PtyPair = await openPtyPair()
      cleanups.push(() => pty.close())
      children.push(pty.pid)
      const spOpts: Parameters<typeof startSimulatedPanel>[0] = { port: pty.b, baudRate: profile.uarts.panel.baudRate, parentPid: process.pid }
      if (onPanelReport) spOpts.onReport = onPanelReport
      simPanel = await startSimulatedPanel(spOpts)
      const sp = simPanel
      children.push(sp.pid)
      cleanups.push(() => sp.stop())
      port = pty.a
    } else if (panelPort === 'auto') {
      port = profile.uarts.panel.path === 'none' ? null : profile.uarts.panel.path
    } else {
      port = panelPort
    }
    if (port !== null) {
      const fpOpts: Parameters<typeof FrontPanel.open>[0] = { path: port, baudRate: profile.uarts.panel.baudRate }
      if (panelTimeoutMs !== undefined) fpOpts.timeoutMs = panelTimeoutMs
      panel = await FrontPanel.open(fpOpts)
      const p = panel
      cleanups.push(() => p.close())
    }

    let watchdogs: HardwareWatchdog[]
    let notifier: SystemdNotifier | null = null
    if (hardwareWatchdogs === 'auto') {
      watchdogs = []
      if (profile.watchdogDevice !== 'none') watchdogs.push(new WatchdogDevice({ path: profile.watchdogDevice }))
      notifier = SystemdNotifier.fromEnv()
      if (notifier) watchdogs.push(notifier)
    } else {
      watchdogs = hardwareWatchdogs
    }

    // The version (and slot) every interface reports: the image's manifest, not a default.
    // The timeout goes to the appliance too: it sets TIMEOUT again at every controller hello, and
    // an earlier version let its default there overwrite the caller's.
    const app = await Appliance.start(profile, {
      firmwareVersion: runningImage().label, ...appOpts, ...(panelTimeoutMs !== undefined ? { panelTimeoutMs } : {}), panel, hardwareWatchdogs: watchdogs,
    })
    cleanups.push(() => app.stop())
    // `rehearse panel-silent` stops this process for a while (sim board only).
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
