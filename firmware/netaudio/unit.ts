// The AES67 streams of a running unit (docs/aes67.md, "In the running unit"): the streams the
// board profile set and those added at run time (into the engine's free stream slots, saved and
// restored at the next start), their counters, the SDP of each transmit stream, SAP announcing of
// those while the unit runs (a deletion when one is removed), and the streams others announce.
// Its commands (`aes67 ...`) are written here as plain records in the command registry's shape;
// firmware/runtime/services.ts registers them (this layer sits below the registry and does not
// import it) and hands in the engine and the store's atomic write.
import { networkInterfaces } from 'node:os'
import { type Aes67StreamOptions, type NativeAes67Stream, type NetStreamStats, resolveStreams } from '../engine/aes67-options.ts'
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
  /** The stream's name (the profile's: rx1.., tx1..; an added one's as given): what `aes67 sdp` and `remove` take. */
  stream: string
  /** Where it comes from: the board profile, or `aes67 rx add` / `tx add` (saved, back after a restart). */
  origin: 'profile' | 'added'
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

type Dir = 'rx' | 'tx'

/** A stream added at run time as it is saved: its name and the options it was added with. */
export interface SavedStream {
  name: string
  options: Partial<Aes67StreamOptions>
}

export interface SavedStreams {
  rx: SavedStream[]
  tx: SavedStream[]
}

/** What the unit needs of the engine and the store to add streams at run time. */
export interface StreamHost {
  /** Engine inputs and outputs (the channels a stream may carry). */
  inputs: number
  outputs: number
  /** Opens a checked stream in a free slot (Engine.addAes67Stream): its slot; throws FW_ERR_AES67_STREAM. */
  add(dir: Dir, stream: NativeAes67Stream): number
  /** Stops a stream (Engine.removeAes67Stream): resolves once its slot is free. */
  remove(dir: Dir, slot: number): Promise<void>
  /** The saved run-time streams (null: none saved), and saving them (the store's atomic write). */
  load(): Promise<SavedStreams | null>
  save(streams: SavedStreams): Promise<void>
  log(message: string): void
}

interface Entry {
  name: string
  dir: Dir
  origin: 'profile' | 'added'
  slot: number
  s: NativeAes67Stream
  options?: Partial<Aes67StreamOptions>
  sap?: number
  /** A remove is fading it out (the event loop runs meanwhile): a second remove is refused. */
  removing?: boolean
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/

export class Aes67Unit {
  readonly config: UnitAes67Config
  readonly #stats: () => readonly NetStreamStats[]
  readonly #ptp: () => PtpStatus | null
  readonly #host: StreamHost | null
  readonly #sessionId = String(Math.floor(Date.now() / 1000))
  readonly #entries: Entry[] = []
  #saving: Promise<void> = Promise.resolve()
  #announcer: SapAnnouncer | null = null
  #listener: SapListener | null = null

  /**
   * `stats`: the engine's counters (receive streams first); `ptp`: ptp4l's last answer (null: not
   * read, or no ptpSocket); `host`: the engine and store for streams at run time (null: list only).
   */
  constructor(config: UnitAes67Config, stats: () => readonly NetStreamStats[], ptp: () => PtpStatus | null = () => null, host: StreamHost | null = null) {
    this.config = config
    this.#stats = stats
    this.#ptp = ptp
    this.#host = host
    // The profile's streams fill the first slots, in order.
    for (const [i, s] of config.rx.entries()) this.#entries.push({ name: `rx${i + 1}`, dir: 'rx', origin: 'profile', slot: i, s })
    for (const [i, s] of config.tx.entries()) this.#entries.push({ name: `tx${i + 1}`, dir: 'tx', origin: 'profile', slot: i, s })
  }

  /** The PTP clock as ptp4l last answered; `monitored` false: the profile names no ptpSocket (or no answer yet). */
  ptp(): { monitored: boolean } & Partial<PtpStatus> {
    const st = this.#ptp()
    return st ? { monitored: true, ...st } : { monitored: false }
  }

  /** Brings back the streams added at run time before, listens for SAP announcements and, with `sap`, announces every transmit stream. */
  async start(): Promise<void> {
    const saved = this.#host
      ? await this.#host.load().catch((e: Error) => {
          this.#host?.log(`saved streams not read: ${e.message}`)
          return null
        })
      : null
    for (const dir of ['rx', 'tx'] as const) {
      for (const st of saved?.[dir] ?? []) {
        try {
          this.#add(dir, st.name, st.options)
        } catch (e) {
          this.#host?.log(`saved ${dir} stream ${st.name} not restored: ${(e as Error).message}`)
        }
      }
    }
    const listener = new SapListener()
    await listener.start(this.config.sapPort, SAP_GROUP)
    this.#listener = listener
    if (this.config.sap) {
      const announcer = new SapAnnouncer({ origin: hostAddress(this.config.tx[0]?.iface), port: this.config.sapPort })
      await announcer.start()
      this.#announcer = announcer
      for (const e of this.#entries) if (e.dir === 'tx') e.sap = announcer.announce(this.sdp(e.name))
    }
  }

  /** Deletion packets for the announced streams, then closes the sockets. */
  async stop(): Promise<void> {
    await this.#announcer?.stop()
    this.#announcer = null
    this.#listener?.close()
    this.#listener = null
    await this.#saving
  }

  /** Every stream with its counters, receive streams first (each direction by slot). */
  list(): Aes67StreamRow[] {
    const stats = this.#stats()
    const row = (e: Entry): Aes67StreamRow => {
      const { s, dir } = e
      const st = stats.find((x) => x.direction === dir && (x.slot ?? -1) === e.slot)
      return {
        stream: e.name,
        origin: e.origin,
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
      }
    }
    const sorted = (dir: Dir) => this.#entries.filter((e) => e.dir === dir).sort((a, b) => a.slot - b.slot)
    return [...sorted('rx'), ...sorted('tx')].map(row)
  }

  /** The streams others announce with SAP (heard in the last 5 minutes). */
  discover(): Announced[] {
    return this.#listener?.list() ?? []
  }

  /** The SDP of transmit stream `name`. */
  sdp(name: string): string {
    const e = this.#entries.find((x) => x.dir === 'tx' && x.name === name)
    if (!e) {
      const names = this.#entries.filter((x) => x.dir === 'tx').map((x) => x.name)
      throw new FirmwareError(
        'FW_ERR_BAD_ARG',
        `no transmit stream "${name}": ${names.length > 0 ? `this unit sends ${names.join(', ')}` : 'this unit sends no AES67 stream (board profile audio.aes67.tx, or aes67 tx add)'}`,
      )
    }
    const s = e.s
    const origin = hostAddress(s.iface)
    const gm = this.#ptp()?.gmIdentity ?? ''
    return describeStream({
      name: `${this.config.sessionName} ${name}`,
      sessionId: String(Number(this.#sessionId) + e.slot),
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

  /**
   * Adds a stream while the unit runs (docs/aes67.md, "Streams at run time"): checked like a
   * profile stream, then against the streams there (name, port, inputs, priority), opened in a
   * free engine slot, saved, and (tx) announced with SAP. Refused with nothing changed.
   */
  async add(dir: Dir, name: string | undefined, options: Partial<Aes67StreamOptions>): Promise<Aes67StreamRow> {
    const e = this.#add(dir, name, options)
    if (dir === 'tx' && this.#announcer) e.sap = this.#announcer.announce(this.sdp(e.name))
    await this.#save()
    return this.list().find((r) => r.stream === e.name) as Aes67StreamRow
  }

  /** Removes a stream added at run time (a playing source fades out); SAP deletion for a transmit stream; saved. */
  async remove(dir: Dir, name: string): Promise<{ stream: string; removed: true }> {
    const host = this.#needHost()
    const e = this.#entries.find((x) => x.dir === dir && x.name === name)
    if (!e) {
      const names = this.#entries.filter((x) => x.dir === dir).map((x) => x.name)
      throw new FirmwareError('FW_ERR_AES67_STREAM', `aes67 ${dir} remove: no ${dirWord(dir)} stream "${name}" (this unit has ${names.join(', ') || 'none'})`)
    }
    if (e.origin === 'profile') {
      throw new FirmwareError(
        'FW_ERR_AES67_STATIC',
        `aes67 ${dir} remove ${name}: ${name} is set in the board profile (audio.aes67.${dir}), the unit's fixed wiring: change the profile and restart at a safe moment; only streams added with aes67 ${dir} add are removed at run time`,
      )
    }
    if (e.removing) throw new FirmwareError('FW_ERR_AES67_STREAM', `aes67 ${dir} remove: ${name} is already being removed`)
    e.removing = true
    try {
      await host.remove(dir, e.slot)
    } finally {
      e.removing = false
    }
    this.#entries.splice(this.#entries.indexOf(e), 1)
    if (e.sap !== undefined) this.#announcer?.withdraw(e.sap)
    await this.#save()
    return { stream: name, removed: true }
  }

  #needHost(): StreamHost {
    if (!this.#host) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this unit does not add AES67 streams at run time (no engine)')
    return this.#host
  }

  #add(dir: Dir, given: string | undefined, options: Partial<Aes67StreamOptions>): Entry {
    const host = this.#needHost()
    const what = `aes67 ${dir} add`
    const mine = this.#entries.filter((x) => x.dir === dir)
    let name = given
    if (name === undefined || name === '') {
      for (let k = 1; ; k++) {
        if (!this.#entries.some((x) => x.name === `${dir}${k}`)) {
          name = `${dir}${k}`
          break
        }
      }
    }
    if (!NAME.test(name))
      throw new FirmwareError('FW_ERR_BAD_ARG', `${what}: name must be a letter then up to 31 letters, digits, "-" or "_", got ${JSON.stringify(name)}`)
    if (this.#entries.some((x) => x.name === name)) throw new FirmwareError('FW_ERR_AES67_STREAM', `${what}: a stream named ${name} exists already`)
    let s: NativeAes67Stream
    try {
      ;[s] = resolveStreams([options], dir, dir === 'rx' ? host.inputs : host.outputs) as [NativeAes67Stream]
    } catch (e) {
      // "engine option aes67.rx[0].port: ..." -> "aes67 rx add: port: ..."
      const m = /^engine option aes67\.\w+\[0\]\.?([^:]*): (.*)$/s.exec((e as Error).message)
      if (!m) throw e
      throw new FirmwareError('FW_ERR_BAD_ARG', `${what}: ${m[1] === 'firstChannel' ? (dir === 'rx' ? 'input' : 'output') : m[1] || 'stream'}: ${m[2]}`)
    }
    if (dir === 'rx') {
      for (const o of mine) {
        const os = o.s
        if (s.port !== 0 && os.port === s.port && (os.address === s.address || os.address === '' || s.address === '' || !isMulticastAddr(s.address))) {
          throw new FirmwareError('FW_ERR_AES67_STREAM', `${what}: port ${s.port} is in use by ${o.name} (${os.address || '*'}:${os.port})`)
        }
        const overlap = s.firstChannel < os.firstChannel + os.channels && os.firstChannel < s.firstChannel + s.channels
        if (!overlap) continue
        if (s.firstChannel !== os.firstChannel || s.channels !== os.channels) {
          throw new FirmwareError(
            'FW_ERR_AES67_STREAM',
            `${what}: inputs ${s.firstChannel + 1}-${s.firstChannel + s.channels} overlap ${o.name}'s (${os.firstChannel + 1}-${os.firstChannel + os.channels}) without being its alternative source (give the same input and channels)`,
          )
        }
        if (os.priority === s.priority)
          throw new FirmwareError('FW_ERR_AES67_STREAM', `${what}: ${o.name} is that input's priority ${s.priority} source already`)
      }
    } else {
      const same = mine.find((o) => o.s.address === s.address && o.s.port === s.port)
      if (same) throw new FirmwareError('FW_ERR_AES67_STREAM', `${what}: ${s.address}:${s.port} is in use by ${same.name}`)
    }
    const slot = host.add(dir, s)
    const e: Entry = { name, dir, origin: 'added', slot, s, options }
    this.#entries.push(e)
    return e
  }

  /** The added streams to the store, one write after another. */
  #save(): Promise<void> {
    const host = this.#host
    if (!host) return Promise.resolve()
    const snapshot: SavedStreams = { rx: [], tx: [] }
    for (const e of this.#entries) if (e.origin === 'added' && e.options) snapshot[e.dir].push({ name: e.name, options: { ...e.options, ssrc: e.s.ssrc } })
    this.#saving = this.#saving.then(() => host.save(snapshot))
    return this.#saving
  }
}

function dirWord(dir: Dir): string {
  return dir === 'rx' ? 'receive' : 'transmit'
}

function isMulticastAddr(a: string): boolean {
  const first = Number(a.split('.')[0])
  return first >= 224 && first <= 239
}

type Args = Record<string, string | number | boolean | undefined>

/** Options from command arguments (absent ones keep the engine's defaults). */
function streamArgs(dir: Dir, a: Args): Partial<Aes67StreamOptions> {
  const o: Record<string, unknown> = {}
  const address = a.address as string | undefined
  o.address = address === 'any' ? '' : (address ?? '')
  if (a.port !== undefined) o.port = a.port
  if (a.channels !== undefined) o.channels = a.channels
  const first = dir === 'rx' ? a.input : a.output
  o.firstChannel = typeof first === 'number' ? first - 1 : 0
  for (const k of ['priority', 'linkOffsetMs', 'ptimeMs', 'ttl', 'bits', 'payloadType'] as const) if (a[k] !== undefined) o[k] = a[k]
  return o as Partial<Aes67StreamOptions>
}

/** The `aes67` commands, in the registry's CommandSpec shape (firmware/commands/types.ts). */
export function aes67Commands(unit: () => Aes67Unit | null) {
  const need = (): Aes67Unit => {
    const u = unit()
    if (!u) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this unit has no AES67 streams (board profile audio.backend "aes67", audio.aes67)')
    return u
  }
  const name = { name: 'name', type: 'string' as const, optional: true, maxLength: 32, help: 'the stream’s name (default: the next free rxN / txN)' }
  const address = (help: string) => ({ name: 'address', type: 'string' as const, maxLength: 15, help })
  const port = (min: number) => ({ name: 'port', type: 'int' as const, min, max: 65535, help: 'UDP port' })
  const channels = { name: 'channels', type: 'int' as const, optional: true, min: 1, max: 8, help: 'channels, 1..8 (default 2)' }
  const ptime = {
    name: 'ptimeMs',
    type: 'number' as const,
    optional: true,
    min: 0.125,
    max: 4,
    unit: 'ms',
    help: 'packet time: 0.125, 0.25, 0.333, 1 or 4 ms (default 1)',
  }
  const removeArg = { name: 'stream', type: 'string' as const, maxLength: 32, help: 'the stream’s name (aes67 list)' }
  return [
    {
      name: 'aes67 list',
      summary: 'the AES67 streams (board profile and added) with their counters: packets, lost, late, malformed, failover switches',
      examples: ['aes67 list'],
      permission: 'observe' as const,
      args: [],
      handler: (): Aes67StreamRow[] => need().list(),
      human: (rows: Aes67StreamRow[]) =>
        rows
          .map(
            (r) =>
              `${r.stream} (${r.origin}) ${r.address || '*'}:${r.port} ch${r.firstChannel}+${r.channels}${r.priority ? ` prio ${r.priority}${r.active ? ' playing' : ''}` : ''} packets ${r.packets} lost ${r.lost} late ${r.late} malformed ${r.malformed} underruns ${r.underruns} switches ${r.switches}${r.lastSwitchCause ? ` (${r.lastSwitchCause})` : ''}`,
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
      args: [{ name: 'stream', type: 'string' as const, maxLength: 32, help: 'a transmit stream: tx1, tx2, ... or an added one’s name' }],
      handler: (args: Args) => ({ stream: args.stream as string, sdp: need().sdp(args.stream as string) }),
      human: (v: { sdp: string }) => v.sdp.trimEnd().replace(/\r\n/g, '\n'),
    },
    {
      name: 'aes67 rx add',
      summary: 'add a receive stream while the unit runs: a source of an input (failover by priority); saved, back after a restart',
      examples: ['aes67 rx add 239.69.1.40 5004 2 1 2', 'aes67 rx add address=239.69.1.40 port=5004 input=3 name=band'],
      permission: 'admin' as const,
      mutates: true,
      args: [
        address('multicast group to join, a local unicast address, or "any"'),
        port(0),
        channels,
        { name: 'input', type: 'int' as const, optional: true, min: 1, max: 64, help: 'the first engine input it fills (default 1)' },
        { name: 'priority', type: 'int' as const, optional: true, min: 1, max: 4, help: 'its priority among the input’s sources, 1 first (default 1)' },
        { name: 'linkOffsetMs', type: 'number' as const, optional: true, min: 0.25, max: 100, unit: 'ms', help: 'the jitter buffer (default 2)' },
        name,
        ptime,
      ],
      handler: (args: Args) => need().add('rx', args.name as string | undefined, streamArgs('rx', args)),
    },
    {
      name: 'aes67 rx remove',
      summary: 'remove a receive stream added at run time (a playing source fades out); profile streams stay',
      examples: ['aes67 rx remove band'],
      permission: 'admin' as const,
      mutates: true,
      args: [removeArg],
      handler: (args: Args) => need().remove('rx', args.stream as string),
    },
    {
      name: 'aes67 tx add',
      summary: 'add a transmit stream of engine outputs while the unit runs; announced with SAP, saved, back after a restart',
      examples: ['aes67 tx add 239.69.1.50 5004 2 1', 'aes67 tx add address=239.69.1.50 port=5004 output=3 name=rec'],
      permission: 'admin' as const,
      mutates: true,
      args: [
        address('destination IPv4 address (multicast group or unicast)'),
        port(1),
        channels,
        { name: 'output', type: 'int' as const, optional: true, min: 1, max: 64, help: 'the first engine output it sends (default 1)' },
        name,
        ptime,
        { name: 'ttl', type: 'int' as const, optional: true, min: 1, max: 255, help: 'multicast TTL (default 16)' },
      ],
      handler: (args: Args) => need().add('tx', args.name as string | undefined, streamArgs('tx', args)),
    },
    {
      name: 'aes67 tx remove',
      summary: 'remove a transmit stream added at run time (a SAP deletion is sent); profile streams stay',
      examples: ['aes67 tx remove rec'],
      permission: 'admin' as const,
      mutates: true,
      args: [removeArg],
      handler: (args: Args) => need().remove('tx', args.stream as string),
    },
  ]
}
