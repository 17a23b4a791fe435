// The PTP clock as linuxptp's ptp4l sees it, read over its management socket with `pmc`
// (GET PORT_DATA_SET, GET TIME_STATUS_NP). The AES67 media clock is the system clock that ptp4l
// disciplines (software timestamping, `ptp4l -S`, where the NIC has none); this reader says
// whether that clock follows a grandmaster, so the watchdog can say when it does not
// (PtpMonitor, docs/aes67.md "Clock").
import { spawn } from 'node:child_process'

export type PtpHealth = 'locked' | 'master' | 'unlocked' | 'lost'

export interface PtpStatus {
  /** ptp4l's port state: SLAVE, MASTER, GRAND_MASTER, UNCALIBRATED, LISTENING, FAULTY, ... ('' when pmc gave none). */
  portState: string
  /** Offset from the master, ns (TIME_STATUS_NP master_offset). */
  masterOffsetNs: number
  gmPresent: boolean
  gmIdentity: string
  health: PtpHealth
}

/** Reads pmc's answer text; `maxOffsetNs`: a SLAVE further off than this is unlocked. */
export function parsePmc(text: string, maxOffsetNs = 100_000): PtpStatus {
  const field = (name: string) => new RegExp(`^\\s*${name}\\s+(\\S+)`, 'm').exec(text)?.[1] ?? ''
  const portState = field('portState')
  const masterOffsetNs = Number(field('master_offset') || 'NaN')
  const gmPresent = field('gmPresent') === 'true'
  const gmIdentity = field('gmIdentity')
  let health: PtpHealth
  if (portState === 'MASTER' || portState === 'GRAND_MASTER') health = 'master'
  else if (portState === 'SLAVE' && gmPresent && Math.abs(masterOffsetNs) <= maxOffsetNs) health = 'locked'
  else if (portState === 'SLAVE' || portState === 'UNCALIBRATED') health = 'unlocked'
  else health = 'lost'
  return { portState, masterOffsetNs, gmPresent, gmIdentity, health }
}

/**
 * Asks ptp4l at `socket` (its uds_address) for its state. `prefix` runs pmc under another
 * command (the tests: `ip netns exec <ns>`). A ptp4l that does not answer in `timeoutMs` is 'lost'.
 */
export function queryPtp(socket: string, opts: { prefix?: string[]; timeoutMs?: number; maxOffsetNs?: number } = {}): Promise<PtpStatus> {
  const argv = [...(opts.prefix ?? []), 'pmc', '-u', '-b', '0', '-s', socket, 'GET PORT_DATA_SET', 'GET TIME_STATUS_NP']
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 2000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(parsePmc(out, opts.maxOffsetNs))
    })
    child.once('error', () => {
      clearTimeout(timer)
      resolve(parsePmc('', opts.maxOffsetNs))
    })
  })
}
