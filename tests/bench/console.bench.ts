// The serial console while the engine runs on the sim board: command-to-reply latency over a real
// PTY (serialport at both ends, machine mode), and the audio thread's block timing with and without
// a flood of console input (commands and binary garbage at full speed). Two separate boots, so the
// engine's cumulative block-time histogram belongs to one condition each.

import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type ConsoleHandle, startConsole } from '../../firmware/console/index.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { openClient } from '../console/harness.ts'
import { type BenchRow, type BenchSection, fixed, percentile, rng } from './lib.ts'

async function boot(dir: string, rate?: { perSecond: number; burst: number }) {
  mkdirSync(dir, { recursive: true })
  let con: ConsoleHandle | null = null
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir: dir },
    {
      services: [async (app) => (con = await startConsole(app, app.profile, { simDir: dir, mode: 'machine', log: () => {}, ...(rate ? { rate } : {}) }))],
    },
  )
  const client = await openClient(con!.path)
  return { run, con: con!, client }
}

/** flood: bytes per second to send (Infinity: as fast as the PTY takes them), or 0 for none. */
async function window(dir: string, seconds: number, flood: number) {
  const { run, con, client } = await boot(dir)
  try {
    await new Promise((r) => setTimeout(r, 500)) // past BOOT
    const s0 = run.app.status()
    const faults0 = run.app.faults(1000).length
    const lag = monitorEventLoopDelay({ resolution: 5 })
    lag.enable()
    let sentBytes = 0
    const t0 = performance.now()
    if (flood === Infinity) {
      // As fast as the tty takes it, from a separate writer process (serialport's own writer can
      // stall on a PTY under megabyte bursts; that would measure the client, not the console).
      const rand = rng(7)
      const file = join(dir, 'flood.bin')
      const garbage = Array.from({ length: 4096 }, () => Math.floor(rand() * 256))
      writeFileSync(file, Buffer.concat([Buffer.from('status\r\nmeters\r\ngain 1 -3\r\n'.repeat(160)), Buffer.from(garbage)]))
      const child = spawn('sh', ['-c', 'while :; do cat "$1" || exit 1; done > "$2"', 'sh', file, con.path], { stdio: 'ignore' })
      await new Promise((r) => setTimeout(r, seconds * 1000))
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      sentBytes = NaN
    } else if (flood) {
      const rand = rng(7)
      const size = Number.isFinite(flood) ? 1024 : 4096
      const garbage = Buffer.from(Array.from({ length: size }, () => Math.floor(rand() * 256)))
      const lines = Buffer.from('status\r\nmeters\r\ngain 1 -3\r\n'.repeat(Math.ceil(size / 26))).subarray(0, size)
      let k = 0
      while (performance.now() - t0 < seconds * 1000) {
        const chunk = k++ % 2 === 0 ? lines : garbage
        await client.send(chunk)
        sentBytes += chunk.length
        const due = (sentBytes / flood) * 1000 - (performance.now() - t0)
        if (due > 1) await new Promise((r) => setTimeout(r, due))
      }
    } else {
      await new Promise((r) => setTimeout(r, seconds * 1000))
    }
    lag.disable()
    const s1 = run.app.status()
    const e = s1.engine
    return {
      p50: e.blockTimeUs.p50,
      p99: e.blockTimeUs.p99,
      max: e.blockTimeUs.max,
      period: e.blockPeriodUs,
      xruns: e.xruns - s0.engine.xruns,
      overruns: e.overruns - s0.engine.overruns,
      transitions: run.app.faults(1000).length - faults0,
      lagP99: lag.percentile(99) / 1e6,
      lagMax: lag.max / 1e6,
      rate: sentBytes / seconds,
      limited: con.stats().rateLimited,
    }
  } finally {
    await client.close()
    await run.stop()
  }
}

const section: BenchSection = {
  name: 'console',
  async run(ctx) {
    const rows: BenchRow[] = []
    // 1. Latency: one command at a time, as a control system does.
    {
      // The rate limit is lifted here: this measures the reply path, not the limiter.
      const { run, client } = await boot(join(ctx.tmp, 'console-latency'), { perSecond: 10_000, burst: 10_000 })
      try {
        await new Promise((r) => setTimeout(r, 300))
        for (const [cmd, n] of [
          ['status', ctx.quick ? 50 : 300],
          ['gain 1 -3', ctx.quick ? 50 : 300],
        ] as const) {
          const ms: number[] = []
          for (let i = 0; i < n; i++) {
            const t0 = performance.now()
            await client.send(`${cmd}\r\n`)
            const line = await client.nextLine(5000)
            ms.push(performance.now() - t0)
            if (!line.startsWith('OK')) throw new Error(`unexpected reply ${line}`)
          }
          ms.sort((a, b) => a - b)
          rows.push({
            metric: `"${cmd}" reply latency p50`,
            value: fixed(percentile(ms, 50)),
            unit: 'ms',
            note: `${n} commands over a socat PTY, engine running`,
          })
          rows.push({ metric: `"${cmd}" reply latency p99`, value: fixed(percentile(ms, 99)), unit: 'ms' })
        }
      } finally {
        await client.close()
        await run.stop()
      }
    }
    // 1b. The default rate limit (20/s, burst 40): a client that waits for each reply is never
    // limited, however fast; a 40-line start-up batch in one write is answered in full.
    {
      const { run, con, client } = await boot(join(ctx.tmp, 'console-paced'))
      try {
        await new Promise((r) => setTimeout(r, 300))
        const n = ctx.quick ? 200 : 1000
        const t0 = performance.now()
        for (let i = 0; i < n; i++) {
          await client.send(`gain 1 -${(i % 60) + 1}\r\n`)
          const line = await client.nextLine(5000)
          if (!line.startsWith('OK gain')) throw new Error(`paced command ${i + 1} got ${line}`)
        }
        const s = (performance.now() - t0) / 1000
        rows.push({
          metric: 'paced client, default rate limit',
          value: fixed(n / s, 0),
          unit: 'commands/s',
          target: 'never limited',
          note: `${n} commands, each after the previous reply; ${con.stats().rateLimited} limited`,
        })
        const batch = Array.from({ length: 40 }, (_, k) => `gain ${(k % 4) + 1} -${(k % 30) + 1}\r\n`).join('')
        const t1 = performance.now()
        await client.send(batch)
        let ok = 0
        while (ok < 40) if ((await client.nextLine(5000)).startsWith('OK gain')) ok++
        rows.push({
          metric: '40-line start-up batch in one write',
          value: fixed(performance.now() - t1),
          unit: 'ms',
          target: '40 answered',
          note: `${ok} OK replies; ${con.stats().rateLimited} limited`,
        })
      } finally {
        await client.close()
        await run.stop()
      }
    }
    // 2. Block timing, quiet console vs flooded console.
    const secs = ctx.quick ? 3 : 8
    // 115200 8N1 carries 11520 bytes/s: "line rate" is what a real UART can deliver; the
    // unthrottled PTY flood is hundreds of times that, a worst case no cable can produce.
    for (const [tag, flood] of [
      ['quiet', 0],
      ['flood at line rate', 11520],
      ['flood unthrottled', Infinity],
    ] as const) {
      ctx.log(`block timing, ${tag}, ${secs} s`)
      const w = await window(join(ctx.tmp, `console-${tag.replace(/ /g, '-')}`), secs, flood)
      rows.push({
        metric: `block time p50/p99/max (${tag})`,
        value: `${w.p50}/${w.p99}/${fixed(w.max, 0)}`,
        unit: 'us',
        note: `period ${fixed(w.period, 0)} us`,
      })
      rows.push({ metric: `xruns/overruns/transitions (${tag})`, value: `${w.xruns}/${w.overruns}/${w.transitions}`, note: `over ${secs} s` })
      rows.push({ metric: `event-loop lag p99/max (${tag})`, value: `${fixed(w.lagP99, 1)}/${fixed(w.lagMax, 1)}`, unit: 'ms' })
      if (flood)
        rows.push({
          metric: `flood input rate (${tag})`,
          value: Number.isFinite(w.rate) ? fixed(w.rate / 1024, 0) : 'max',
          unit: Number.isFinite(w.rate) ? 'KiB/s' : '',
          note: `${w.limited} lines dropped by the rate limit`,
        })
    }
    return rows
  },
}

export default section
