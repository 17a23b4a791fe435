// SAP (RFC 2974): announcing the unit's transmit streams and hearing others' announcements.
// Packets: an 8-byte header for IPv4 (V=1, A=0, R=0, T=announce/delete, E=0, C=0, auth length 0,
// a 16-bit message id hash, the originating source), "application/sdp\0", then the SDP.
// An Announcer repeats each stream's announcement every `intervalMs` (RFC 2974 allows 30 s or
// more on a busy group; a small show network uses 30 s) and sends a deletion packet for each
// when it stops; a Listener keeps the streams heard, drops them on deletion or when not heard
// for ten intervals.
import { createSocket, type Socket } from 'node:dgram'
import { FirmwareError } from '../errors.ts'
import { parseSdp, type SdpStream } from './sdp.ts'

export const SAP_GROUP = '239.255.255.255'
export const SAP_PORT = 9875
const MIME = 'application/sdp'

export interface SapMessage {
  deletion: boolean
  hash: number
  origin: string
  sdp: string
}

/** One SAP packet. */
export function sapPacket(m: SapMessage): Buffer {
  const h = Buffer.alloc(8)
  h[0] = 0x20 | (m.deletion ? 0x04 : 0)
  h[1] = 0
  h.writeUInt16BE(m.hash & 0xffff, 2)
  const parts = m.origin.split('.').map(Number)
  for (let i = 0; i < 4; i++) h[4 + i] = parts[i] ?? 0
  return Buffer.concat([h, Buffer.from(`${MIME}\0`, 'latin1'), Buffer.from(m.sdp, 'utf8')])
}

/** Reads one SAP packet; FW_ERR_AES67_SDP when it is not SAPv1 over IPv4 carrying SDP. */
export function parseSap(b: Buffer): SapMessage {
  const bad = (why: string): never => {
    throw new FirmwareError('FW_ERR_AES67_SDP', `SAP packet: ${why}`)
  }
  if (b.length < 8) bad(`too short (${b.length} bytes)`)
  const b0 = b[0] ?? 0
  if (b0 >> 5 !== 1) bad(`version ${b0 >> 5}, not 1`)
  if (b0 & 0x10) bad('IPv6 origin is not supported')
  if (b0 & 0x03) bad('encrypted or compressed payloads are not supported')
  let off = 8 + (b[1] ?? 0) * 4
  if (off > b.length) bad('authentication data runs past the end')
  // The payload type is optional (RFC 2974: absent means SDP); present, it ends with a NUL.
  if (b.subarray(off, off + 3).toString('latin1') !== 'v=0') {
    const nul = b.indexOf(0, off)
    if (nul < 0) bad('no payload type terminator')
    const type = b.subarray(off, nul).toString('latin1')
    if (type !== MIME) bad(`payload type ${JSON.stringify(type)} is not ${MIME}`)
    off = nul + 1
  }
  return { deletion: (b0 & 0x04) !== 0, hash: b.readUInt16BE(2), origin: [...b.subarray(4, 8)].join('.'), sdp: b.subarray(off).toString('utf8') }
}

/** A stable 16-bit hash of a session (origin, session id), the SAP message id. */
export function sapHash(origin: string, sessionId: string): number {
  let h = 0x811c9dc5
  for (const c of `${origin} ${sessionId}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return (h ^ (h >>> 16)) & 0xffff
}

export interface AnnouncerOptions {
  /** Where announcements go. Defaults to SAP_GROUP:SAP_PORT. */
  group: string
  port: number
  /** Repeat period. Defaults to 30 000 ms. */
  intervalMs: number
  /** The unit's address as origin. */
  origin: string
  ttl: number
}

/** Announces SDPs with SAP; stop() sends a deletion for each. */
export class SapAnnouncer {
  readonly #sock: Socket = createSocket({ type: 'udp4', reuseAddr: true })
  readonly #opts: AnnouncerOptions
  readonly #sdps = new Map<number, string>()
  #timer: NodeJS.Timeout | undefined
  /** Sends the network refused (no route, no multicast), and the last reason: counted, never thrown. */
  sendErrors = 0
  lastError = ''

  constructor(opts: Partial<AnnouncerOptions> & { origin: string }) {
    this.#opts = { group: SAP_GROUP, port: SAP_PORT, intervalMs: 30_000, ttl: 16, ...opts }
    // A socket error with no listener would end the process; announcing is never worth that.
    this.#sock.on('error', (e) => this.#failed(e))
  }

  #failed(e: Error): void {
    this.sendErrors++
    this.lastError = e.message
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#sock.bind(0, resolve))
    this.#sock.setMulticastTTL(this.#opts.ttl)
    this.#sock.setMulticastLoopback(true)
    this.#timer = setInterval(() => this.#announceAll(), this.#opts.intervalMs)
  }

  /** Adds (or replaces) a stream's announcement and sends it at once. */
  announce(sdp: string): number {
    const s = parseSdp(sdp)
    const hash = sapHash(s.origin, s.sessionId)
    this.#sdps.set(hash, sdp)
    this.#send({ deletion: false, hash, origin: this.#opts.origin, sdp })
    return hash
  }

  /** Withdraws one announcement with a deletion packet. */
  withdraw(hash: number): void {
    const sdp = this.#sdps.get(hash)
    if (sdp === undefined) return
    this.#sdps.delete(hash)
    this.#send({ deletion: true, hash, origin: this.#opts.origin, sdp })
  }

  #announceAll(): void {
    for (const [hash, sdp] of this.#sdps) this.#send({ deletion: false, hash, origin: this.#opts.origin, sdp })
  }

  #send(m: SapMessage): void {
    this.#sock.send(sapPacket(m), this.#opts.port, this.#opts.group, (e) => {
      if (e) this.#failed(e)
    })
  }

  /** Deletion packets for every stream, then closes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    const pending = [...this.#sdps.keys()].map(
      (hash) =>
        new Promise<void>((resolve) => {
          const sdp = this.#sdps.get(hash) ?? ''
          this.#sock.send(sapPacket({ deletion: true, hash, origin: this.#opts.origin, sdp }), this.#opts.port, this.#opts.group, (e) => {
            if (e) this.#failed(e)
            resolve()
          })
        }),
    )
    await Promise.all(pending)
    this.#sdps.clear()
    this.#sock.close()
  }
}

/** A stream someone announces. */
export interface Announced {
  hash: number
  origin: string
  stream: SdpStream
  sdp: string
  lastHeardMs: number
}

/** Listens for SAP announcements and keeps the streams announced. */
export class SapListener {
  readonly #sock: Socket = createSocket({ type: 'udp4', reuseAddr: true })
  readonly #streams = new Map<string, Announced>()
  readonly #expireMs: number
  /** Packets that were not SAP/SDP this unit can read. */
  refused = 0
  port = 0

  constructor(opts: { expireMs?: number } = {}) {
    this.#expireMs = opts.expireMs ?? 300_000
    // A socket error with no listener would end the process: counted with the refused packets.
    this.#sock.on('error', () => this.refused++)
  }

  /** Binds `port` (0: ephemeral, for tests) and joins `group`. */
  async start(port = SAP_PORT, group = SAP_GROUP): Promise<void> {
    await new Promise<void>((resolve) => this.#sock.bind(port, resolve))
    this.#sock.addMembership(group)
    this.port = this.#sock.address().port
    this.#sock.on('message', (b) => this.#onMessage(b))
  }

  #onMessage(b: Buffer): void {
    try {
      const m = parseSap(b)
      const key = `${m.origin}/${m.hash}`
      if (m.deletion) {
        this.#streams.delete(key)
        return
      }
      this.#streams.set(key, { hash: m.hash, origin: m.origin, stream: parseSdp(m.sdp), sdp: m.sdp, lastHeardMs: Date.now() })
    } catch {
      this.refused++
    }
  }

  /** The streams announced and heard within the expiry time. */
  list(): Announced[] {
    const now = Date.now()
    for (const [k, a] of this.#streams) if (now - a.lastHeardMs > this.#expireMs) this.#streams.delete(k)
    return [...this.#streams.values()]
  }

  close(): void {
    this.#sock.close()
  }
}
