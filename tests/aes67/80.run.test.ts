// AES67 in the running unit: `firmware run` on the sim board with its audio on the network (board
// profile audio.backend "aes67"): GStreamer sends the input, GStreamer receives the output, the
// serial console's `aes67 list` shows the counters, and killing the sender (kill -9) makes the
// input dead, which the watchdog records with its cause.

import { createSocket } from 'node:dgram'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ask, askUntil, openClient } from '../console/harness.ts'
import { simProfileIn, startRun } from '../store/run-helpers.ts'
import { gstReceiver, gstSender, writeNoiseWav24 } from './peers.ts'

/** Asks until the reply satisfies `ok` (a console round trip per try), or fails after `ms`. */
/** A free UDP port (bound to 0, read, closed) for the SAP group, so parallel runs do not share 9875. */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

interface Row {
  stream: string
  port: number
  packets: number
  malformed: number
  underruns: number
  active: boolean
  switches: number
}

/** `OK aes67 list 1.stream=rx1 1.port=40000 ...` (machine mode: array items numbered from 1) as rows. */
function rows(reply: string): Row[] {
  if (!reply.startsWith('OK aes67 list ')) throw new Error(`not a list: ${reply}`)
  const out: Array<Record<string, string>> = []
  for (const tok of reply.slice('OK aes67 list '.length).split(' ')) {
    const m = /^(\d+)\.(\w+)=(.*)$/.exec(tok)
    if (!m) continue
    const k = Number(m[1]) - 1
    out[k] ??= {}
    ;(out[k] as Record<string, string>)[m[2] as string] = m[3] as string
  }
  return out.map((r) => ({
    stream: r.stream ?? '',
    port: Number(r.port),
    packets: Number(r.packets),
    malformed: Number(r.malformed),
    underruns: Number(r.underruns),
    active: r.active === 'on',
    switches: Number(r.switches ?? 0),
  }))
}

t.test('firmware run with an AES67 input from GStreamer and an output to it; the sender killed, the watchdog says why', async (t) => {
  const dir = t.testdir({})
  const { file } = simProfileIn(dir)
  const rx = await gstReceiver(join(dir, 'out.wav'), 2)
  t.teardown(() => rx.child.kill('SIGKILL'))
  // The input's port is chosen here so GStreamer sends before the unit starts: an input whose
  // sender has never been heard is already netaudio-input-dead when the unit boots.
  const inPort = await freeUdpPort()
  const backupPort = await freeUdpPort()
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  profile.audio.backend = 'aes67'
  delete profile.audio.sim
  profile.audio.aes67 = {
    rx: [
      { port: inPort, channels: 2, linkOffsetMs: 20, firstChannel: 0, priority: 1, returnMs: 300 },
      { port: backupPort, channels: 2, linkOffsetMs: 20, firstChannel: 0, priority: 2 },
    ],
    tx: [{ address: '127.0.0.1', port: rx.port, channels: 2 }],
    sapPort: await freeUdpPort(),
    sessionName: 'run-test',
    deadMs: 300,
  }
  writeFileSync(file, JSON.stringify(profile))
  writeNoiseWav24(join(dir, 'in.wav'), 48000 * 30, 2, 80)
  // Each port is held until GStreamer's first packet arrives (gst-launch takes a while to start
  // on a loaded machine), then freed for the unit.
  const firstPacket = async (port: number) => {
    const probe = createSocket('udp4')
    await new Promise<void>((r) => probe.bind(port, '127.0.0.1', r))
    const sender = gstSender(join(dir, 'in.wav'), 2, port)
    t.teardown(() => sender.child.kill('SIGKILL'))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no packet from gst in 8 s: ${sender.log()}`)), 8000)
      probe.once('message', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    await new Promise<void>((r) => probe.close(() => r()))
    return sender
  }
  const [tx, backup] = await Promise.all([firstPacket(inPort), firstPacket(backupPort)])

  const run = startRun(file, 60)
  t.teardown(() => {
    run.child.kill('SIGKILL')
  })
  const m = await run.waitOut(/links console (\S+)/, 30000)
  const c = await openClient(m[1] as string)
  t.teardown(() => c.close())
  await c.send('\r\n')
  for (let i = 0; !/^OK console/.test(await ask(c, 'console machine').catch(() => '')); i++) if (i > 3) throw new Error('no console')

  const flowing = (r: string) => {
    const l = rows(r)
    // The two senders start a few ms apart: the input may play the backup first and return to
    // the primary after its return time (300 ms here).
    return (l[0]?.packets ?? 0) > 200 && (l[2]?.packets ?? 0) > 200 && l[0]?.active === true
  }
  const now = rows(await askUntil(c, 'aes67 list', flowing, 8000))
  t.same(
    now.map((r) => r.stream),
    ['rx1', 'rx2', 'tx1'],
    'aes67 list: the profile’s receive streams (a primary and a backup source) and transmit stream',
  )
  t.same(
    now.slice(0, 2).map((r) => [r.port, r.active]),
    [
      [inPort, true],
      [backupPort, false],
    ],
    'the input listens on its profile ports and plays its primary source',
  )
  t.ok((now[0]?.packets ?? 0) > 200, `rx1 counts the packets GStreamer sends: ${JSON.stringify(now[0])}`)
  t.equal(now[0]?.malformed, 0, 'none malformed')
  t.ok((now[2]?.packets ?? 0) > 200, `tx1 counts the packets it sends: ${JSON.stringify(now[2])}`)
  t.match(await ask(c, 'aes67 sdp tx1'), /a=rtpmap:96 L24\/48000\/2.*a=ptime:1/, 'aes67 sdp tx1: the SDP of the output')
  t.match(await askUntil(c, 'aes67 discover', (r) => /run-test tx1/.test(r), 5000), /run-test tx1/, 'aes67 discover: the unit hears its own SAP announcement')
  t.match(await ask(c, 'aes67 rx remove rx1'), /^ERR FW_ERR_AES67_STATIC .*board profile.*restart/, 'removing a profile stream at run time is refused, and why')

  // The primary sender killed: the input crosses to its backup source, and the watchdog records it.
  tx.child.kill('SIGKILL')
  await tx.exited
  const over = rows(await askUntil(c, 'aes67 list', (r) => rows(r)[1]?.active === true, 3000))
  t.same(
    over.slice(0, 2).map((r) => r.active),
    [false, true],
    'aes67 list: the backup source plays',
  )
  t.equal(over[1]?.switches, (now[1]?.switches ?? 0) + 1, 'one more switch')
  t.match(
    await askUntil(c, 'log tail 50', (r) => /its packets stopped/.test(r), 3000),
    /netaudio-failover: AES67 input switched to its priority 2 source \(port \d+\): its packets stopped/,
    'the log names the failover and why',
  )
  // Then the backup too: the input is dead.
  backup.child.kill('SIGKILL')
  await backup.exited
  const status = await askUntil(c, 'status', (r) => /state=DEGRADED/.test(r), 5000)
  t.match(status, /^OK status state=DEGRADED /, 'the watchdog degrades')
  const log = await askUntil(c, 'log tail 50', (r) => /netaudio-input-dead/.test(r), 3000)
  t.match(log, /netaudio-input-dead: AES67 input on port \d+: no packet for \d+ ms/, 'the log names the dead input')
  // The cause field holds the fault that moved the state: on a loaded machine an event-loop lag can
  // come first (the unit is then already DEGRADED and the dead input keeps it there).
  const cause = /cause=(\S+)/.exec(status)?.[1]
  if (cause === 'netaudio-failover' || cause === 'netaudio-input-dead') t.pass(`the watchdog names the input as the cause (${cause})`)
  else t.comment(`the watchdog degraded first for ${cause}; the dead input is in the log`)
  t.ok((rows(await ask(c, 'aes67 list'))[1]?.underruns ?? 0) > 0, 'the backup ran dry')

  await rx.stop()
  t.ok(statSync(join(dir, 'out.wav')).size > 48000, 'GStreamer received the unit’s output stream')
})
