import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SystemdNotifier } from '../../firmware/hardware/systemd-notify.ts'
import { SimThermal, SysfsThermal } from '../../firmware/hardware/thermal.ts'
import { WatchdogDevice } from '../../firmware/hardware/watchdog-device.ts'

t.test('the watchdog device is fed at its interval and disarmed by the magic close', async (t) => {
  const dev = join(t.testdir(), 'watchdog')
  writeFileSync(dev, '')
  const w = new WatchdogDevice({ path: dev, intervalMs: 1000 })
  for (let now = 0; now <= 3500; now += 10) w.feed(now)
  t.equal(w.feeds, 4, 'fed at 0, 1000, 2000, 3000 ms only')
  await w.close()
  const bytes = readFileSync(dev, 'latin1')
  t.equal(bytes, '\0\0\0\0V', 'four feeds, then V')
})

t.test('a missing watchdog device is a clear error', async (t) => {
  t.throws(() => new WatchdogDevice({ path: join(t.testdir(), 'no', 'such') }), { code: 'FW_ERR_IO', message: /watchdogDevice/ })
})

t.test('WATCHDOG=1 reaches $NOTIFY_SOCKET as unix datagrams', async (t) => {
  // Unix socket paths are limited to 108 bytes, so not under t.testdir().
  const dir = mkdtempSync(join(tmpdir(), 'fw-notify-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sock = join(dir, 'notify.sock')
  // A stand-in for systemd: socat receiving datagrams on a unix socket, one per line out.
  const rx = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => {
    rx.kill('SIGKILL')
  })
  let got = ''
  rx.stdout.on('data', (c: Buffer) => {
    got += c.toString()
  })
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10))
  const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000' })!
  t.equal(n.intervalMs, 100, 'half the systemd watchdog period')
  n.ready()
  await new Promise((r) => setTimeout(r, 50))
  n.feed(0)
  n.feed(50)
  await new Promise((r) => setTimeout(r, 50))
  n.feed(100)
  await new Promise((r) => setTimeout(r, 50))
  await n.close()
  for (let i = 0; i < 100 && !got.includes('STOPPING=1'); i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(got, 'READY=1\nWATCHDOG=1\nWATCHDOG=1\nSTOPPING=1\n', 'each message one newline-terminated assignment, rate-limited')
  t.equal(SystemdNotifier.fromEnv({}), null, 'no NOTIFY_SOCKET, no notifier')
})

t.test('thermal zones read millidegrees from sysfs; sim zones are settable', async (t) => {
  const f = join(t.testdir(), 'temp')
  writeFileSync(f, '81234\n')
  const s = new SysfsThermal([
    { name: 'cpu', path: f, warnC: 85, bypassC: 95 },
    { name: 'gpu', path: `${f}.missing`, warnC: 85, bypassC: 95 },
  ])
  t.same([...s.read(0)], [['cpu', 81.234]])
  t.equal(s.readErrors, 1)
  const sim = new SimThermal([{ name: 'cpu', path: 'sim', warnC: 85, bypassC: 95 }])
  sim.set('cpu', 97)
  t.equal(sim.read().get('cpu'), 97)
})

t.test(
  'the watchdog device handed to the sentinel thread is fed while the event loop is blocked, not while the audio thread is stalled, and magic-closed on stop',
  async (t) => {
    const { loadProfile } = await import('../../firmware/board/profile.ts')
    const { Appliance } = await import('../../firmware/runtime/appliance.ts')
    const { blockEventLoop } = await import('../watchdog/fixtures/scenarios.ts')
    const dev = join(t.testdir(), 'watchdog')
    writeFileSync(dev, '')
    const w = new WatchdogDevice({ path: dev, intervalMs: 1000 })
    const app = await Appliance.start(loadProfile('sim'), { logDir: null, hardwareWatchdogs: [w], sentinel: { watchdogFeedMs: 20 } })
    const size = () => readFileSync(dev, 'latin1').length
    await new Promise((r) => setTimeout(r, 300))
    t.ok(size() >= 5, `fed ${size()} times in 300 ms by the sentinel (every 20 ms)`)
    t.ok(
      app.logTail(20).some((l) => /feeding the watchdog device/.test(l.message)),
      'the log says the sentinel feeds it',
    )
    // The event loop blocked: the tick cannot feed, the sentinel does.
    const before = size()
    blockEventLoop(300)
    t.ok(size() - before >= 5, `fed ${size() - before} times while the event loop was blocked 300 ms`)
    // The audio thread stalled: the sentinel stops feeding (the device would reset the unit).
    const engine = app.engine as import('../../firmware/engine/engine.ts').Engine
    await new Promise((r) => setTimeout(r, 50))
    engine.injectAudioStall(400)
    await new Promise((r) => setTimeout(r, 100))
    const during = size()
    await new Promise((r) => setTimeout(r, 200))
    t.ok(size() - during <= 1, `fed ${size() - during} times during the stall`)
    await app.stop()
    t.equal(readFileSync(dev, 'latin1').slice(-1), 'V', 'disarmed by the magic close on a clean stop')
  },
)
