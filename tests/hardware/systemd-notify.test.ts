// systemd's notify protocol against a real unix datagram socket: a small receiver (python3, as
// systemd reads it: one recv() per datagram, newline-separated assignments in each) stands for
// systemd, and the test reads what it would have understood.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import { SystemdNotifier } from '../../firmware/hardware/systemd-notify.ts'

const RECEIVER = `
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + addr[1:] if addr.startswith("@") else addr)
print(json.dumps("listening"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`

interface Systemd {
  /** The datagrams received, as sent. */
  datagrams: string[]
  /** The assignments systemd would act on (each datagram split at newlines). */
  assignments(): string[]
  /** Waits until `n` assignments have arrived. */
  waitFor(n: number, ms?: number): Promise<void>
}

async function fakeSystemd(t: Test, addr: string): Promise<Systemd> {
  const rx = spawn('python3', ['-c', RECEIVER, addr], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    rx.kill('SIGKILL')
  })
  const datagrams: string[] = []
  let listening!: () => void
  const up = new Promise<void>((r) => {
    listening = r
  })
  createInterface({ input: rx.stdout! }).on('line', (l) => {
    const d = JSON.parse(l) as string
    if (d === 'listening') listening()
    else datagrams.push(d)
  })
  await up
  const assignments = () => datagrams.flatMap((d) => d.split('\n')).filter((a) => a.length > 0)
  return {
    datagrams,
    assignments,
    waitFor: async (n, ms = 3000) => {
      const until = Date.now() + ms
      while (assignments().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    },
  }
}

/** Unix socket paths are limited to 108 bytes, so not under t.testdir(). */
function socketDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-notify-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('READY=1 and WATCHDOG=1 sent back to back are two assignments systemd understands', async (t) => {
  const sock = join(socketDir(t), 'notify')
  const systemd = await fakeSystemd(t, sock)
  const n = new SystemdNotifier({ socket: sock, intervalMs: 1000 })
  // The runtime says READY=1 right after the first ticks fed the watchdog: nothing spaces them.
  n.ready()
  n.feed(0)
  await n.close()
  await systemd.waitFor(3)
  await new Promise((r) => setTimeout(r, 100))
  t.same(systemd.assignments(), ['READY=1', 'WATCHDOG=1', 'STOPPING=1'], `datagrams as received: ${JSON.stringify(systemd.datagrams)}`)
})

t.test('an abstract socket (@name) is reached too', async (t) => {
  const name = `@fw-notify-test-${process.pid}-${Date.now()}`
  const systemd = await fakeSystemd(t, name)
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: name, WATCHDOG_USEC: '4000000' })!
  t.equal(n.intervalMs, 2000, 'fed at half the systemd watchdog period')
  n.feed(0)
  n.feed(1999)
  n.feed(2000)
  await n.close()
  await systemd.waitFor(3)
  await new Promise((r) => setTimeout(r, 100))
  t.same(systemd.assignments(), ['WATCHDOG=1', 'WATCHDOG=1', 'STOPPING=1'])
})

t.test('no systemd listening: notifications are dropped, nothing throws, close ends', async (t) => {
  const n = new SystemdNotifier({ socket: join(socketDir(t), 'nobody-here') })
  t.doesNotThrow(() => {
    n.ready()
    n.feed(0)
  })
  const started = Date.now()
  await n.close()
  t.ok(Date.now() - started < 3000, 'close does not hang')
  t.equal(SystemdNotifier.fromEnv({}), null, 'without NOTIFY_SOCKET (not started by systemd) there is no notifier')
})
