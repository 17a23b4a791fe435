// AES67 network inputs (docs/aes67.md): every failover switch of an input between its
// prioritised sources is a recorded degrade with its cause, and an input none of whose sources
// delivers is a degrade until one does. The engine's counters come in as plain records
// (Engine.netStats(), firmware/engine/aes67-options.ts NetStreamStats); this monitor reads only
// the fields below, so it needs nothing from engine/.
import type { Fault } from './monitors.ts'

/** The fields of one receive or transmit stream's counters this monitor reads. */
export interface NetStreamView {
  direction: 'rx' | 'tx'
  localPort: number
  priority: number
  active: boolean
  switches: number
  lastSwitchCause: string
  lastPacketMs: number
  fillFrames: number
}

const WHY: Record<string, string> = {
  'source-dead': 'its packets stopped',
  'source-degraded': 'it lost more packets than its limit',
  'source-returned': 'a higher-priority source is healthy again',
}

export class NetAudioMonitor {
  readonly deadMs: number
  readonly #switchesSeen = new Map<number, number>()

  /** deadMs: an input whose playing source has sent nothing for this long is dead. Defaults to 1000 ms. */
  constructor(deadMs = 1000) {
    this.deadMs = deadMs
  }

  /** `nowMs` on CLOCK_MONOTONIC in ms (the clock of lastPacketMs: performance.timeOrigin + performance.now() is not it; use process.hrtime). */
  check(nowMs: number, streams: readonly NetStreamView[]): Fault[] {
    const faults: Fault[] = []
    for (const s of streams) {
      if (s.direction !== 'rx') continue
      const seen = this.#switchesSeen.get(s.localPort) ?? 0
      if (s.active && s.switches > seen) {
        faults.push({
          level: 'degrade',
          cause: 'netaudio-failover',
          evidence: `AES67 input switched to its priority ${s.priority} source (port ${s.localPort}): ${WHY[s.lastSwitchCause] ?? s.lastSwitchCause}`,
        })
      }
      this.#switchesSeen.set(s.localPort, s.switches)
      const age = s.lastPacketMs === 0 ? Number.POSITIVE_INFINITY : nowMs - s.lastPacketMs
      if (s.active && s.fillFrames === 0 && age > this.deadMs) {
        faults.push({
          level: 'degrade',
          cause: 'netaudio-input-dead',
          evidence: `AES67 input on port ${s.localPort}: no packet for ${Number.isFinite(age) ? `${Math.round(age)} ms` : 'ever'} and no other source healthy`,
        })
      }
    }
    return faults
  }
}

/** CLOCK_MONOTONIC in ms, the clock of NetStreamView.lastPacketMs. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** The fields of a PTP status (firmware/netaudio/ptp.ts) this monitor reads. */
export interface PtpView {
  portState: string
  masterOffsetNs: number
  health: 'locked' | 'master' | 'unlocked' | 'lost'
}

/**
 * The PTP clock behind the AES67 media clock. Not following a grandmaster is a degrade: the unit
 * keeps running on its local clock (free-run: the audio never stops, but its RTP timestamps drift
 * from the network's and receivers' link offsets may not hold).
 */
export class PtpMonitor {
  check(status: PtpView | null): Fault | null {
    if (status === null || status.health === 'locked' || status.health === 'master') return null
    if (status.health === 'unlocked') {
      return {
        level: 'degrade',
        cause: 'ptp-unlocked',
        evidence: `PTP not locked: port ${status.portState}, offset ${Number.isFinite(status.masterOffsetNs) ? `${status.masterOffsetNs} ns` : 'unknown'}; the media clock free-runs`,
      }
    }
    return { level: 'degrade', cause: 'ptp-lost', evidence: `PTP lost: port ${status.portState || 'not answering'}; no grandmaster, the media clock free-runs` }
  }
}
