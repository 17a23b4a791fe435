// Bad input over a real PTY, to the console on the real Appliance (sim board): each gets a clear
// error, changes nothing, and the console keeps working.

import { monitorEventLoopDelay } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { blast, bootRealAppliance, openClient, type Rig, snapshot, startRig, stopRig } from './harness.ts'

/** Seeded PRNG (mulberry32) so a failing garbage case can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * What a UART at receiverBaud makes of 8N1 bytes sent at senderBaud: the sender's waveform is
 * sampled the way a receiver does (falling edge = start bit, data bits at the middle of each of
 * its own bit times). A PTY has no baud rate, so this is how the test produces real misclocked noise.
 */
function misclock(data: Buffer, senderBaud: number, receiverBaud: number): Buffer {
  const bitS = 1 / senderBaud
  const frames = Array.from(data, (b) => [0, ...Array.from({ length: 8 }, (_, k) => (b >> k) & 1), 1])
  const end = frames.length * 10 * bitS
  const level = (t: number): number => {
    const k = Math.floor(t / bitS)
    const f = frames[Math.floor(k / 10)]
    return f ? f[k % 10]! : 1
  }
  const out: number[] = []
  const r = 1 / receiverBaud
  const step = r / 16
  let t = 0
  let prev = 1
  while (t < end) {
    const l = level(t)
    if (prev === 1 && l === 0) {
      let byte = 0
      for (let k = 0; k < 8; k++) byte |= level(t + (1.5 + k) * r) << k
      out.push(byte)
      t += 9.5 * r
      prev = level(t)
      continue
    }
    prev = l
    t += step
  }
  return Buffer.from(out)
}

async function quiet(rig: Rig, ms = 1200): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
  rig.client.lines.length = 0
}

async function still(t: Test, rig: Rig, app: ApplianceApi, before: string): Promise<void> {
  t.match(await rig.ask('status'), /^OK status state=[A-Z_]+ /, 'the console still answers')
  t.equal(snapshot(app), before, 'nothing changed on the appliance')
}

// One real appliance for the whole file (each case gets its own PTY pair and console on it).
const app = await bootRealAppliance(t, t.testdir())

t.test('a line over 512 bytes: one error, nothing run', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const before = snapshot(app)
  t.match(await rig.ask(`bypass on ${'x'.repeat(600)}`), /^ERR FW_ERR_LINE_TOO_LONG line longer than 512 bytes; it is ignored up to its end/)
  // 1 MB without a line end, then one
  await blast(rig.pty.b, Buffer.alloc(1 << 20, 0x61), rig.dir)
  await rig.client.send('\r\n')
  t.match(await rig.client.nextLine(), /^ERR FW_ERR_LINE_TOO_LONG /)
  await new Promise((r) => setTimeout(r, 200))
  t.same(rig.client.lines, [], 'a megabyte without a line end gives one error, not thousands')
  await still(t, rig, app, before)
})

t.test('NULs and escape sequences inside a command: one error, nothing run', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const before = snapshot(app)
  t.match(
    await rig.ask('bypass\0 on'),
    /^ERR FW_ERR_BAD_INPUT line held 1 non-text byte\(s\) \(first 0x00 at byte 7\); nothing was done\. Check the terminal settings/,
  )
  t.match(await rig.ask('bypass \x1b[31mon\x1b[0m'), /^ERR FW_ERR_BAD_INPUT line held an escape sequence; nothing was done/)
  t.match(await rig.ask('\x1b[A'), /^ERR FW_ERR_BAD_INPUT /, 'an arrow key in machine mode is refused too')
  t.match(await rig.ask('gain 1 \xe9'), /^ERR FW_ERR_BAD_INPUT /, 'non-ASCII bytes are refused')
  await still(t, rig, app, before)
})

t.test('binary garbage (seeded): errors only, no command runs, no crash', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const before = snapshot(app)
  const rand = rng(0xc0ffee)
  const garbage = Buffer.from(Array.from({ length: 16384 }, () => Math.floor(rand() * 256)))
  await rig.client.send(garbage)
  await rig.client.send('\r\n')
  await new Promise((r) => setTimeout(r, 600))
  const replies = rig.client.lines.splice(0)
  t.ok(replies.length > 0, `garbage got ${replies.length} reply lines`)
  t.ok(
    replies.every((l) => /^ERR FW_ERR_(BAD_INPUT|LINE_TOO_LONG|UNKNOWN_COMMAND|BAD_ARG|RATE_LIMITED|PERMISSION) /.test(l)),
    'every reply is an ERR line with a code',
  )
  await quiet(rig)
  await still(t, rig, app, before)
})

t.test('noise from a wrong baud rate: a clear error that names the baud rate, nothing run', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const before = snapshot(app)
  for (const [from, to] of [
    [9600, 115200],
    [115200, 9600],
    [57600, 115200],
  ] as const) {
    const noise = misclock(Buffer.from('bypass on\r\nfactory-reset\r\nstatus\r\n'), from, to)
    t.comment(`"bypass on/factory-reset/status" sent at ${from} and read at ${to}: ${noise.length} bytes, e.g. ${noise.subarray(0, 12).toString('hex')}`)
    await rig.client.send(noise)
    // noise rarely holds a line end: the console reports it after the input goes quiet
    const reply = await rig.client.nextLine(3000)
    t.match(reply, /^ERR FW_ERR_(BAD_INPUT|UNKNOWN_COMMAND|LINE_TOO_LONG) /, `${from} -> ${to}: ${reply}`)
    if (/BAD_INPUT/.test(reply)) t.match(reply, /Check the terminal settings \(baud rate, 8N1\)/)
    await quiet(rig, 600)
  }
  await still(t, rig, app, before)
})

t.test('a flood of commands is rate limited with a clear error, and the loop keeps turning', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const _before = snapshot(app)
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  await rig.client.send('gain 1 -3\r\n'.repeat(2000))
  await new Promise((r) => setTimeout(r, 1500))
  h.disable()
  const replies = rig.client.lines.splice(0)
  const ok = replies.filter((l) => l.startsWith('OK gain')).length
  const limited = replies.filter((l) => l.startsWith('ERR FW_ERR_RATE_LIMITED more than 20 commands per second; lines are being dropped'))
  t.ok(limited.length >= 1, `the flood was told it is rate limited (${limited.length} notices)`)
  t.ok(ok <= 40 + 2 * 20, `only the burst and the refill ran (${ok} of 2000)`)
  t.equal(replies.length, ok + limited.length, 'no other replies')
  t.equal(app.outputSettings()[0]!.gainDb, -3, 'the accepted lines ran')
  t.comment(`event loop delay during a 2000-line flood: p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms`)
  await quiet(rig)
  t.match(await rig.ask('status'), /^OK status /, 'after the flood stops, commands work again')
  t.ok(rig.con.stats().rateLimited >= 1900, 'the drops are counted')
})

t.test('the port vanishes and comes back: the console reopens with backoff', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine' })
  let { client, pty } = rig
  t.teardown(async () => {
    await client.close()
    await rig.con.stop()
    await pty.close()
  })
  t.match(await rig.ask('status'), /^OK status /)
  // USB-serial unplugged: the tty goes away under the open port
  await client.close()
  await pty.close()
  const t0 = Date.now()
  while (rig.con.stats().isOpen && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20))
  t.equal(rig.con.stats().isOpen, false, 'the console noticed the port closed')
  await new Promise((r) => setTimeout(r, 700)) // a few failed reopen attempts
  t.ok(rig.con.stats().openFailures >= 2, `reopen attempts failed while the device was gone (${rig.con.stats().openFailures})`)
  t.ok(
    rig.logs.some((l) => /closed .*reopening/.test(l)),
    'the loss was logged',
  )
  // plugged back in
  pty = await openPtyPair(dir) // the same link paths as before
  client = await openClient(pty.b)
  await rig.con.whenOpen()
  t.equal(rig.con.stats().opens, 2, 'opened twice in all')
  await client.send('status\r\n')
  t.match(await client.nextLine(), /^OK status state=[A-Z_]+ /, 'commands work after the reopen')
  t.equal(rig.con.stats().mode, 'machine', 'the mode survives the reopen')
})

t.test('a far end that stops reading: events are dropped, then the stalled port is reopened', async (t) => {
  const dir = t.testdir()
  const rig = await startRig(app, dir, { mode: 'machine', writeStallMs: 1000, maxPendingOutput: 512, rate: { perSecond: 1000, burst: 1000 } })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('subscribe meters=20'), /^OK subscribe /)
  rig.client.port.pause() // the control system hangs and stops reading
  await rig.client.send('help\r\n'.repeat(150)) // ~2.5 KB of reply each: fills the tty buffers at once
  const t0 = Date.now()
  while (rig.con.stats().opens < 2 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100))
  const st = rig.con.stats()
  t.ok(st.droppedEvents > 0, `events were dropped, not queued without bound (${st.droppedEvents})`)
  t.equal(st.opens, 2, 'the console reopened the stalled port')
  t.ok(
    rig.logs.some((l) => /stalled for \d+ s with \d+ bytes unsent; reopening the port/.test(l)),
    'and said why',
  )
  rig.client.port.resume()
  await rig.client.send('\r\nunsubscribe\r\n')
  await rig.client.waitRaw(/OK unsubscribe state=off meters=off/, 10_000)
  t.pass('the console answers again once the far end reads')
})
