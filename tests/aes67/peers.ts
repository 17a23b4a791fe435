// Real peers for the AES67 tests: GStreamer senders and receivers (gst-launch-1.0 with
// rtpL24pay / rtpL24depay), 24-bit WAV files of known content, and the ports they bind.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import type { NetStreamStats } from '../../firmware/engine/aes67-options.ts'
import type { Engine } from '../../firmware/engine/engine.ts'
import { rng } from '../helpers/rng.ts'
import { until } from '../helpers/until.ts'

/** Writes a 48 kHz 24-bit PCM WAV of seeded noise (never 0, about -12 dBFS); returns its samples (interleaved ints). */
export function writeNoiseWav24(path: string, frames: number, channels: number, seed: number): Int32Array {
  const r = rng(seed)
  const samples = new Int32Array(frames * channels)
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round((r() * 2 - 1) * 2 ** 21)
    samples[i] = v === 0 ? 1 : v
  }
  const data = Buffer.alloc(samples.length * 3)
  for (const [i, v] of samples.entries()) data.writeIntLE(v, i * 3, 3)
  const h = Buffer.alloc(44)
  h.write('RIFF', 0)
  h.writeUInt32LE(36 + data.length, 4)
  h.write('WAVEfmt ', 8)
  h.writeUInt32LE(16, 16)
  h.writeUInt16LE(1, 20)
  h.writeUInt16LE(channels, 22)
  h.writeUInt32LE(48000, 24)
  h.writeUInt32LE(48000 * channels * 3, 28)
  h.writeUInt16LE(channels * 3, 32)
  h.writeUInt16LE(24, 34)
  h.write('data', 36)
  h.writeUInt32LE(data.length, 40)
  writeFileSync(path, Buffer.concat([h, data]))
  return samples
}

/** The samples of a 24-bit PCM WAV (interleaved ints); a data chunk whose size was never patched is read to the end. */
export function readWav24(path: string): { channels: number; samples: Int32Array } {
  const b = readFileSync(path)
  let off = 12
  let channels = 0
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4)
    const size = b.readUInt32LE(off + 4)
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10)
      if (b.readUInt16LE(off + 22) !== 24) throw new Error(`${path}: not 24-bit`)
    }
    if (id === 'data') {
      const end = size === 0 || off + 8 + size > b.length ? b.length : off + 8 + size
      const n = Math.floor((end - off - 8) / 3)
      const samples = new Int32Array(n)
      for (let i = 0; i < n; i++) samples[i] = b.readIntLE(off + 8 + i * 3, 3)
      return { channels, samples }
    }
    off += 8 + size + (size & 1)
  }
  throw new Error(`${path}: no data chunk`)
}

/** The UDP ports a process has bound (ss, as root). */
export function udpPortsOf(pid: number): number[] {
  const r = spawnSync('ss', ['-Hulpn'], { encoding: 'utf8' })
  const ports: number[] = []
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue
    const m = /:(\d+)\s/.exec(line.split(/\s+/).slice(3, 4).join(' ') + ' ')
    if (m) ports.push(Number(m[1]))
  }
  return ports
}

export interface GstPeer {
  child: ChildProcess
  port: number
  /** stderr and stdout so far (for failure messages). */
  log(): string
  /** Ends the pipeline (SIGINT: with -e, an EOS, so the WAV header is written) and waits for exit. */
  stop(): Promise<number | null>
  exited: Promise<number | null>
}

/** `netns`: runs gst-launch inside that network namespace (`ip netns exec`). */
function peer(args: string[], netns = ''): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'gst-launch-1.0', ...args]
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, log: () => out, exited }
}

/**
 * A GStreamer receiver of an L24 stream on an ephemeral port, writing a 24-bit WAV. `netns`: inside
 * that network namespace, on `port` (a namespace the test made has no other sockets to collide with).
 */
export async function gstReceiver(outWav: string, channels: number, netns?: { name: string; port: number }): Promise<GstPeer> {
  const caps = `application/x-rtp,media=audio,clock-rate=48000,encoding-name=L24,channels=${channels},payload=96`
  const p = peer(
    [
      '-e',
      'udpsrc',
      `port=${netns?.port ?? 0}`,
      'buffer-size=4194304',
      `caps=${caps}`,
      '!',
      'rtpL24depay',
      '!',
      'audioconvert',
      '!',
      'audio/x-raw,format=S24LE',
      '!',
      'wavenc',
      '!',
      'filesink',
      `location=${outWav}`,
    ],
    netns?.name,
  )
  let port = 0
  await until(
    () => {
      if (p.child.exitCode !== null) throw new Error(`gst receiver exited: ${p.log()}`)
      port = netns ? (/PLAYING/.test(p.log()) ? netns.port : 0) : (udpPortsOf(p.child.pid ?? 0)[0] ?? 0)
      return port > 0
    },
    10_000,
    'the gst receiver to bind its port',
  )
  return {
    ...p,
    port,
    stop: async () => {
      if (p.child.exitCode === null) p.child.kill('SIGINT')
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000)
      const code = await p.exited
      clearTimeout(t)
      return code
    },
  }
}

/** A GStreamer sender of a WAV file as L24 RTP (1 ms packets) to 127.0.0.1:port, in real time (`netns`: from inside that namespace). */
export function gstSender(inWav: string, channels: number, port: number, host = '127.0.0.1', netns = ''): GstPeer {
  const p = peer(
    [
      'filesrc',
      `location=${inWav}`,
      '!',
      'wavparse',
      '!',
      'audioconvert',
      '!',
      `audio/x-raw,format=S24BE,rate=48000,channels=${channels}`,
      '!',
      'rtpL24pay',
      'pt=96',
      'min-ptime=1000000',
      'max-ptime=1000000',
      '!',
      'udpsink',
      `host=${host}`,
      `port=${port}`,
      'sync=true',
    ],
    netns,
  )
  return {
    ...p,
    port,
    stop: async () => {
      if (p.child.exitCode === null) p.child.kill('SIGINT')
      return p.exited
    },
  }
}

/** Where `sent` (interleaved) starts inside `got`, matching its first 16 samples; -1 when nowhere. */
export function findStart(got: Int32Array, sent: Int32Array, channels: number): number {
  const probe = Math.min(16, sent.length)
  for (let k = 0; k + probe <= got.length; k += channels) {
    let ok = true
    for (let i = 0; i < probe && ok; i++) ok = got[k + i] === sent[i]
    if (ok) return k
  }
  return -1
}

/** Stream i's counters (receive streams first); throws when there is no such stream. */
export function streamStats(e: Engine, i: number): NetStreamStats {
  const s = e.netStats()[i]
  if (!s) throw new Error(`the engine has no network stream ${i}`)
  return s
}

/** One L24 RTP packet: header (V=2) and big-endian 24-bit samples. */
export function rtpPacket(o: { seq: number; ts: number; ssrc: number; pt?: number; samples: ArrayLike<number>; version?: number }): Buffer {
  const b = Buffer.alloc(12 + o.samples.length * 3)
  b[0] = (o.version ?? 2) << 6
  b[1] = (o.pt ?? 96) & 0x7f
  b.writeUInt16BE(o.seq & 0xffff, 2)
  b.writeUInt32BE(o.ts >>> 0, 4)
  b.writeUInt32BE(o.ssrc >>> 0, 8)
  for (let i = 0; i < o.samples.length; i++) b.writeIntBE(o.samples[i] ?? 0, 12 + i * 3, 3)
  return b
}

/** The 24-bit samples of an L24 packet (12-byte header, no CSRC or extension). */
export function rtpSamples(b: Buffer): Int32Array {
  const n = Math.floor((b.length - 12) / 3)
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = b.readIntBE(12 + i * 3, 3)
  return out
}

/**
 * Sends `packets` (one per ms) to a port in real time, from a timer that catches up after a late
 * tick; `each(i)` may return extra datagrams to send right after packet i (malformed ones).
 */
export async function sendPaced(sock: import('node:dgram').Socket, port: number, packets: Buffer[], each?: (i: number) => Buffer[]): Promise<void> {
  const t0 = performance.now()
  let i = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(packets.length, Math.floor(performance.now() - t0) + 1)
      for (; i < due; i++) {
        sock.send(packets[i] as Buffer, port, '127.0.0.1')
        for (const extra of each?.(i) ?? []) sock.send(extra, port, '127.0.0.1')
      }
      if (i >= packets.length) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
}

/** Interleaved 24-bit packets of seeded noise: `count` packets of 48 frames x channels. */
export function noisePackets(count: number, channels: number, seed: number, ssrc: number): { packets: Buffer[]; samples: Int32Array } {
  const r = rng(seed)
  const samples = new Int32Array(count * 48 * channels)
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round((r() * 2 - 1) * 2 ** 21) || 1
  const packets: Buffer[] = []
  for (let p = 0; p < count; p++) {
    packets.push(rtpPacket({ seq: 60000 + p, ts: 1000 + p * 48, ssrc, samples: samples.subarray(p * 48 * channels, (p + 1) * 48 * channels) }))
  }
  return { packets, samples }
}

/**
 * A receiver of `count` UDP datagrams on 127.0.0.1 that stamps each with the kernel's receive
 * time (SO_TIMESTAMPNS, python3: not an event loop, whose batching would blur the intervals).
 * `port` is known once it listens; `intervalsMs` resolves with the gaps between arrivals.
 */
export async function timestampingReceiver(count: number): Promise<{ port: number; intervalsMs: Promise<number[]>; child: ChildProcess }> {
  // SO_TIMESTAMPNS is 35 on Linux (Python's socket module does not name it).
  const py = `import socket, struct
SO_TIMESTAMPNS = 35
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
ts = []
while len(ts) < ${count}:
    data, anc, flags, addr = s.recvmsg(4096, 64)
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, ns = struct.unpack('qq', raw[:16])
            ts.append(sec * 1e9 + ns)
print(' '.join('%.4f' % ((b - a) / 1e6) for a, b in zip(ts, ts[1:])), flush=True)
`
  const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  await until(() => out.includes('\n') || child.exitCode !== null, 10_000, 'the timestamping receiver to listen')
  const port = Number(out.split('\n')[0])
  if (!(port > 0)) throw new Error(`the timestamping receiver did not start (python3): ${out}`)
  const intervalsMs = new Promise<number[]>((resolve, reject) => {
    child.once('exit', () => {
      const line = out.split('\n')[1] ?? ''
      if (!line) reject(new Error(`the timestamping receiver gave no intervals: ${out}`))
      else resolve(line.trim().split(' ').map(Number))
    })
  })
  return { port, intervalsMs, child }
}

/**
 * The stretches of `got` that are bit-exact copies of `sent` (interleaved), each at its own offset
 * (a late sender on a loaded machine is concealed, and what follows plays later), found from a
 * probe every 0.1 s; stretches shorter than `minFrames` are not counted.
 */
export function exactRuns(got: Int32Array, sent: Int32Array, channels: number, minFrames: number): Array<{ from: number; frames: number; shift: number }> {
  const runs: Array<{ from: number; frames: number; shift: number }> = []
  let first = 0
  while (first < got.length && got[first] === 0) first++
  const step = 4800 * channels
  for (let at = Math.ceil(first / channels) * channels; at + 32 <= got.length; at += step) {
    if (runs.some((r) => at >= r.from * channels && at < (r.from + r.frames) * channels)) continue
    const probe = got.subarray(at, at + 32)
    for (let k = 0; k + probe.length <= sent.length; k += channels) {
      let ok = true
      for (let i = 0; i < probe.length && ok; i++) ok = sent[k + i] === probe[i]
      if (!ok) continue
      const shift = k - at
      let lo = at
      while (lo - channels >= 0 && lo - channels + shift >= 0 && got[lo - channels] === sent[lo - channels + shift]) lo -= channels
      let hi = at
      while (hi < got.length && hi + shift < sent.length && got[hi] === sent[hi + shift]) hi++
      const frames = Math.floor((hi - lo) / channels)
      if (frames >= minFrames) runs.push({ from: lo / channels, frames, shift: shift / channels })
      break
    }
  }
  return runs
}

/** A UDP socket on 127.0.0.1 (an ephemeral port) that keeps every datagram it receives, in order. */
export async function udpCollector(): Promise<{ sock: import('node:dgram').Socket; port: number; got: Buffer[] }> {
  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  const got: Buffer[] = []
  sock.on('message', (m) => got.push(m))
  return { sock, port: sock.address().port, got }
}
