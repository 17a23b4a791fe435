// AES67 figures (issue 15): network in -> engine -> network out latency at 1 ms packets and the
// jitter buffer's share of it; CPU of the engine's threads for 4 streams of 8 channels each way
// against the same chain on the sim backend; how much random loss concealment covers; transmit
// pacing (intervals between packets, stamped by the kernel); failover time after a stream dies;
// playout by RTP timestamp against by arrival under relay jitter; how long adding and removing a
// stream at run time holds the control thread.

import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { resolveStreams } from '../../firmware/engine/aes67-options.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { rtpPacket, rtpSamples, sendPaced, streamStats, timestampingReceiver } from '../aes67/peers.ts'
import { ImpairRelay } from '../aes67/relay.ts'
import type { BenchRow, BenchSection } from './lib.ts'
import { fixed, percentile, threadCpuNs, threadIds } from './lib.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Impulses through a bypassed unit: wall time from sending the packet to the return of the packet holding it. */
async function latency(linkOffsetMs: number, quick: boolean): Promise<{ ms: number[]; underruns: number }> {
  const back = createSocket('udp4')
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r))
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: { rx: [{ port: 0, channels: 1, linkOffsetMs }], tx: [{ address: '127.0.0.1', port: back.address().port, channels: 1 }] },
  })
  e.start()
  const port = streamStats(e, 0).localPort
  const out = createSocket('udp4')
  const impulses = quick ? 10 : 30
  const sentAt = new Map<number, number>()
  const got: number[] = []
  back.on('message', (m) => {
    const s = rtpSamples(m)
    for (let i = 0; i < s.length; i++) {
      const id = s[i] ?? 0
      const t = sentAt.get(id)
      // The impulse sits at frame 0 of its packet; frame i of a returned packet left i/48 ms later than frame 0 would have.
      if (t !== undefined) {
        got.push(performance.now() - t - i / 48)
        sentAt.delete(id)
      }
    }
  })
  // 1 ms packets from a spinning loop (setImmediate): exact pacing, at the price of a busy core.
  const t0 = performance.now()
  let n = 0
  const total = 300 + impulses * 100
  await new Promise<void>((resolve) => {
    const spin = () => {
      const due = Math.floor(performance.now() - t0)
      for (; n <= due && n < total; n++) {
        const samples = new Array(48).fill(0)
        const isImpulse = n >= 300 && n % 100 === 0
        const id = 1000 + n
        if (isImpulse) samples[0] = id
        out.send(rtpPacket({ seq: n, ts: n * 48, ssrc: 5, samples }), port, '127.0.0.1')
        if (isImpulse) sentAt.set(id, performance.now())
      }
      if (n >= total) resolve()
      else setImmediate(spin)
    }
    spin()
  })
  await sleep(200)
  const underruns = streamStats(e, 0).underruns
  e.stop()
  out.close()
  back.close()
  return { ms: got.sort((a, b) => a - b), underruns }
}

function gstSender8(port: number): ChildProcess {
  return spawn(
    'gst-launch-1.0',
    [
      '-q',
      'audiotestsrc',
      'is-live=true',
      'wave=pink-noise',
      '!',
      'audio/x-raw,format=S24BE,rate=48000,channels=8',
      '!',
      'rtpL24pay',
      'min-ptime=1000000',
      'max-ptime=1000000',
      '!',
      'udpsink',
      'host=127.0.0.1',
      `port=${port}`,
    ],
    { stdio: 'ignore' },
  )
}

/** CPU (all the engine's threads) per second of audio over `seconds`, as % of one core. */
async function engineCpu(make: () => Engine, seconds: number, feed?: (e: Engine) => ChildProcess[]): Promise<{ pct: number; e: Engine }> {
  const before = new Set(threadIds())
  const e = make()
  e.start()
  const peers = feed?.(e) ?? []
  await sleep(1000)
  const mine = threadIds().filter((t) => !before.has(t))
  const cpu0 = mine.map((t) => threadCpuNs(t) ?? 0)
  const w0 = performance.now()
  await sleep(seconds * 1000)
  const used = mine.reduce((a, t, i) => a + (threadCpuNs(t) ?? 0) - (cpu0[i] ?? 0), 0)
  const wall = performance.now() - w0
  for (const p of peers) p.kill('SIGKILL')
  return { pct: (used / 1e6 / wall) * 100, e }
}

/** Random loss through the relay at each rate: lost, underruns, the longest run lost. */
async function lossRun(loss: number, linkOffsetMs: number): Promise<{ lost: number; underruns: number; longest: number }> {
  const e = new Engine({
    backend: 'aes67',
    inputs: 2,
    outputs: 2,
    startProcessed: false,
    aes67: { rx: [{ port: 0, channels: 2, linkOffsetMs }], tx: [{ address: '127.0.0.1', port: 9, channels: 2 }] },
  })
  e.start()
  const relay = new ImpairRelay({ loss, reorder: 0, jitterMs: 0, seed: 3 })
  const port = await relay.listen(streamStats(e, 0).localPort)
  const out = createSocket('udp4')
  const packets = Array.from({ length: 2000 }, (_, n) => rtpPacket({ seq: n, ts: n * 48, ssrc: 9, samples: new Array(96).fill(1000) }))
  await sendPaced(out, port, packets)
  // Underruns while the stream ran (its end, when the buffer runs dry for good, is not a gap).
  const during = streamStats(e, 0).underruns
  await sleep(100)
  const s = { ...streamStats(e, 0), underruns: during }
  e.stop()
  out.close()
  relay.close()
  let longest = 0
  let run = 0
  for (let n = 0; n < 2000; n++) {
    run = relay.droppedSeqs.has(n) ? run + 1 : 0
    longest = Math.max(longest, run)
  }
  return { lost: s.lost, underruns: s.underruns, longest }
}

/** Intervals between a transmit stream's packets (1 ms packets, 64-frame blocks), kernel-stamped. */
async function txIntervals(count: number): Promise<number[]> {
  const rx = await timestampingReceiver(count)
  const e = new Engine({
    backend: 'aes67',
    inputs: 2,
    outputs: 2,
    startProcessed: false,
    aes67: { tx: [{ address: '127.0.0.1', port: rx.port, channels: 2, ptimeMs: 1 }] },
  })
  e.start()
  const gaps = await rx.intervalsMs
  e.stop()
  return gaps.sort((a, b) => a - b)
}

/** A primary and a backup sender on one input; the primary stops: ms from its last packet to the switch. */
async function failoverMs(linkOffsetMs: number): Promise<number> {
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: {
      rx: [
        { port: 0, channels: 1, firstChannel: 0, priority: 1, linkOffsetMs, returnMs: 100 },
        { port: 0, channels: 1, firstChannel: 0, priority: 2, linkOffsetMs },
      ],
      tx: [{ address: '127.0.0.1', port: 9, channels: 1 }],
    },
  })
  e.start()
  const packets = (n: number, ssrc: number) => Array.from({ length: n }, (_, k) => rtpPacket({ seq: k, ts: k * 48, ssrc, samples: new Array(48).fill(1000) }))
  const [sa, sb] = [createSocket('udp4'), createSocket('udp4')]
  await Promise.all([sendPaced(sa, streamStats(e, 0).localPort, packets(1000, 1)), sendPaced(sb, streamStats(e, 1).localPort, packets(1500, 2))])
  const primary = streamStats(e, 0)
  const backup = streamStats(e, 1)
  e.stop()
  sa.close()
  sb.close()
  // The switch that counts is the one after the primary's end (a stall of this loaded machine can
  // cross earlier and back; returnMs 100 brings it back before the end).
  const ms = backup.lastSwitchMs - primary.lastPacketMs
  return backup.active && backup.lastSwitchCause === 'source-dead' && ms > 0 ? ms : Number.NaN
}

/** CLOCK_REALTIME in samples (the media clock), mod 2^32. */
function mediaNow(): number {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n
  return Number(((ns * 48000n) / 1_000_000_000n) % 2n ** 32n)
}

/**
 * One sender stamped with the media clock, to two receive streams of a bypassed unit, one through
 * the relay with 0..jitterMs of jitter: how far apart the two play the same sample (samples), and
 * the spread of (outgoing - sender's) timestamp over all samples. `locked`: playout by timestamp.
 */
async function alignment(locked: boolean, jitterMs: number, linkOffsetMs: number): Promise<{ apart: number[]; spread: number }> {
  const back = createSocket('udp4')
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r))
  const e = new Engine({
    backend: 'aes67',
    inputs: 2,
    outputs: 2,
    startProcessed: false,
    aes67: {
      rx: [
        { port: 0, channels: 1, firstChannel: 0, linkOffsetMs },
        { port: 0, channels: 1, firstChannel: 1, linkOffsetMs },
      ],
      tx: [{ address: '127.0.0.1', port: back.address().port, channels: 2 }],
    },
  })
  e.start()
  e.setMediaClockLocked(locked)
  const relay = new ImpairRelay({ loss: 0, reorder: 0, jitterMs, seed: 11 })
  const via = await relay.listen(streamStats(e, 1).localPort)
  const base = mediaNow()
  const packets = Array.from({ length: 2000 }, (_, n) =>
    rtpPacket({ seq: n, ts: (base + n * 48) >>> 0, ssrc: 3, samples: Array.from({ length: 48 }, (_, k) => n * 48 + k + 1) }),
  )
  const at = [new Map<number, number>(), new Map<number, number>()]
  back.on('message', (m: Buffer) => {
    const ts = m.readUInt32BE(4)
    for (let f = 0; 12 + f * 6 + 6 <= m.length; f++) {
      for (let c = 0; c < 2; c++) {
        const v = m.readIntBE(12 + f * 6 + c * 3, 3)
        if (v > 0) at[c]?.set(v - 1, (ts + f) >>> 0)
      }
    }
  })
  const [d, j] = [createSocket('udp4'), createSocket('udp4')]
  await Promise.all([sendPaced(d, streamStats(e, 0).localPort, packets), sendPaced(j, via, packets)])
  await sleep(linkOffsetMs + 150)
  e.stop()
  relay.close()
  for (const s of [d, j, back]) s.close()
  const [a, b] = at as [Map<number, number>, Map<number, number>]
  const apart: number[] = []
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  for (const [i, ta] of a) {
    const off = (ta - ((base + i) >>> 0)) | 0
    lo = Math.min(lo, off)
    hi = Math.max(hi, off)
    const tb = b.get(i)
    if (tb !== undefined) apart.push(Math.abs((tb - ta) | 0))
  }
  return { apart: apart.sort((x, y) => x - y), spread: hi - lo }
}

/**
 * Streams added and removed at run time (docs/aes67.md, "Streams at run time"): how long `add` and
 * `remove` hold the control thread, `count` times each, a receive stream playing (a sender here)
 * when it is removed (its fade is half the 20 ms link offset).
 */
async function addRemoveMs(count: number): Promise<{ rxAdd: number[]; rxRemove: number[]; txAdd: number[]; txRemove: number[]; loopMaxMs: number }> {
  const e = new Engine({ backend: 'aes67', inputs: 2, outputs: 2, startProcessed: false, aes67: { rxSlots: 1, txSlots: 1 } })
  e.start()
  const [rx] = resolveStreams([{ port: 0, channels: 2, firstChannel: 0, linkOffsetMs: 20 }], 'rx', 2)
  const [tx] = resolveStreams([{ address: '127.0.0.1', port: 9, channels: 2 }], 'tx', 2)
  if (!rx || !tx) throw new Error('no stream')
  const out = { rxAdd: [] as number[], rxRemove: [] as number[], txAdd: [] as number[], txRemove: [] as number[] }
  const sock = createSocket('udp4')
  const timed = async (f: () => unknown) => {
    const t0 = performance.now()
    await f()
    return performance.now() - t0
  }
  // A remove waits for the fade without holding the event loop: its longest stall says so.
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  for (let i = 0; i < count; i++) {
    let slot = 0
    out.rxAdd.push(await timed(() => (slot = e.addAes67Stream('rx', rx))))
    const port = e.netStats().find((s) => s.direction === 'rx')?.localPort ?? 0
    const packets = Array.from({ length: 60 }, (_, p) => rtpPacket({ seq: p, ts: p * 48, ssrc: 7, samples: new Array(96).fill(1 << 20) }))
    await sendPaced(sock, port, packets)
    out.rxRemove.push(await timed(() => e.removeAes67Stream('rx', slot)))
    let t = 0
    out.txAdd.push(await timed(() => (t = e.addAes67Stream('tx', tx))))
    await new Promise((r) => setTimeout(r, 20))
    out.txRemove.push(await timed(() => e.removeAes67Stream('tx', t)))
  }
  loop.disable()
  sock.close()
  e.stop()
  for (const v of Object.values(out)) v.sort((a, b) => a - b)
  return { ...out, loopMaxMs: loop.max / 1e6 }
}

const section: BenchSection = {
  name: 'aes67',
  async run(ctx) {
    const rows: BenchRow[] = []
    for (const link of [1, 2, 5]) {
      ctx.log(`aes67: latency at link offset ${link} ms`)
      const r = await latency(link, ctx.quick)
      const p50 = percentile(r.ms, 50)
      rows.push({
        metric: `net in -> bypassed -> net out latency p50 (1 ms packets, link offset ${link} ms)`,
        value: fixed(p50),
        unit: 'ms',
        note: `p95 ${fixed(percentile(r.ms, 95))} ms over ${r.ms.length} impulses; link offset = ${fixed((link / p50) * 100, 0)} % of it; ${r.underruns} underruns`,
      })
    }
    const secs = ctx.quick ? 2 : 5
    ctx.log('aes67: CPU, sim chain alone')
    const alone = await engineCpu(() => new Engine({ backend: 'sim', inputs: 32, outputs: 16, startProcessed: true }), secs)
    alone.e.stop()
    ctx.log('aes67: CPU, 4x8 in and 4x8 out')
    const net = await engineCpu(
      () =>
        new Engine({
          backend: 'aes67',
          inputs: 32,
          outputs: 16,
          startProcessed: true,
          aes67: {
            rx: [0, 8, 16, 24].map((firstChannel) => ({ port: 0, channels: 8, firstChannel, linkOffsetMs: 5 })),
            tx: [0, 8, 0, 8].map((firstChannel) => ({ address: '127.0.0.1', port: 9, channels: 8, firstChannel })),
          },
        }),
      secs,
      (e) => [0, 1, 2, 3].map((i) => gstSender8(streamStats(e, i).localPort)),
    )
    const stats = net.e.netStats()
    net.e.stop()
    rows.push({ metric: 'engine threads CPU, sim backend, 32 in / 16 out, chain alone', value: fixed(alone.pct, 1), unit: '% core' })
    rows.push({
      metric: 'engine threads CPU, aes67 4x8 ch in + 4x8 ch out (same chain)',
      value: fixed(net.pct, 1),
      unit: '% core',
      note: `x${fixed(net.pct / alone.pct, 2)} the chain alone; rx packets ${stats
        .slice(0, 4)
        .map((s) => s.packets)
        .join('/')}; gst senders are other processes`,
    })
    ctx.log('aes67: transmit pacing')
    const gaps = await txIntervals(ctx.quick ? 1000 : 5000)
    rows.push({
      metric: 'tx inter-packet interval p50 (1 ms packets, 64-frame blocks, paced)',
      value: fixed(percentile(gaps, 50), 3),
      unit: 'ms',
      note: `p1 ${fixed(percentile(gaps, 1), 3)}, p99 ${fixed(percentile(gaps, 99), 3)}, max ${fixed(gaps[gaps.length - 1] ?? Number.NaN, 3)} ms; ${fixed((gaps.filter((g) => g < 0.25).length / gaps.length) * 100, 1)} % under 0.25 ms; ${gaps.length} intervals, kernel receive timestamps`,
    })
    rows.push({ metric: 'tx inter-packet interval p99', value: fixed(percentile(gaps, 99), 3), unit: 'ms' })
    for (const link of [5, 20]) {
      ctx.log(`aes67: failover at link offset ${link} ms`)
      const runs: number[] = []
      let invalid = 0
      for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
        const ms = await failoverMs(link)
        if (Number.isNaN(ms)) invalid++
        else runs.push(ms)
      }
      runs.sort((a, b) => a - b)
      rows.push({
        metric: `failover time after the primary stream dies (link offset ${link} ms)`,
        value: fixed(percentile(runs, 50), 1),
        unit: 'ms',
        note: `last primary packet -> switch; runs ${runs.map((r) => fixed(r, 1)).join(', ')} ms${invalid ? ` (${invalid} runs had no clean switch at the end)` : ''}; expected: half the link offset (at least 1 ms) + up to a block`,
      })
    }
    for (const locked of [false, true]) {
      ctx.log(`aes67: alignment under 20 ms jitter, ${locked ? 'timestamp' : 'arrival'} playout`)
      const r = await alignment(locked, 20, 50)
      rows.push({
        metric: `two receive paths (one with 0-20 ms relay jitter), playout by ${locked ? 'RTP timestamp' : 'arrival'}: same sample apart, p50`,
        value: fixed(percentile(r.apart, 50), 0),
        unit: 'samples',
        note: `max ${fixed(r.apart[r.apart.length - 1] ?? Number.NaN, 0)}; spread of out-ts - in-ts on the direct path ${r.spread} samples; link offset 50 ms`,
      })
    }
    ctx.log('aes67: streams added and removed at run time')
    const ar = await addRemoveMs(ctx.quick ? 5 : 30)
    for (const [k, what] of [
      ['rxAdd', 'receive stream add (socket, bind, publish)'],
      ['rxRemove', 'receive stream remove while playing (fade of 10 ms, the threads let go, close)'],
      ['txAdd', 'transmit stream add'],
      ['txRemove', 'transmit stream remove'],
    ] as const) {
      rows.push({
        metric: `run-time ${what}, until done, p50`,
        value: fixed(percentile(ar[k], 50), 2),
        unit: 'ms',
        note: `p99 ${fixed(percentile(ar[k], 99), 2)}, max ${fixed(ar[k][ar[k].length - 1] ?? Number.NaN, 2)} ms over ${ar[k].length}`,
      })
    }
    rows.push({
      metric: 'run-time add/remove: longest event-loop stall meanwhile',
      value: fixed(ar.loopMaxMs, 1),
      unit: 'ms',
      note: 'a remove is asked every 2 ms, never waited for on the event loop (the 10 ms tick runs through the fade)',
    })
    let best = 0
    for (const loss of [0.01, 0.02, 0.05, 0.08, 0.1, 0.2, 0.3, 0.5]) {
      ctx.log(`aes67: ${loss * 100}% loss`)
      const r = await lossRun(loss, 20)
      // An audible gap is a run of more than 2 lost packets (the concealment fades to silence over
      // two). Underruns here come from the sender, an event loop a loaded machine stalls, not from
      // the loss: they are shown, not counted.
      if (r.longest <= 2) best = loss
      // Random loss at rate p: runs of 3 or more start at (1 - p) p^3 per packet, 1000 packets a second.
      rows.push({
        metric: `${loss * 100}% random loss, link offset 20 ms`,
        value: r.lost,
        unit: 'lost',
        note: `longest run ${r.longest} packets (> 2: faded to silence, an audible gap); at this rate gaps come ${fixed(60_000 * (1 - loss) * loss ** 3, 2)} a minute on average; ${r.underruns} underruns (sender stalls)`,
      })
    }
    rows.push({
      metric: 'largest random loss fully concealed in the seeded run (no run of > 2 lost packets faded to silence)',
      value: best * 100,
      unit: '%',
      note: 'seeded; one 2 s run per rate; link offset 20 ms so that a stall of the sender (an event loop on a shared machine) is not counted as a gap',
    })
    return rows
  },
}

export default section
