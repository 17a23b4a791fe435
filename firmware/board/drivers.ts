// The one place that picks a board's drivers. A profile says what the board has (its
// capabilities, firmware/board/profile.ts); this maps each capability to a driver behind an
// interface, so the runtime, the console and the monitors use them without knowing the board.
// The simulated board (top-level board/sim) supplies its stand-ins through the same interfaces:
// its front-panel controller is a process on a socat PTY pair that the real FrontPanel driver talks
// to, its thermal zones are settable values. Nothing else under firmware/ imports board/.
// How to add a board: board/README.md.

import type { ControllerReport } from '../../board/sim/frontpanel-controller.ts'
import { type SimulatedPanel, startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { FirmwareError } from '../errors.ts'
import { openPtyPair } from '../hardware/pty.ts'
import { SystemdNotifier } from '../hardware/systemd-notify.ts'
import { SimThermal, SysfsThermal, type ThermalSensor } from '../hardware/thermal.ts'
import { type HardwareWatchdog, WatchdogDevice } from '../hardware/watchdog-device.ts'
import { FrontPanel, type PanelLink } from '../panel/panel.ts'
import type { BoardCapabilities, BoardProfile } from './profile.ts'
import { type PortLog, SimPty } from './sim-console-pty.ts'

export type { ControllerReport, SimulatedPanel }

export interface PanelOpenOptions {
  /** Heartbeat timeout to configure on the controller at open. Defaults to the controller's own. */
  timeoutMs?: number
  /** Every report of a simulated controller (ignored on a real board). */
  onReport?: (r: ControllerReport) => void
}

/** An open front-panel link and what came with it. */
export interface PanelConnection {
  /** The link the runtime drives (relay, heartbeat, LEDs, button events); null: no panel fitted. */
  readonly link: PanelLink | null
  /** The simulated controller's hands and reports (press the button, read what it did); null on a real board. */
  readonly controller: SimulatedPanel | null
  /** Process ids this connection spawned (socat, the simulated controller). */
  readonly children: number[]
  /** Closes the link, then stops what it spawned. */
  close(): Promise<void>
}

/** Opens the board's front-panel controller (relay, bypass button, LEDs). */
export interface PanelDriver {
  readonly kind: BoardCapabilities['panel']
  open(opts?: PanelOpenOptions): Promise<PanelConnection>
}

export interface ConsolePortOpenOptions {
  /** Sim board: the PTY links go in <simDir>/console-pty. Defaults to a fresh temp directory, removed at close. */
  simDir?: string
  /** Where a simulated port reports socat exits and recreations. */
  log?: PortLog
}

/** The console's port as the board provides it. */
export interface ConsolePortConnection {
  /** What the firmware opens (the UART, or the PTY end the console holds). */
  readonly devicePath: string
  /** What a terminal or control system opens: the PTY peer on a simulated board, else the UART itself. */
  readonly path: string
  /** Called when the port came back at the same path (a simulated PTY recreated after its socat died). */
  onRecreated(listener: () => void): void
  /** Stops what the driver made (a simulated PTY's socat and its temp directory). */
  close(): Promise<void>
}

/** Where the serial console listens: a UART, or a self-recreating PTY pair on a simulated board. */
export interface ConsolePortDriver {
  readonly kind: BoardCapabilities['console']
  /** The UART's path (kind "uart"), else null. */
  readonly path: string | null
  readonly baudRate: number
  /** The port to use; FW_ERR_CONSOLE when the board has no console. */
  open(opts?: ConsolePortOpenOptions): Promise<ConsolePortConnection>
}

const quietLog: PortLog = (level, message) => {
  if (level !== 'info') process.stderr.write(`console: ${message}\n`)
}

/** The console port driver for a board's console capability and UART. */
export function consolePortDriver(kind: BoardCapabilities['console'], uart: { path: string; baudRate: number }): ConsolePortDriver {
  const path = kind === 'uart' ? uart.path : null
  return {
    kind,
    path,
    baudRate: uart.baudRate,
    async open(opts = {}) {
      if (kind === 'simulated') {
        const sim = await SimPty.open(opts.simDir, opts.log ?? quietLog)
        return { devicePath: sim.a, path: sim.b, onRecreated: (l) => sim.onRecreated(l), close: () => sim.close() }
      }
      if (!path) throw new FirmwareError('FW_ERR_CONSOLE', 'no console device: set uarts.console.path in the board profile')
      return { devicePath: path, path, onRecreated: () => {}, close: async () => {} }
    },
  }
}

export interface BoardDrivers {
  readonly capabilities: BoardCapabilities
  readonly panel: PanelDriver
  /** A fresh temperature source for the board's zones (settable SimThermal on a simulated board). */
  thermal(): ThermalSensor
  /** The hardware watchdogs: the kernel device when fitted, systemd's when $NOTIFY_SOCKET is set. */
  watchdogs(env?: NodeJS.ProcessEnv): { all: HardwareWatchdog[]; notifier: SystemdNotifier | null }
  readonly console: ConsolePortDriver
}

/** Injected for tests: how the drivers reach the hardware. */
export interface DriverHooks {
  openPanel: (opts: { path: string; baudRate: number; timeoutMs?: number }) => Promise<PanelLink>
}

const realHooks: DriverHooks = {
  openPanel: (o) => FrontPanel.open(o.timeoutMs === undefined ? { path: o.path, baudRate: o.baudRate } : o),
}

/** The real front-panel driver: FrontPanel on the UART at `path`. */
export function uartPanelDriver(path: string, baudRate: number, hooks: DriverHooks = realHooks): PanelDriver {
  return {
    kind: 'uart',
    async open(opts = {}) {
      const link = await hooks.openPanel({ path, baudRate, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) })
      return { link, controller: null, children: [], close: () => link.close() }
    },
  }
}

/**
 * The simulated board's front panel: the simulated controller (board/sim/frontpanel.ts) in its
 * own process on one end of a fresh socat PTY pair, the real FrontPanel driver on the other end,
 * so everything above the UART runs as on a unit.
 */
export function simulatedPanelDriver(baudRate: number, hooks: DriverHooks = realHooks): PanelDriver {
  return {
    kind: 'simulated',
    async open(opts = {}) {
      const cleanups: Array<() => Promise<void>> = []
      const close = async () => {
        for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
      }
      const children: number[] = []
      try {
        const pty = await openPtyPair()
        cleanups.push(() => pty.close())
        children.push(pty.pid)
        const controller = await startSimulatedPanel({
          port: pty.b,
          baudRate,
          parentPid: process.pid,
          ...(opts.onReport ? { onReport: opts.onReport } : {}),
        })
        cleanups.push(() => controller.stop())
        children.push(controller.pid)
        const link = await uartPanelDriver(pty.a, baudRate, hooks).open(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {})
        cleanups.push(() => link.close())
        return { link: link.link, controller, children, close }
      } catch (e) {
        await close()
        throw e
      }
    },
  }
}

/** No front panel fitted: no link (the runtime keeps the relay in memory). */
export const noPanelDriver: PanelDriver = {
  kind: 'none',
  open: async () => ({ link: null, controller: null, children: [], close: async () => {} }),
}

/** Picks every board-specific driver for `profile`, by its capabilities. */
export function driversFor(profile: BoardProfile, hooks: DriverHooks = realHooks): BoardDrivers {
  const caps = profile.capabilities
  const { panel: panelUart, console: consoleUart } = profile.uarts
  const panel =
    caps.panel === 'simulated'
      ? simulatedPanelDriver(panelUart.baudRate, hooks)
      : caps.panel === 'uart'
        ? uartPanelDriver(panelUart.path, panelUart.baudRate, hooks)
        : noPanelDriver
  return {
    capabilities: caps,
    panel,
    thermal: () => (caps.thermal === 'simulated' ? new SimThermal(profile.thermalZones) : new SysfsThermal(profile.thermalZones)),
    watchdogs: (env = process.env) => {
      const all: HardwareWatchdog[] = []
      if (caps.watchdogDevice) all.push(new WatchdogDevice({ path: profile.watchdogDevice }))
      const notifier = SystemdNotifier.fromEnv(env)
      if (notifier) all.push(notifier)
      return { all, notifier }
    },
    console: consolePortDriver(caps.console, consoleUart),
  }
}
