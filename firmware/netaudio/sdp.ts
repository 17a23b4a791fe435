// SDP (RFC 4566) for AES67 streams, with the RFC 7273 clock attributes AES67 requires:
// a=ts-refclk:ptp=IEEE1588-2008:<grandmaster>:<domain>, a=mediaclk:direct=<offset>, a=ptime,
// a=rtpmap:<pt> L24|L16/48000/<channels>. describeStream() writes one; parseSdp() reads one
// (from a controller, a SAP announcement or the `aes67 rx add` command) into stream options,
// refusing what this unit cannot receive with FW_ERR_AES67_SDP naming the line.

import { isIpv4, PTIMES_MS } from '../engine/aes67-options.ts'
import { FirmwareError } from '../errors.ts'

/** What an SDP says about one AES67 stream. */
export interface SdpStream {
  /** s= */
  name: string
  /** o= session id and version (decimal strings, as SDP carries them). */
  sessionId: string
  sessionVersion: string
  /** o= unicast address of the origin. */
  origin: string
  /** c= (multicast or unicast destination) and m= port. */
  address: string
  port: number
  ttl: number
  payloadType: number
  bits: 16 | 24
  sampleRate: number
  channels: number
  /** a=ptime (ms); 1 when absent (AES67's default). */
  ptimeMs: number
  /** a=ts-refclk: 'ptp=IEEE1588-2008:<gm>:<domain>' or 'local' etc.; '' when absent. */
  refclk: string
  /** a=mediaclk:direct=<n>: the RTP timestamp at PTP time 0 (mod 2^32); 0 when absent. */
  mediaclkOffset: number
  /** a=x-ssrc? No: RFC 5576 a=ssrc:<n> when present, else 0. */
  ssrc: number
}

function bad(line: string, why: string): never {
  throw new FirmwareError('FW_ERR_AES67_SDP', `SDP ${line}: ${why}`)
}

/** Writes the SDP of one stream (CRLF line ends, as RFC 4566 asks). */
export function describeStream(s: SdpStream): string {
  const enc = s.bits === 24 ? 'L24' : 'L16'
  const multicast = isMulticast(s.address)
  const lines = [
    'v=0',
    `o=- ${s.sessionId} ${s.sessionVersion} IN IP4 ${s.origin}`,
    `s=${s.name}`,
    `c=IN IP4 ${s.address}${multicast ? `/${s.ttl}` : ''}`,
    't=0 0',
    `m=audio ${s.port} RTP/AVP ${s.payloadType}`,
    `i=${s.channels} channels`,
    `a=rtpmap:${s.payloadType} ${enc}/${s.sampleRate}/${s.channels}`,
    `a=ptime:${s.ptimeMs}`,
    ...(s.ssrc ? [`a=ssrc:${s.ssrc >>> 0} cname:${s.origin}`] : []),
    'a=recvonly',
    ...(s.refclk ? [`a=ts-refclk:${s.refclk}`] : []),
    `a=mediaclk:direct=${s.mediaclkOffset >>> 0}`,
  ]
  return `${lines.join('\r\n')}\r\n`
}

export function isMulticast(address: string): boolean {
  const first = Number(address.split('.')[0])
  return isIpv4(address) && first >= 224 && first <= 239
}

/** Reads one AES67 stream from an SDP text; FW_ERR_AES67_SDP when it is not one this unit can take. */
export function parseSdp(text: string): SdpStream {
  if (typeof text !== 'string' || text.length > 8192) bad('(text)', 'must be a string of at most 8192 characters')
  const lines = text.split(/\r?\n/).filter((l) => l !== '')
  if (lines[0] !== 'v=0') bad('v=', 'must start with v=0')
  const out: Partial<SdpStream> & { rtpmaps: Map<number, string> } = {
    rtpmaps: new Map(),
    ptimeMs: 1,
    refclk: '',
    mediaclkOffset: 0,
    ssrc: 0,
    name: '',
    ttl: 0,
  }
  let media = 0
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) bad(JSON.stringify(line.slice(0, 40)), 'is not a <type>=<value> line')
    const [type, value] = [line[0], line.slice(2)]
    if (type === 'o') {
      const f = value.split(' ')
      if (f.length !== 6 || f[3] !== 'IN' || f[4] !== 'IP4') bad('o=', `must be "o=<user> <id> <version> IN IP4 <address>", got ${JSON.stringify(value)}`)
      out.sessionId = f[1] ?? ''
      out.sessionVersion = f[2] ?? ''
      out.origin = f[5] ?? ''
    } else if (type === 's') out.name = value
    else if (type === 'c') {
      const m = /^IN IP4 ([0-9.]+)(?:\/(\d+))?(?:\/\d+)?$/.exec(value)
      if (!m || !isIpv4(m[1])) bad('c=', `must be "c=IN IP4 <address>[/<ttl>]", got ${JSON.stringify(value)}`)
      out.address = m[1]
      out.ttl = m[2] ? Number(m[2]) : 0
    } else if (type === 'm') {
      media++
      if (media > 1) bad('m=', 'holds more than one media stream; give one stream per SDP')
      const m = /^audio (\d+) RTP\/AVP (\d+)$/.exec(value)
      if (!m) bad('m=', `must be "m=audio <port> RTP/AVP <pt>", got ${JSON.stringify(value)}`)
      out.port = Number(m[1])
      out.payloadType = Number(m[2])
      if (out.port < 1 || out.port > 65535) bad('m=', `port must be 1..65535, got ${out.port}`)
    } else if (type === 'a') {
      const [attr, ...rest] = value.split(':')
      const v = rest.join(':')
      if (attr === 'rtpmap') {
        const m = /^(\d+) ([^/]+)\/(\d+)(?:\/(\d+))?$/.exec(v)
        if (!m) bad('a=rtpmap', `must be "<pt> <encoding>/<rate>[/<channels>]", got ${JSON.stringify(v)}`)
        out.rtpmaps.set(Number(m[1]), `${m[2]}/${m[3]}/${m[4] ?? '1'}`)
      } else if (attr === 'ptime') {
        const ms = Number(v)
        if (PTIMES_MS[String(ms)] === undefined) bad('a=ptime', `must be one of ${Object.keys(PTIMES_MS).join(', ')} ms, got ${JSON.stringify(v)}`)
        out.ptimeMs = ms
      } else if (attr === 'ts-refclk') out.refclk = v
      else if (attr === 'mediaclk') {
        const m = /^direct=(\d+)/.exec(v)
        if (!m) bad('a=mediaclk', `only "direct=<offset>" (RFC 7273) is supported, got ${JSON.stringify(v)}`)
        out.mediaclkOffset = Number(m[1]) >>> 0
      } else if (attr === 'ssrc') {
        const n = Number(v.split(' ')[0])
        if (Number.isInteger(n) && n >= 0 && n < 2 ** 32) out.ssrc = n
      }
    }
  }
  if (media !== 1) bad('m=', 'no audio media line')
  if (out.address === undefined) bad('c=', 'no connection address')
  if (out.origin === undefined) bad('o=', 'no origin line')
  const pt = out.payloadType as number
  const map = out.rtpmaps.get(pt)
  if (!map) bad('a=rtpmap', `no rtpmap for payload type ${pt}`)
  const [enc, rate, ch] = map.split('/')
  if (enc !== 'L24' && enc !== 'L16') bad('a=rtpmap', `encoding must be L24 or L16, got ${enc}`)
  if (rate !== '48000') bad('a=rtpmap', `sample rate must be 48000, got ${rate}`)
  const channels = Number(ch)
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) bad('a=rtpmap', `channels must be 1..8, got ${ch}`)
  if (pt < 96 || pt > 127) bad('m=', `payload type must be dynamic (96..127), got ${pt}`)
  return {
    name: out.name ?? '',
    sessionId: out.sessionId ?? '0',
    sessionVersion: out.sessionVersion ?? '0',
    origin: out.origin,
    address: out.address,
    port: out.port as number,
    ttl: out.ttl ?? 0,
    payloadType: pt,
    bits: enc === 'L24' ? 24 : 16,
    sampleRate: 48000,
    channels,
    ptimeMs: out.ptimeMs ?? 1,
    refclk: out.refclk ?? '',
    mediaclkOffset: out.mediaclkOffset ?? 0,
    ssrc: out.ssrc ?? 0,
  }
}
