// The aes67 backend's streams as engine options: defaulted and checked here, handed to the addon
// as plain records (addons/src/engine_config.h Aes67Stream, docs/aes67.md).
import { FirmwareError } from '../errors.ts'
import { checker, numberIn } from '../validate.ts'

/** One AES67 stream as the engine takes it. */
export interface Aes67StreamOptions {
  /** rx: multicast group to join, or a local unicast address ('' : any); tx: destination IPv4 address. */
  address: string
  /** rx: UDP port to bind (0: an ephemeral one, see netStats().localPort); tx: destination port. Defaults to 5004. */
  port: number
  /** Local IPv4 address of the interface for multicast. Defaults to '' (the kernel's choice). */
  iface: string
  /** 1..8. Defaults to 2. */
  channels: number
  /** The first engine input (rx) or output (tx) the stream carries. Defaults to the next free channel. */
  firstChannel: number
  /** 24 (L24) or 16 (L16). Defaults to 24. */
  bits: 16 | 24
  /** RTP payload type, 96..127. Defaults to 96. */
  payloadType: number
  /** Packet time in ms: 0.125, 0.25, 0.333, 1 or 4. Defaults to 1. */
  ptimeMs: number
  /** rx: the jitter buffer, ms (0.25..100). Defaults to 2. */
  linkOffsetMs: number
  /** rx: the only SSRC accepted (0: the first sender heard); tx: the stream's SSRC (defaults to a random one). */
  ssrc: number
  /** tx: multicast TTL, 1..255. Defaults to 16. */
  ttl: number
  /**
   * rx failover: receive streams with the same firstChannel and channels are one input's sources,
   * played in this priority order (1 first .. 4; docs/aes67.md "Failover"). Defaults to 1.
   */
  priority: number
  /** rx failover: a source losing more than this share of packets over 250 ms is degraded, %. Defaults to 10. */
  failoverLossPct: number
  /** rx failover: how long a higher-priority source must be healthy before the input returns to it, ms. Defaults to 2000. */
  returnMs: number
  /** rx: the sender's media clock offset, samples (SDP a=mediaclk:direct=N), for timestamp playout. Defaults to 0. */
  mediaClockOffset: number
}

/** As the addon takes one stream. */
export interface NativeAes67Stream {
  address: string
  port: number
  iface: string
  channels: number
  firstChannel: number
  bits: number
  payloadType: number
  ptimeUs: number
  linkOffsetUs: number
  ssrc: number
  ttl: number
  priority: number
  failoverLossPct: number
  returnMs: number
  mediaClockOffset: number
}

/** Packet times AES67 allows (ms), and the whole microseconds each is at 48 kHz. */
export const PTIMES_MS: Record<string, number> = { '0.125': 125, '0.25': 250, '0.333': 333, '1': 1000, '4': 4000 }

const OPTION = checker('FW_ERR_BAD_OPTION', (field, complaint) => `engine option ${field}: ${complaint}`)

function bad(field: string, msg: string): never {
  throw new FirmwareError('FW_ERR_BAD_OPTION', `engine option ${field}: ${msg}`)
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** True for a dotted IPv4 address. */
export function isIpv4(v: unknown): v is string {
  return typeof v === 'string' && IPV4.test(v)
}

/** Checks and defaults one direction's streams; `limit` is the engine's input or output count. */
export function resolveStreams(given: unknown, dir: 'rx' | 'tx', limit: number): NativeAes67Stream[] {
  const field = `aes67.${dir}`
  if (given === undefined) return []
  if (!Array.isArray(given) || given.length > 8) bad(field, 'must list 0 to 8 streams')
  let nextChannel = 0
  const streams = given.map((raw: unknown, i: number): NativeAes67Stream => {
    const f = `${field}[${i}]`
    if (typeof raw !== 'object' || raw === null) bad(f, 'must be an object')
    const s = {
      port: 5004,
      iface: '',
      channels: 2,
      bits: 24,
      payloadType: 96,
      ptimeMs: 1,
      linkOffsetMs: 2,
      ssrc: 0,
      ttl: 16,
      priority: 1,
      failoverLossPct: 10,
      returnMs: 2000,
      mediaClockOffset: 0,
      ...(raw as Partial<Aes67StreamOptions>),
    }
    const address = s.address ?? ''
    if (dir === 'tx' ? !isIpv4(address) : address !== '' && !isIpv4(address)) bad(`${f}.address`, `must be an IPv4 address, got ${JSON.stringify(address)}`)
    if (s.iface !== '' && !isIpv4(s.iface)) bad(`${f}.iface`, `must be an IPv4 address, got ${JSON.stringify(s.iface)}`)
    const channels = numberIn(OPTION, s.channels, `${f}.channels`, { min: 1, max: 8, integer: true })
    const firstChannel = numberIn(OPTION, s.firstChannel ?? nextChannel, `${f}.firstChannel`, { min: 0, max: limit - channels, integer: true })
    nextChannel = firstChannel + channels
    if (s.bits !== 16 && s.bits !== 24) bad(`${f}.bits`, `must be 16 or 24, got ${JSON.stringify(s.bits)}`)
    const ptimeUs = PTIMES_MS[String(s.ptimeMs)]
    if (ptimeUs === undefined) bad(`${f}.ptimeMs`, `must be one of ${Object.keys(PTIMES_MS).join(', ')}, got ${JSON.stringify(s.ptimeMs)}`)
    return {
      address,
      port: numberIn(OPTION, s.port, `${f}.port`, { min: dir === 'tx' ? 1 : 0, max: 65535, integer: true }),
      iface: s.iface,
      channels,
      firstChannel,
      bits: s.bits,
      payloadType: numberIn(OPTION, s.payloadType, `${f}.payloadType`, { min: 96, max: 127, integer: true }),
      ptimeUs,
      linkOffsetUs: Math.round(numberIn(OPTION, s.linkOffsetMs, `${f}.linkOffsetMs`, { min: 0.25, max: 100 }) * 1000),
      ssrc:
        dir === 'tx' && s.ssrc === 0
          ? (Math.random() * 2 ** 32) >>> 0 || 1
          : numberIn(OPTION, s.ssrc, `${f}.ssrc`, { min: 0, max: 2 ** 32 - 1, integer: true }),
      ttl: numberIn(OPTION, s.ttl, `${f}.ttl`, { min: 1, max: 255, integer: true }),
      priority: numberIn(OPTION, s.priority, `${f}.priority`, { min: 1, max: 4, integer: true }),
      failoverLossPct: numberIn(OPTION, s.failoverLossPct, `${f}.failoverLossPct`, { min: 0, max: 100 }),
      returnMs: numberIn(OPTION, s.returnMs, `${f}.returnMs`, { min: 0, max: 600_000, integer: true }),
      mediaClockOffset: numberIn(OPTION, s.mediaClockOffset, `${f}.mediaClockOffset`, { min: 0, max: 2 ** 32 - 1, integer: true }),
    }
  })
  if (dir === 'rx') checkGroups(streams, field)
  return streams
}

/** Receive streams overlap only as one input's sources: same channels, distinct priorities, at most 4. */
function checkGroups(streams: NativeAes67Stream[], field: string): void {
  streams.forEach((a, i) => {
    streams.slice(0, i).forEach((b, j) => {
      const overlap = a.firstChannel < b.firstChannel + b.channels && b.firstChannel < a.firstChannel + a.channels
      if (!overlap) return
      if (a.firstChannel !== b.firstChannel || a.channels !== b.channels) {
        bad(`${field}[${i}]`, `overlaps ${field}[${j}] without being its alternative source (give both the same firstChannel and channels)`)
      }
      if (a.priority === b.priority) bad(`${field}[${i}].priority`, `must differ from ${field}[${j}]'s (both ${a.priority}) for the same input`)
    })
  })
}

/** One stream's counters (Engine.netStats()). */
export interface NetStreamStats {
  direction: 'rx' | 'tx'
  /** The bound port (rx), the source port (tx). */
  localPort: number
  /** rx: packets accepted; tx: packets sent. */
  packets: number
  late: number
  lost: number
  concealed: number
  /** The sum of the five kinds below. */
  malformed: number
  badVersion: number
  wrongPayloadType: number
  tooShort: number
  tooLarge: number
  wrongSsrc: number
  underruns: number
  overflows: number
  sendErrors: number
  /** CLOCK_MONOTONIC ms of the last packet accepted (rx) or sent (tx); 0: none yet. */
  lastPacketMs: number
  ssrc: number
  /** rx: frames waiting in the jitter buffer. */
  fillFrames: number
  /** rx failover: this source is the one its input plays; its priority. */
  active: boolean
  priority: number
  /** rx failover: its input's switches so far, the cause and CLOCK_MONOTONIC ms of the last ('' : none). */
  switches: number
  lastSwitchCause: '' | 'source-dead' | 'source-degraded' | 'source-returned'
  lastSwitchMs: number
  /** rx: plays by RTP timestamp on the media clock now (PTP locked and its timestamps on it), else by arrival. */
  timestampPlayout: boolean
  /** The stream's slot in its direction (what Engine.addAes67Stream returned). */
  slot: number
}
