// A WAV byte builder for tests, written independently of the native writer so the reader is checked
// against files it did not make (and so corrupt files can be made on purpose).
import { randomInt } from 'node:crypto'

export interface BuildOptions {
  /** 1 PCM, 3 float, or anything else to test refusals. */
  tag: number
  channels: number
  sampleRate: number
  bits: number
  data: Buffer
  extensible?: boolean
  /** Overrides the data chunk's size field (to make truncated files). */
  dataSize?: number
  /** Overrides blockAlign. */
  blockAlign?: number
  /** Chunks placed between fmt and data, e.g. LIST; odd sizes get a pad byte. */
  extraChunks?: Array<{ id: string; body: Buffer }>
  /** Leave out the fmt chunk. */
  noFmt?: boolean
}

function chunk(id: string, body: Buffer, sizeField = body.length): Buffer {
  const h = Buffer.alloc(8)
  h.write(id, 0, 'latin1')
  h.writeUInt32LE(sizeField >>> 0, 4)
  return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)])
}

export function buildWav(o: BuildOptions): Buffer {
  const bytes = o.bits / 8
  const align = o.blockAlign ?? o.channels * bytes
  const fmt = Buffer.alloc(o.extensible ? 40 : 16)
  fmt.writeUInt16LE(o.extensible ? 0xfffe : o.tag, 0)
  fmt.writeUInt16LE(o.channels, 2)
  fmt.writeUInt32LE(o.sampleRate, 4)
  fmt.writeUInt32LE(o.sampleRate * align, 8)
  fmt.writeUInt16LE(align, 12)
  fmt.writeUInt16LE(o.bits, 14)
  if (o.extensible) {
    fmt.writeUInt16LE(22, 16)
    fmt.writeUInt16LE(o.bits, 18)
    fmt.writeUInt32LE(0, 20)
    fmt.writeUInt16LE(o.tag, 24)
    Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]).copy(fmt, 26)
  }
  const parts: Buffer[] = [Buffer.from('WAVE', 'latin1')]
  if (!o.noFmt) parts.push(chunk('fmt ', fmt))
  for (const c of o.extraChunks ?? []) parts.push(chunk(c.id, c.body))
  parts.push(chunk('data', o.data, o.dataSize ?? o.data.length))
  const body = Buffer.concat(parts)
  const riff = Buffer.alloc(8)
  riff.write('RIFF', 0, 'latin1')
  riff.writeUInt32LE(body.length, 4)
  return Buffer.concat([riff, body])
}

/** Random sample codes covering the full range of a format, including both extremes. */
export function randomCodes(format: 'pcm16' | 'pcm24' | 'pcm32' | 'float32', samples: number): Buffer {
  const bytes = format === 'pcm16' ? 2 : format === 'pcm24' ? 3 : 4
  const b = Buffer.alloc(samples * bytes)
  for (let i = 0; i < samples; i++) {
    const o = i * bytes
    if (format === 'pcm16') b.writeInt16LE(i === 0 ? -32768 : i === 1 ? 32767 : randomInt(-32768, 32768), o)
    else if (format === 'pcm24') b.writeIntLE(i === 0 ? -8388608 : i === 1 ? 8388607 : randomInt(-8388608, 8388608), o, 3)
    else if (format === 'pcm32') b.writeInt32LE(i === 0 ? -2147483648 : i === 1 ? 2147483647 : randomInt(0, 2 ** 32 - 1) | 0, o)
    // Floats: ordinary values in [-1, 1] plus a few beyond full scale, which float files may hold.
    else b.writeFloatLE(i === 0 ? -1 : i === 1 ? 1.5 : Math.fround(Math.random() * 2 - 1), o)
  }
  return b
}

/** The bytes of the data chunk of a WAV file (walks the chunks). */
export function dataChunk(file: Buffer): Buffer {
  let pos = 12
  while (pos + 8 <= file.length) {
    const id = file.toString('latin1', pos, pos + 4)
    const size = file.readUInt32LE(pos + 4)
    if (id === 'data') return file.subarray(pos + 8, pos + 8 + size)
    pos += 8 + size + (size & 1)
  }
  throw new Error('no data chunk')
}

/**
 * The header of an RF64 file (EBU Tech 3306) up to the first data byte: RF64/ds64 with the given
 * 64-bit data size, an extensible fmt chunk, and a data chunk whose 32-bit size says "see ds64".
 */
export function rf64Header(o: { tag: number; channels: number; sampleRate: number; bits: number; dataBytes: number; withDs64?: boolean }): Buffer {
  const align = (o.channels * o.bits) / 8
  const fmt = Buffer.alloc(40)
  fmt.writeUInt16LE(0xfffe, 0)
  fmt.writeUInt16LE(o.channels, 2)
  fmt.writeUInt32LE(o.sampleRate, 4)
  fmt.writeUInt32LE(o.sampleRate * align, 8)
  fmt.writeUInt16LE(align, 12)
  fmt.writeUInt16LE(o.bits, 14)
  fmt.writeUInt16LE(22, 16)
  fmt.writeUInt16LE(o.bits, 18)
  fmt.writeUInt16LE(o.tag, 24)
  Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]).copy(fmt, 26)
  const ds64 = Buffer.alloc(28)
  const head = 4 + (o.withDs64 === false ? 0 : 8 + 28) + 8 + 40 + 8
  ds64.writeBigUInt64LE(BigInt(head + o.dataBytes), 0)
  ds64.writeBigUInt64LE(BigInt(o.dataBytes), 8)
  ds64.writeBigUInt64LE(BigInt(o.dataBytes / align), 16)
  const parts: Buffer[] = [Buffer.from('RF64', 'latin1'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('WAVE', 'latin1')]
  if (o.withDs64 !== false) parts.push(chunk('ds64', ds64))
  parts.push(chunk('fmt ', fmt))
  const data = Buffer.alloc(8)
  data.write('data', 0, 'latin1')
  data.writeUInt32LE(0xffffffff, 4)
  parts.push(data)
  return Buffer.concat(parts)
}
