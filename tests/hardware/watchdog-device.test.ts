// The kernel watchdog device as the firmware sees it: a file it opens for writing, feeds with a
// byte, and disarms with 'V' on a clean stop. Here the device is a plain file or a FIFO with a
// real reader process on the other end (a driver that reads what the firmware writes).

import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { WatchdogDevice } from '../../firmware/hardware/watchdog-device.ts'

/** A FIFO at `path` and a reader process copying it to `out` (started before the firmware opens it). */
function fifoWithReader(dir: string): { path: string; out: string; exited: Promise<number | null>; kill(): void } {
  const path = join(dir, 'watchdog')
  const out = join(dir, 'received')
  const mk = spawnSync('mkfifo', [path])
  if (mk.status !== 0) throw new Error(`mkfifo: ${mk.stderr}`)
  const reader = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', path, out], { stdio: 'ignore' })
  const exited = new Promise<number | null>((r) => reader.once('exit', (code) => r(code)))
  return {
    path,
    out,
    exited,
    kill: () => {
      reader.kill('SIGKILL')
    },
  }
}

t.test('a device driver on a FIFO receives the feeds at their interval and the magic close', async (t) => {
  const fifo = fifoWithReader(t.testdir())
  t.teardown(() => fifo.kill())
  const w = new WatchdogDevice({ path: fifo.path, intervalMs: 1000 })
  t.equal(w.name, fifo.path, 'named by its path (logs, status)')
  for (let now = 0; now <= 2500; now += 10) w.feed(now)
  t.equal(w.feeds, 3, 'fed at 0, 1000 and 2000 ms only')
  await w.close()
  t.equal(await fifo.exited, 0, 'the reader saw the device closed (end of file)')
  t.equal(readFileSync(fifo.out, 'latin1'), '\0\0\0V', 'three feed bytes, then V')
  w.feed(5000)
  await w.close()
  t.equal(readFileSync(fifo.out, 'latin1'), '\0\0\0V', 'after close nothing more is written, and a second close is harmless')
})

t.test('a device that goes away mid-run: a feed does not throw and is not counted as fed', async (t) => {
  const fifo = fifoWithReader(t.testdir())
  const w = new WatchdogDevice({ path: fifo.path, intervalMs: 10 })
  w.feed(0)
  t.equal(w.feeds, 1)
  fifo.kill()
  await fifo.exited
  t.doesNotThrow(() => w.feed(100), 'EPIPE is a missed feed, not a crash of the tick')
  t.equal(w.feeds, 1, 'the failed feed is not counted')
  await w.close().catch(() => {})
})

t.test('opening a device that is not there, or is a directory, is FW_ERR_IO naming the profile field', async (t) => {
  const dir = t.testdir({ sub: {} })
  t.throws(() => new WatchdogDevice({ path: join(dir, 'no-such-device') }), {
    code: 'FW_ERR_IO',
    message: /no-such-device.*watchdogDevice in the board profile/,
  })
  t.throws(() => new WatchdogDevice({ path: join(dir, 'sub') }), { code: 'FW_ERR_IO', message: /watchdogDevice/ })
})

t.test('handed over to the sentinel, the descriptor is no longer fed or closed here; taken back, it is', async (t) => {
  const path = join(t.testdir(), 'watchdog')
  writeFileSync(path, '')
  const w = new WatchdogDevice({ path, intervalMs: 0 })
  t.ok(w.handOverable, 'an open real device can be handed over')
  const fd = w.handOver()
  t.ok(fd >= 0, `descriptor ${fd}`)
  t.notOk(w.handOverable, 'only once')
  w.feed(1)
  await w.close()
  t.equal(readFileSync(path, 'latin1'), '', 'nothing written while the sentinel owns it')
  w.takeBack(fd)
  w.feed(2)
  await w.close()
  t.equal(readFileSync(path, 'latin1'), '\0V', 'fed and magic-closed after it came back')
})

t.test('an injected device (tests) is never handed to the native thread', async (t) => {
  const writes: string[] = []
  const w = new WatchdogDevice({
    path: '/dev/fake',
    fs: {
      open: () => 7,
      write: (_fd, d) => {
        writes.push(d)
      },
      close: () => {},
    },
  })
  t.notOk(w.handOverable)
  w.feed(0)
  await w.close()
  t.same(writes, ['\0', 'V'])
})
