// OSC over UDP for mixing consoles: a small documented address space (docs/api.md, "OSC") mapped onto
// the command registry. Off by default. When on, only allow-listed source addresses are heard, and no
// destructive or admin command can be reached. OSC carries no encryption or authentication beyond the
// source address: keep it on a trusted control network.
import { BlockList, isIP } from 'node:net'
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import type { BoardProfile } from '../board/profile.ts'
import type { CommandResult, Principal, RegistryForApi } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import { AuditLog } from '../transport/audit.ts'
import { ClientRateLimiter } from '../transport/ratelimit.ts'
import { decodePacket, encodeMessage, type OscArg, OscDecodeError, type OscMessage } from './codec.ts'

export interface OscOptions {
  /** OSC is off unless this is true. Defaults to false. */
  enabled?: boolean
  /** Source addresses allowed to send: IPs ("192.168.1.20") or IPv4/IPv6 CIDR ("192.168.1.0/24"). Empty: nobody. */
  allow?: string[]
  /** UDP port. Defaults to profile.api.oscPort; 0 picks a free port (tests). */
  port?: number
  /** Bind address. Defaults to "0.0.0.0". */
  host?: string
  /** Reply "/ok" or "/error" to the sender's address and port. Defaults to true. */
  replies?: boolean
  /** Messages per second per source before dropping. Defaults to 200 (faders move fast). */
  perSecond?: number
  /** JSON-lines audit of every state-changing OSC message (same format as the API's). Defaults to none. */
  auditFile?: string
  /** Where refusals and errors are reported (never packet contents). Defaults to nowhere. */
  log?: (level: 'info' | 'warn', message: string) => void
}

export interface OscStats {
  received: number
  accepted: number
  refusedSource: number
  refusedCommand: number
  malformed: number
  rateLimited: number
}

export interface OscHandle {
  enabled: boolean
  port: number
  stats(): OscStats
  stop(): Promise<void>
}

interface Mapped {
  command: string
  args: Record<string, unknown>
}

/** A number from an OSC int, float or bool argument. */
function n(a: OscArg | undefined): number | undefined {
  if (typeof a === 'number') return a
  if (typeof a === 'boolean') return a ? 1 : 0
  return undefined
}

/** 1-based channel index from an address segment. */
function idx(s: string | undefined): number | undefined {
  return s !== undefined && /^[0-9]{1,3}$/.test(s) ? Number(s) : undefined
}

/**
 * The address space. Every entry names a registry command; nothing here implements a command.
 *   /bypass            i|T|F    1/true = manual bypass on, 0/false = off
 *   /beam/N/steer      f [f]    azimuth degrees [, elevation degrees]
 *   /beam/N/auto       i|T|F    automatic steering on/off
 *   /output/N/gain     f        output gain, dB
 *   /input/N/trim      f        input trim, dB
 *   /preset/load       s        load a named preset
 *   /status                     replies /status state relay
 */
export function mapMessage(m: OscMessage): Mapped | string {
  const seg = m.address.split('/').slice(1)
  const a0 = m.args[0]
  const onOff = (v: OscArg | undefined): boolean | undefined => (v === true || v === false ? v : typeof v === 'number' ? v >= 0.5 : undefined)
  switch (seg[0]) {
    case 'bypass':
      if (seg.length !== 1 || onOff(a0) === undefined) return '/bypass takes one int (1 on, 0 off) or T/F'
      return { command: 'bypass', args: { state: onOff(a0) } }
    case 'beam': {
      const beam = idx(seg[1])
      if (beam === undefined) return '/beam/N/... needs a beam number N'
      if (seg[2] === 'steer' && seg.length === 3 && n(a0) !== undefined) {
        const args: Record<string, unknown> = { beam, azimuth: n(a0) }
        if (n(m.args[1]) !== undefined) args.elevation = n(m.args[1])
        return { command: 'beam steer', args }
      }
      if (seg[2] === 'auto' && seg.length === 3 && onOff(a0) !== undefined) return { command: 'beam auto', args: { beam, enabled: onOff(a0) } }
      return '/beam/N/steer takes azimuth [elevation] in degrees; /beam/N/auto takes 1 or 0'
    }
    case 'output': {
      const output = idx(seg[1])
      if (output !== undefined && seg[2] === 'gain' && seg.length === 3 && n(a0) !== undefined) return { command: 'gain', args: { output, db: n(a0) } }
      return '/output/N/gain takes a gain in dB'
    }
    case 'input': {
      const input = idx(seg[1])
      if (input !== undefined && seg[2] === 'trim' && seg.length === 3 && n(a0) !== undefined) return { command: 'trim', args: { input, db: n(a0) } }
      return '/input/N/trim takes a trim in dB'
    }
    case 'preset':
      if (seg[1] === 'load' && seg.length === 2 && typeof a0 === 'string') return { command: 'preset load', args: { name: a0 } }
      return '/preset/load takes a preset name (string)'
    case 'status':
      if (seg.length === 1) return { command: 'status', args: {} }
      return '/status takes no arguments'
    default:
      return `unknown OSC address ${m.address.slice(0, 64)}; see docs/api.md (OSC)`
  }
}

function buildAllowList(allow: string[]): BlockList {
  const list = new BlockList()
  for (const entry of allow) {
    const [addr, bits] = entry.split('/')
    const family = isIP(addr ?? '')
    if (!family) throw new FirmwareError('FW_ERR_BAD_OPTION', `OSC allow-list entry ${JSON.stringify(entry)} is not an IP address or CIDR`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(addr!, type)
    else {
      const prefix = Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32))
        throw new FirmwareError('FW_ERR_BAD_OPTION', `OSC allow-list entry ${JSON.stringify(entry)} has a bad prefix length`)
      list.addSubnet(addr!, prefix, type)
    }
  }
  return list
}

export async function startOsc(_app: ApplianceApi, registry: RegistryForApi, profile: BoardProfile, opts: OscOptions = {}): Promise<OscHandle> {
  if (!opts.enabled) {
    return { enabled: false, port: 0, stats: () => zeroStats(), stop: async () => {} }
  }
  const osc = new OscListener(registry, opts)
  const port = await osc.listen(opts.port ?? profile.api.oscPort, opts.host ?? '0.0.0.0')
  return { enabled: true, port, stats: () => ({ ...osc.stats }), stop: () => osc.stop() }
}

function zeroStats(): OscStats {
  return { received: 0, accepted: 0, refusedSource: 0, refusedCommand: 0, malformed: 0, rateLimited: 0 }
}

type Source = { address: string; port: number; family: string }

/** One OSC listener: admission (allow-list, rate limit, decoding), the queue, commands, replies and audit. */
class OscListener {
  readonly stats: OscStats = zeroStats()
  readonly #registry: RegistryForApi
  readonly #opts: OscOptions
  readonly #log: (level: 'info' | 'warn', message: string) => void
  readonly #lastWarn = new Map<string, number>()
  #allow: BlockList | null = null
  #limiter: ClientRateLimiter | null = null
  #audit: AuditLog | null = null
  #sock: SocketAsPromised | null = null
  // Every datagram is queued as it arrives and handled in order. (dgram-as-promised's recv() and its
  // async iterator listen only while awaited, so a burst of fader moves would lose packets.)
  readonly #queue: Array<{ msg: Buffer; rinfo: Source }> = []
  #busy = false
  #draining: Promise<void> = Promise.resolve()

  constructor(registry: RegistryForApi, opts: OscOptions) {
    this.#registry = registry
    this.#opts = opts
    this.#log = opts.log ?? (() => {})
  }

  /** Checks the options, binds, and starts taking datagrams; resolves the bound port. */
  async listen(port: number, host: string): Promise<number> {
    const opts = this.#opts
    this.#allow = buildAllowList(opts.allow ?? [])
    this.#limiter = new ClientRateLimiter({ perSecond: opts.perSecond ?? 200, burst: (opts.perSecond ?? 200) * 2 })
    this.#audit = opts.auditFile ? new AuditLog(opts.auditFile) : null
    // Aggregated refusals are written when their window ends, and what is open when OSC stops.
    this.#audit?.flushEvery(10_000)
    const sock: SocketAsPromised = DgramAsPromised.createSocket('udp4')
    this.#sock = sock
    const addr = await sock.bind(port, host)
    this.#log('info', `OSC listening on UDP ${addr.port}; allowed sources: ${(opts.allow ?? []).join(', ') || 'none'}`)
    sock.socket.on('message', (msg: Buffer, rinfo) => this.#onDatagram(msg, rinfo))
    return addr.port
  }

  async stop(): Promise<void> {
    this.#queue.length = 0
    await this.#sock?.close().catch(() => {})
    await this.#draining
    try {
      this.#audit?.close()
    } catch {
      /* auditing never takes OSC down */
    }
  }

  #warnOnce(key: string, msg: string): void {
    const now = Date.now()
    if ((this.#lastWarn.get(key) ?? 0) + 60_000 > now) return
    this.#lastWarn.set(key, now)
    if (this.#lastWarn.size > 1000) this.#lastWarn.clear()
    this.#log('warn', msg)
  }

  #reply(address: string, args: OscArg[], to: { address: string; port: number }): void {
    if (!(this.#opts.replies ?? true) || !this.#sock) return
    this.#sock.send(encodeMessage(address, args), to.port, to.address).catch(() => {})
  }

  #onDatagram(msg: Buffer, rinfo: Source): void {
    this.stats.received++
    if (this.#queue.length >= 1024) {
      this.stats.rateLimited++
      return
    }
    this.#queue.push({ msg, rinfo })
    if (!this.#busy) {
      this.#busy = true
      this.#draining = this.#drain().catch((e: unknown) => this.#log('warn', `OSC handling failed: ${(e as Error).message}`))
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const { msg, rinfo } = this.#queue.shift()!
        for (const m of this.#accept(msg, rinfo)) await this.#handleOne(m, rinfo)
      }
    } finally {
      this.#busy = false
    }
  }

  /** The messages of a datagram from an allowed source within its rate; nothing otherwise. */
  #accept(msg: Buffer, rinfo: Source): OscMessage[] {
    const family = rinfo.family === 'IPv6' ? 'ipv6' : 'ipv4'
    if (!this.#allow!.check(rinfo.address, family)) {
      this.stats.refusedSource++
      this.#warnOnce(`src:${rinfo.address}`, `OSC from ${rinfo.address} refused: not in the allow-list`)
      return [] // no reply: a disallowed source learns nothing
    }
    if (this.#limiter!.take(rinfo.address) > 0) {
      this.stats.rateLimited++
      this.#warnOnce(`rate:${rinfo.address}`, `OSC from ${rinfo.address} over ${this.#opts.perSecond ?? 200} messages/s; dropping`)
      return []
    }
    try {
      return decodePacket(msg).slice(0, 64)
    } catch (e) {
      this.stats.malformed++
      const why = e instanceof OscDecodeError ? e.message : 'undecodable packet'
      this.#warnOnce(`bad:${rinfo.address}`, `malformed OSC from ${rinfo.address}: ${why}`)
      this.#reply('/error', ['FW_ERR_OSC', why], rinfo)
      return []
    }
  }

  async #handleOne(m: OscMessage, from: { address: string; port: number }): Promise<void> {
    const mapped = mapMessage(m)
    if (typeof mapped === 'string') {
      this.stats.malformed++
      this.#reply('/error', ['FW_ERR_OSC', mapped], from)
      return
    }
    const spec = this.#registry.get(mapped.command)
    // Never destructive, never admin, whatever the registry says the command is.
    if (!spec || spec.destructive || spec.permission === 'admin') {
      this.stats.refusedCommand++
      this.#reply('/error', ['FW_ERR_OSC', `${mapped.command} is not available over OSC`], from)
      return
    }
    const r = await this.#run(mapped, from)
    if (this.#audit && spec.mutates !== false && spec.permission !== 'observe') {
      this.#audit.write({
        at: new Date().toISOString(),
        who: null,
        remote: from.address,
        method: 'OSC',
        path: m.address,
        command: mapped.command,
        args: mapped.args,
        status: r.ok ? 200 : 400,
        result: r.ok ? 'ok' : r.code,
      })
    }
    this.#answer(m, mapped, r, from)
  }

  async #run(mapped: Mapped, from: { address: string }): Promise<CommandResult> {
    const principal: Principal = { name: `osc:${from.address}`, permission: 'operate', transport: 'osc' }
    try {
      return await this.#registry.execute(mapped.command, mapped.args, principal)
    } catch (e) {
      return { ok: false, command: mapped.command, code: 'FW_ERR_COMMAND_FAILED', message: (e as Error).message }
    }
  }

  #answer(m: OscMessage, mapped: Mapped, r: CommandResult, from: { address: string; port: number }): void {
    if (r.ok) {
      this.stats.accepted++
      if (mapped.command === 'status') {
        const v = r.value as { state?: string; relay?: string }
        this.#reply('/status', [String(v.state ?? ''), String(v.relay ?? '')], from)
      } else {
        this.#reply('/ok', [m.address], from)
      }
    } else {
      this.stats.refusedCommand++
      this.#reply('/error', [r.code, r.message.slice(0, 200)], from)
    }
  }
}
