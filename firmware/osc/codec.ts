// OSC 1.0 messages and bundles: decode what mixing consoles send, encode our replies. Strict: a
// malformed packet is an error naming what is wrong, never a crash.
export type OscArg = number | string | boolean | null | Buffer

export interface OscMessage {
  address: string
  types: string
  args: OscArg[]
}

export class OscDecodeError extends Error {}

function pad4(n: number): number {
  return (n + 3) & ~3
}

function readString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at)
  if (end < 0) throw new OscDecodeError('string without a terminating NUL')
  const s = buf.toString('utf8', at, end)
  const next = pad4(end + 1)
  if (next > buf.length) throw new OscDecodeError('string padding runs past the packet')
  return [s, next]
}

export function decodeMessage(buf: Buffer): OscMessage {
  const [address, p1] = readString(buf, 0)
  if (!address.startsWith('/')) throw new OscDecodeError(`address must start with "/", got ${JSON.stringify(address.slice(0, 32))}`)
  if (p1 >= buf.length) return { address, types: '', args: [] }
  const [tags, p2] = readString(buf, p1)
  if (!tags.startsWith(',')) throw new OscDecodeError('type tag string must start with ","')
  const types = tags.slice(1)
  const args: OscArg[] = []
  let p = p2
  const need = (n: number): void => {
    if (p + n > buf.length) throw new OscDecodeError(`argument runs past the end of the packet (type ${JSON.stringify(types)})`)
  }
  for (const t of types) {
    switch (t) {
      case 'i':
        need(4)
        args.push(buf.readInt32BE(p))
        p += 4
        break
      case 'f':
        need(4)
        args.push(buf.readFloatBE(p))
        p += 4
        break
      case 'd':
        need(8)
        args.push(buf.readDoubleBE(p))
        p += 8
        break
      case 'h':
        need(8)
        args.push(Number(buf.readBigInt64BE(p)))
        p += 8
        break
      case 's':
      case 'S': {
        const [s, n] = readString(buf, p)
        args.push(s)
        p = n
        break
      }
      case 'b': {
        need(4)
        const len = buf.readInt32BE(p)
        p += 4
        if (len < 0) throw new OscDecodeError('negative blob size')
        need(len)
        args.push(Buffer.from(buf.subarray(p, p + len)))
        p = pad4(p + len)
        break
      }
      case 'T':
        args.push(true)
        break
      case 'F':
        args.push(false)
        break
      case 'N':
        args.push(null)
        break
      case 'I':
        args.push(null)
        break
      default:
        throw new OscDecodeError(`unsupported OSC type tag "${t}"`)
    }
  }
  return { address, types, args }
}

/** Decodes a packet (message or bundle, nested bundles flattened). Timetags are ignored: we act at once. */
export function decodePacket(buf: Buffer, depth = 0): OscMessage[] {
  if (buf.length === 0 || buf.length % 4 !== 0) throw new OscDecodeError(`packet size ${buf.length} is not a positive multiple of 4`)
  if (buf.subarray(0, 8).toString('latin1') === '#bundle\0') {
    if (depth > 4) throw new OscDecodeError('bundles nested too deeply')
    if (buf.length < 16) throw new OscDecodeError('bundle shorter than its header')
    const out: OscMessage[] = []
    let p = 16
    while (p < buf.length) {
      if (p + 4 > buf.length) throw new OscDecodeError('bundle element size runs past the packet')
      const len = buf.readInt32BE(p)
      p += 4
      if (len <= 0 || p + len > buf.length) throw new OscDecodeError('bundle element size is wrong')
      out.push(...decodePacket(buf.subarray(p, p + len), depth + 1))
      p += len
    }
    return out
  }
  return [decodeMessage(buf)]
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const out = Buffer.alloc(pad4(b.length + 1))
  b.copy(out)
  return out
}

/** Encodes a message; numbers become float32 unless `types` says otherwise. */
export function encodeMessage(address: string, args: OscArg[], types?: string): Buffer {
  const tags =
    types ??
    args
      .map((a) =>
        typeof a === 'number' ? (Number.isInteger(a) ? 'i' : 'f') : typeof a === 'string' ? 's' : a === true ? 'T' : a === false ? 'F' : a === null ? 'N' : 'b',
      )
      .join('')
  const parts: Buffer[] = [str(address), str(`,${tags}`)]
  args.forEach((a, k) => {
    const t = tags[k]
    if (t === 'i') {
      const b = Buffer.alloc(4)
      b.writeInt32BE(a as number)
      parts.push(b)
    } else if (t === 'f') {
      const b = Buffer.alloc(4)
      b.writeFloatBE(a as number)
      parts.push(b)
    } else if (t === 'd') {
      const b = Buffer.alloc(8)
      b.writeDoubleBE(a as number)
      parts.push(b)
    } else if (t === 's') parts.push(str(a as string))
    else if (t === 'b') {
      const blob = a as Buffer
      const h = Buffer.alloc(4)
      h.writeInt32BE(blob.length)
      parts.push(h, blob, Buffer.alloc(pad4(blob.length) - blob.length))
    }
  })
  return Buffer.concat(parts)
}
