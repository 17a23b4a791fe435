// Hardware watchdogs: something outside the process that restarts or bypasses the unit when the
// firmware stops feeding it. Two real ones:
//   - the kernel watchdog device (/dev/watchdog): any write feeds it; writing 'V' before close
//     is the "magic close" that disarms it on a clean stop (without it, closing leaves it armed
//     and the board resets when the timeout runs out, which is what a crash should cause);
//   - systemd's service watchdog: "WATCHDOG=1" datagrams to $NOTIFY_SOCKET (systemd-notify.ts).
// The runtime feeds them from its tick, so a blocked or dead event loop stops the feed.
import { closeSync, constants, openSync, writeSync } from 'node:fs'
import { FirmwareError } from '../errors.ts'

export interface HardwareWatchdog {
  readonly name: string
  /** Feeds it; implementations rate-limit themselves, so calling every tick is fine. */
  feed(now: number): void
  /** Clean stop: disarm (magic close) where the device allows it. */
  close(): Promise<void>
}

export interface WatchdogDeviceOptions {
  /** Device path, e.g. /dev/watchdog. */
  path: string
  /** Minimum time between feeds. Defaults to 1000 ms (kernel timeouts are usually 10-60 s). */
  intervalMs?: number
  /** Injected for tests: the file operations. */
  fs?: { open(path: string): number; write(fd: number, data: string): void; close(fd: number): void }
}

const realFs = {
  // Write-only, never create or truncate: a mistyped path must fail, not leave a regular file that
  // is "fed" while no device watches.
  open: (p: string) => openSync(p, constants.O_WRONLY),
  write: (fd: number, d: string) => {
    writeSync(fd, d)
  },
  close: (fd: number) => closeSync(fd),
}

export class WatchdogDevice implements HardwareWatchdog {
  readonly name: string
  readonly intervalMs: number
  readonly #fs: NonNullable<WatchdogDeviceOptions['fs']>
  #fd: number | null
  #last = -Infinity
  feeds = 0

  constructor(opts: WatchdogDeviceOptions) {
    this.name = opts.path
    this.intervalMs = opts.intervalMs ?? 1000
    this.#fs = opts.fs ?? realFs
    try {
      this.#fd = this.#fs.open(opts.path)
    } catch (e) {
      throw new FirmwareError(
        'FW_ERR_IO',
        `cannot open the watchdog device ${opts.path}: ${(e as Error).message}; check watchdogDevice in the board profile and the service's permissions`,
      )
    }
  }

  /** True while the descriptor is ours and open (it can be handed to the sentinel thread). */
  get handOverable(): boolean {
    return this.#fd !== null && this.#fs === realFs
  }

  /**
   * Gives the open descriptor to the native sentinel thread, which feeds the device from then on
   * (and magic-closes it on a clean stop): feed() and close() here do nothing afterwards.
   */
  handOver(): number {
    const fd = this.#fd ?? -1
    this.#fd = null
    return fd
  }

  /** The sentinel could not start: feed from the tick again. */
  takeBack(fd: number): void {
    if (fd >= 0) this.#fd = fd
  }

  feed(now: number): void {
    if (this.#fd === null || now - this.#last < this.intervalMs) return
    this.#last = now
    try {
      this.#fs.write(this.#fd, '\0')
      this.feeds++
    } catch {
      // A failed feed is the same as a missed one: the device will act. Nothing to add here.
    }
  }

  async close(): Promise<void> {
    if (this.#fd === null) return
    try {
      this.#fs.write(this.#fd, 'V')
    } finally {
      this.#fs.close(this.#fd)
      this.#fd = null
    }
  }
}
