// An RTP capture (classic pcap, as tcpdump or Wireshark write it) of an AES67 stream, read back
// into audio: IPv4/UDP datagrams on Ethernet, Linux cooked (SLL, SLL2) or raw IP links, the
// first L24/L16 RTP stream found (or the one to a given port), ordered by sequence number, gaps
// filled with silence and counted. The format of the stream is the SDP's when given, else taken
// from the packets: frames per packet from the RTP timestamp step, L24 unless the payload is not
// a whole number of 24-bit samples (then L16).
import { readFileSync } from 'node:fs'
import { FirmwareError } from '../errors.ts'

export interface RtpCapture {
  channels: number
  bits: 16 | 24
  sampleRate: number
  ssrc: number
  port: number
  packets: number
  /** Sequence numbers missing between the first and last packet (filled with silence). */
  missing: number
  /** Interleaved samples in [-1, 1). */
  samples: Float32Array
}

function bad(path: string, why: string): never {
  throw new FirmwareError('FW_ERR_BAD_WAV', `${path}: ${why}`)
}

interface Datagram {
  port: number
  data: Buffer
}

/** The UDP datagrams of a classic pcap file. */
export function pcapDatagrams(path: string, file: Buffer = readFileSync(path)): Datagram[] {
  if (file.length < 24) bad(path, 'not a pcap capture (too short)')
  const magic = file.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d)
    bad(path, 'not a classic pcap capture (pcapng is not read: save as pcap)')
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o))
  const link = u32(20) & 0xffff
  const out: Datagram[] = []
  for (let off = 24; off + 16 <= file.length; ) {
    const incl = u32(off + 8)
    const rec = file.subarray(off + 16, off + 16 + incl)
    off += 16 + incl
    let ip = -1
    if (link === 1 && rec.length >= 14 && rec.readUInt16BE(12) === 0x0800) ip = 14
    else if (link === 1 && rec.length >= 18 && rec.readUInt16BE(12) === 0x8100 && rec.readUInt16BE(16) === 0x0800) ip = 18
    else if (link === 113 && rec.length >= 16 && rec.readUInt16BE(14) === 0x0800) ip = 16
    else if (link === 276 && rec.length >= 20 && rec.readUInt16BE(0) === 0x0800) ip = 20
    else if (link === 101 || link === 228) ip = 0
    if (ip < 0 || rec.length < ip + 28 || (rec[ip] ?? 0) >> 4 !== 4 || rec[ip + 9] !== 17) continue
    const ihl = ((rec[ip] ?? 0) & 0x0f) * 4
    const udp = ip + ihl
    if (rec.length < udp + 8) continue
    const len = rec.readUInt16BE(udp + 4)
    out.push({ port: rec.readUInt16BE(udp + 2), data: rec.subarray(udp + 8, Math.min(rec.length, udp + len)) })
  }
  return out
}

/** Reads one AES67 stream from a pcap capture. */
export function readRtpCapture(path: string, opts: { port?: number; channels?: number; bits?: 16 | 24 } = {}): RtpCapture {
  const rtp = pcapDatagrams(path).filter(
    (d) => (opts.port === undefined || d.port === opts.port) && d.data.length > 12 && (d.data[0] ?? 0) >> 6 === 2 && ((d.data[1] ?? 0) & 0x7f) >= 96,
  )
  if (rtp.length === 0) bad(path, `holds no RTP packets with a dynamic payload type${opts.port ? ` to port ${opts.port}` : ''}`)
  const first = rtp[0] as Datagram
  const ssrc = first.data.readUInt32BE(8)
  const stream = rtp.filter((d) => d.port === first.port && d.data.readUInt32BE(8) === ssrc)
  const seq = (d: Datagram) => d.data.readUInt16BE(2)
  const ts = (d: Datagram) => d.data.readUInt32BE(4)
  // Unwrapped sequence numbers, duplicates dropped, in order.
  const bySeq = new Map<number, Datagram>()
  let base = seq(first)
  let last = 0
  for (const d of stream) {
    let n = last + (((seq(d) - ((base + last) & 0xffff) + 0x8000) & 0xffff) - 0x8000)
    if (n < 0) n = ((seq(d) - base) & 0xffff) - 0x10000
    if (!bySeq.has(n)) bySeq.set(n, d)
    if (n > last) last = n
  }
  const order = [...bySeq.keys()].sort((a, b) => a - b)
  base = order[0] ?? 0
  const payload = first.data.length - 12
  const a = bySeq.get(order[0] ?? 0) as Datagram
  const b = bySeq.get(order[1] ?? -1)
  const frames = b ? ((ts(b) - ts(a)) >>> 0) / ((order[1] ?? 1) - (order[0] ?? 0)) : 48
  const bits = opts.bits ?? (payload % (3 * frames) === 0 ? 24 : 16)
  const channels = opts.channels ?? payload / ((bits / 8) * frames)
  if (!Number.isInteger(channels) || channels < 1 || channels > 8)
    bad(path, `cannot tell the stream's format (payload ${payload} bytes, ${frames} frames per packet); give its channels and bits`)
  const span = (order.at(-1) ?? 0) - base + 1
  const perPacket = frames * channels
  const samples = new Float32Array(span * perPacket)
  const bps = bits / 8
  for (const [n, d] of bySeq) {
    const o = (n - base) * perPacket
    const count = Math.min(perPacket, Math.floor((d.data.length - 12) / bps))
    for (let i = 0; i < count; i++) {
      samples[o + i] = bits === 24 ? d.data.readIntBE(12 + i * 3, 3) / 8388608 : d.data.readInt16BE(12 + i * 2) / 32768
    }
  }
  return { channels, bits, sampleRate: 48000, ssrc, port: first.port, packets: bySeq.size, missing: span - bySeq.size, samples }
}
