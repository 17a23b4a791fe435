// The AES67 streams of a running unit (docs/aes67.md, "In the running unit"): the counters of the
// streams the board profile set, the SDP of each transmit stream, SAP announcing of those while
// the unit runs, and the streams others announce. Its commands (`aes67 ...`) are written here as
// plain records in the command registry's shape; firmware/runtime/services.ts registers them
// (this layer sits below the registry and does not import it).
import { networkInterfaces } from 'node:os'
import type { NativeAes67Stream, NetStreamStats } from '../engine/aes67-options.ts'
import { FirmwareError } from '../errors.ts'
import type { PtpStatus } from './ptp.ts'
import { type Announced, SAP_GROUP, SapAnnouncer, SapListener } from './sap.ts'
import { describeStream } from './sdp.ts'

/** What the unit's profile says about its AES67 streams (firmware/board/profile.ts BoardAes67). */
export interface UnitAes67Config {
  rx: readonly NativeAes67Stream[]
  tx: readonly NativeAes67Stream[]
  sap: boolean
  sapPort: number
  sessionName: string
}

/** One stream as `aes67 list` shows it. */
export interface Aes67StreamRow {
  /** rx1.., tx1..: the name `aes67 sdp` takes. */
  stream: string
  address: string
  /** rx: the bound port; tx: the destination port. */
  port: number
  channels: number
  firstChannel: number
  bits: number
  ptimeMs: number
  /** rx: failover priority, and whether this source is the one its input plays. */
  priority?: number
  active?: boolean
  linkOffsetMs?: number
  /** rx: how it plays now: by RTP timestamp on the PTP media clock, or by arrival (docs/aes67.md, "Playout"). */
  playout?: 'timestamp' | 'arrival'
  packets: number
  lost: number
  late: number
  concealed: number
  malformed: number
  underruns: number
  overflows: number
  sendErrors: number
  switches: number
  lastSwitchCause: string
  fillFrames: number
}

/** An IPv4 address of this host for SDP origins: the stream's interface, else the first non-internal one, else loopback. */
export function hostAddress(iface = ''): string {
  if (iface) return iface
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

const PTIME_MS: Record<number, number> = { 125: 0.125, 250: 0.25, 333: 0.333, 1000: 1, 4000: 4 }

export class Aes67Unit {
  readonly config: UnitAes67Config
  readonly #stats: () => readonly NetStreamStats[]
  readonly #ptp: () => PtpStatus | null
  readonly #sessionId = String(Math.floor(Date.now() / 1000))
  #announcer: SapAnnouncer | null = null
  #listener: SapListener | null = null

  /** `stats`: the engine's counters (receive streams first); `ptp`: ptp4l's last answer (null: not read, or no ptpSocket). */
  constructor(config: UnitAes67Config, stats: () => readonly NetStreamStats[], ptp: () => PtpStatus | null = () => null) {
    this.config = config
    this.#stats = stats
    this.#ptp = ptp
  }

  /** The PTP clock as ptp4l last answered; `monitored` false: the profile names no ptpSocket (or no answer yet). */
  ptp(): { monitored: boolean } & Partial<PtpStatus> {
    const st = this.#ptp()
    return st ? { monitored: true, ...st } : { monitored: false }
  }

  /** Listens for SAP announcements and, with `sap`, announces every transmit stream. */
  async start(): Promise<void> {
    const listener = new SapListener()
    await listener.start(this.config.sapPort, SAP_GROUP)
    this.#listener = listener
    if (this.config.sap && this.config.tx.length > 0) {
      const announcer = new SapAnnouncer({ origin: hostAddress(this.config.tx[0]?.iface), port: this.config.sapPort })
      await announcer.start()
      this.#announcer = announcer
      for (let i = 0; i < this.config.tx.length; i++) announcer.announce(this.sdp(`tx${i + 1}`))
    }
  }

  /** Deletion packets for the announced streams, then closes the sockets. */
  async stop(): Promise<void> {
    await this.#announcer?.stop()
    this.#announcer = null
    this.#listener?.close()
    this.#listener = null
  }

  /** Every stream with its counters, receive streams first. */
  list(): Aes67StreamRow[] {
    const stats = this.#stats()
    const nRx = this.config.rx.length
    const row = (s: NativeAes67Stream, st: NetStreamStats | undefined, dir: 'rx' | 'tx', i: number): Aes67StreamRow => ({
      stream: `${dir}${i + 1}`,
      address: s.address,
      port: dir === 'rx' ? (st?.localPort ?? s.port) : s.port,
      channels: s.channels,
      firstChannel: s.firstChannel + 1,
      bits: s.bits,
      ptimeMs: PTIME_MS[s.ptimeUs] ?? s.ptimeUs / 1000,
      ...(dir === 'rx'
        ? {
            priority: s.priority,
            active: st?.active ?? false,
            linkOffsetMs: s.linkOffsetUs / 1000,
            playout: st?.timestampPlayout ? ('timestamp' as const) : ('arrival' as const),
          }
        : {}),
      packets: st?.packets ?? 0,
      lost: st?.lost ?? 0,
      late: st?.late ?? 0,
      concealed: st?.concealed ?? 0,
      malformed: st?.malformed ?? 0,
      underruns: st?.underruns ?? 0,
      overflows: st?.overflows ?? 0,
      sendErrors: st?.sendErrors ?? 0,
      switches: st?.switches ?? 0,
      lastSwitchCause: st?.lastSwitchCause ?? '',
      fillFrames: st?.fillFrames ?? 0,
    })
    return [...this.config.rx.map((s, i) => row(s, stats[i], 'rx', i)), ...this.config.tx.map((s, i) => row(s, stats[nRx + i], 'tx', i))]
  }

  /** The streams others announce with SAP (heard in the last 5 minutes). */
  discover(): Announced[] {
    return this.#listener?.list() ?? []
  }

  /** The SDP of transmit stream `name` (tx1..). */
  sdp(name: string): string {
    const m = /^tx([1-8])$/.exec(name)
    const s = m ? this.config.tx[Number(m[1]) - 1] : undefined
    if (!s) {
      const names = this.config.tx.map((_, i) => `tx${i + 1}`)
      throw new FirmwareError(
        'FW_ERR_BAD_ARG',
        `no transmit stream "${name}": ${names.length > 0 ? `this unit sends ${names.join(', ')}` : 'this unit sends no AES67 stream (board profile audio.aes67.tx)'}`,
      )
    }
    const i = Number(m?.[1]) - 1
    const origin = hostAddress(s.iface)
    const gm = this.#ptp()?.gmIdentity ?? ''
    return describeStream({
      name: `${this.config.sessionName} ${name}`,
      sessionId: String(Number(this.#sessionId) + i),
      sessionVersion: this.#sessionId,
      origin,
      address: s.address,
      port: s.port,
      ttl: s.ttl,
      payloadType: s.payloadType,
      bits: s.bits as 16 | 24,
      sampleRate: 48000,
      channels: s.channels,
      ptimeMs: PTIME_MS[s.ptimeUs] ?? 1,
      ssrc: s.ssrc,
      // RFC 7273: the grandmaster when ptp4l names one, else "traceable" (the system clock ptp4l disciplines).
      refclk: gm ? `ptp=IEEE1588-2008:${gm}:0` : 'ptp=IEEE1588-2008:traceable',
      mediaclkOffset: 0,
    })
  }
}

/** Why streams cannot be added or removed while the unit runs (docs/aes67.md, "In the running unit"). */
export const STATIC_STREAMS =
  'AES67 streams are set in the board profile (audio.aes67.rx / audio.aes67.tx): the engine opens them when it starts, and adding or removing one means restarting the engine, which drops the audio for the whole show; change the profile and restart the unit at a safe moment'

type Args = Record<string, string | number | boolean | undefined>

/** The `aes67` commands, in the registry's CommandSpec shape (firmware/commands/types.ts). */
export function aes67Commands(unit: () => Aes67Unit | null) {
  const need = (): Aes67Unit => {
    const u = unit()
    if (!u) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this unit has no AES67 streams (board profile audio.backend "aes67", audio.aes67)')
    return u
  }
  const REFUSED = 'refused: AES67 streams are set in the board profile (an engine restart is not show-safe)'
  const refusal = {
    permission: 'admin' as const,
    mutates: false,
    args: [{ name: 'stream', type: 'string' as const, optional: true, maxLength: 64, help: 'a stream (an address to add, rx2 / tx2 to remove)' }],
  }
  const refuse = (name: string) => (): never => {
    throw new FirmwareError('FW_ERR_AES67_STATIC', `${name}: ${STATIC_STREAMS}`)
  }
  return [
    {
      name: 'aes67 list',
      summary: 'the AES67 streams (board profile) with their counters: packets, lost, late, malformed, failover switches',
      examples: ['aes67 list'],
      permission: 'observe' as const,
      args: [],
      handler: (): Aes67StreamRow[] => need().list(),
      human: (rows: Aes67StreamRow[]) =>
        rows
          .map(
            (r) =>
              `${r.stream} ${r.address || '*'}:${r.port} ch${r.firstChannel}+${r.channels}${r.priority ? ` prio ${r.priority}${r.active ? ' playing' : ''}` : ''} packets ${r.packets} lost ${r.lost} late ${r.late} malformed ${r.malformed} underruns ${r.underruns} switches ${r.switches}${r.lastSwitchCause ? ` (${r.lastSwitchCause})` : ''}`,
          )
          .join('\n'),
    },
    {
      name: 'aes67 ptp',
      summary: 'the PTP clock as ptp4l reports it: port state, offset from the master, grandmaster, and health (locked, master, unlocked, lost)',
      examples: ['aes67 ptp'],
      permission: 'observe' as const,
      args: [],
      handler: () => need().ptp(),
      human: (v: ReturnType<Aes67Unit['ptp']>) =>
        v.monitored
          ? `PTP ${v.health}: ${v.portState || 'no answer'}, offset ${v.masterOffsetNs} ns, grandmaster ${v.gmIdentity || 'none'}`
          : 'PTP not monitored (board profile audio.aes67.ptpSocket unset) or not read yet',
    },
    {
      name: 'aes67 discover',
      summary: 'the AES67 streams others announce with SAP (heard in the last 5 minutes)',
      examples: ['aes67 discover'],
      permission: 'observe' as const,
      args: [],
      handler: () =>
        need()
          .discover()
          .map((a) => ({
            name: a.stream.name,
            origin: a.origin,
            address: a.stream.address,
            port: a.stream.port,
            channels: a.stream.channels,
            bits: a.stream.bits,
            ptimeMs: a.stream.ptimeMs,
            refclk: a.stream.refclk,
          })),
    },
    {
      name: 'aes67 sdp',
      summary: 'the SDP of one of the unit’s transmit streams (tx1..), as SAP announces it',
      examples: ['aes67 sdp tx1'],
      permission: 'observe' as const,
      args: [{ name: 'stream', type: 'string' as const, maxLength: 8, help: 'a transmit stream: tx1, tx2, ...' }],
      handler: (args: Args) => ({ stream: args.stream as string, sdp: need().sdp(args.stream as string) }),
      human: (v: { sdp: string }) => v.sdp.trimEnd().replace(/\r\n/g, '\n'),
    },
    {
      name: 'aes67 rx add',
      summary: REFUSED,
      ...refusal,
      examples: ['aes67 rx add 239.69.1.20'],
      handler: refuse('aes67 rx add'),
    },
    {
      name: 'aes67 rx remove',
      summary: REFUSED,
      ...refusal,
      examples: ['aes67 rx remove rx2'],
      handler: refuse('aes67 rx remove'),
    },
    {
      name: 'aes67 tx add',
      summary: REFUSED,
      ...refusal,
      examples: ['aes67 tx add 239.69.1.30'],
      handler: refuse('aes67 tx add'),
    },
    {
      name: 'aes67 tx remove',
      summary: REFUSED,
      ...refusal,
      examples: ['aes67 tx remove tx2'],
      handler: refuse('aes67 tx remove'),
    },
  ]
}
