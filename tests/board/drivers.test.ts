// driversFor(profile): the one place a board's drivers are chosen, by what the profile says the
// board has, never by its name.

import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { driversFor } from '../../firmware/board/drivers.ts'
import { boardRoot, loadProfile } from '../../firmware/board/profile.ts'
import { startConsole } from '../../firmware/console/console.ts'
import { SimThermal, SysfsThermal } from '../../firmware/hardware/thermal.ts'
import { WatchdogDevice } from '../../firmware/hardware/watchdog-device.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { until } from '../helpers/until.ts'

const shipped = (name: string) => JSON.parse(readFileSync(join(boardRoot, name, 'profile.json'), 'utf8'))

t.test('a bench unit under another name with the simulated parts gets the simulated drivers', async (t) => {
  const dir = t.testdir({})
  writeFileSync(join(dir, 'bench.json'), JSON.stringify({ ...shipped('sim'), name: 'bench-7' }))
  const d = driversFor(loadProfile(join(dir, 'bench.json')))
  t.equal(d.panel.kind, 'simulated')
  t.equal(d.console.kind, 'simulated')
  t.equal(d.console.path, null, 'the console makes its own PTY pair')
  t.ok(d.thermal() instanceof SimThermal, 'settable temperatures')
  t.same(d.watchdogs({}).all, [], 'no watchdog device, not under systemd')
})

t.test('a board called "sim" with real parts gets the real drivers', async (t) => {
  const dir = t.testdir({})
  const dev = join(dir, 'watchdog')
  writeFileSync(dev, '')
  writeFileSync(join(dir, 'p.json'), JSON.stringify({ ...shipped('jetson-agx-rack'), name: 'sim', watchdogDevice: dev }))
  const d = driversFor(loadProfile(join(dir, 'p.json')))
  t.equal(d.panel.kind, 'uart')
  t.same({ kind: d.console.kind, path: d.console.path, baudRate: d.console.baudRate }, { kind: 'uart', path: '/dev/ttyTHS0', baudRate: 115200 })
  t.ok(d.thermal() instanceof SysfsThermal, 'sysfs zones')
  const w = d.watchdogs({})
  t.equal(w.all.length, 1)
  t.ok(w.all[0] instanceof WatchdogDevice, `the kernel device ${w.all[0]!.name}`)
  await w.all[0]!.close()
  t.equal(readFileSync(dev, 'latin1'), 'V', 'opened and magic-closed')
})

t.test('under systemd ($NOTIFY_SOCKET) the notifier joins the watchdogs', async (t) => {
  const w = driversFor(loadProfile('sim')).watchdogs({ NOTIFY_SOCKET: join(t.testdir(), 'nobody'), WATCHDOG_USEC: '2000000' })
  t.equal(w.all.length, 1)
  t.equal(w.notifier, w.all[0])
  t.equal(w.notifier!.intervalMs, 1000)
  await w.notifier!.close()
})

t.test('the whole stack on a renamed simulated board: its simulated panel, settable thermal zones and console PTY', async (t) => {
  const dir = t.testdir({})
  writeFileSync(join(dir, 'bench.json'), JSON.stringify({ ...shipped('sim'), name: 'bench-7', dataDir: join(dir, 'data') }))
  const profile = loadProfile(join(dir, 'bench.json'))
  const run = await startAppliance(profile, { logDir: null, hardwareWatchdogs: [] })
  t.teardown(() => run.stop())
  t.ok(run.simPanel, 'the simulated controller was spawned')
  t.ok(run.children.length >= 2, `socat and the controller: ${run.children.join(', ')}`)
  await run.simPanel!.waitFor((r) => r.event === 'relay' && r.state === 'ON', 5000)
  t.pass('the relay came on through the real FrontPanel driver')
  run.app.setSimTemperature('cpu', 99)
  t.equal(run.app.thermal.read().get('cpu'), 99, 'temperatures are settable')
  const con = await startConsole(run.app, profile, { simDir: join(dir, 'data') })
  t.teardown(() => con.stop())
  t.not(con.path, con.devicePath, 'a PTY pair: the terminal end and the console end')
  t.match(con.path, /console-pty\/pty-b$/)
})

t.test('no firmware code outside firmware/board tests which board it is', async (t) => {
  const { sources, root } = await import('../../scripts/house/graph.ts')
  const boards = readdirSync(boardRoot, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
  // A comparison with a board's name or the profile's "sim" stand-in; the audio backend kind
  // ("sim", "file", "alsa") is the engine's, not a board's, and is allowed where it says backend.
  const names = [...boards, 'sim'].map((n) => n.replace(/[-]/g, '\\-')).join('|')
  const test = new RegExp(`(===|!==|==|!=)\\s*['"\`](${names})['"\`]|['"\`](${names})['"\`]\\s*(===|!==|==|!=)`)
  let files = 0
  for (const file of sources(join(root, 'firmware'))) {
    const rel = file.slice(root.length + 1)
    if (rel.startsWith('firmware/board/')) continue
    files++
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, k) => {
        if (test.test(line) && !/backend/i.test(line)) t.fail(`${rel}:${k + 1} tests for a board: ${line.trim()}`)
      })
  }
  t.ok(files > 50, `${files} files read`)
})

t.test('a hot board bypasses, whether its thermal driver is the simulation or sysfs files', async (t) => {
  const dir = t.testdir({ zone0: { temp: '45000\n' } })
  const jetson = loadProfile('jetson-agx-rack')
  // The rack unit's sensors, in a sysfs-like tree; the sim board's audio so the engine runs here.
  const sysfsBoard = { ...loadProfile('sim'), thermalZones: [{ ...jetson.thermalZones[0]!, path: join(dir, 'zone0', 'temp'), source: 'sysfs' as const }] }
  sysfsBoard.capabilities = { ...sysfsBoard.capabilities, thermal: 'sysfs' }
  const boards = [
    {
      name: 'simulated zones',
      profile: loadProfile('sim'),
      heat: (app: import('../../firmware/runtime/appliance.ts').Appliance) => app.setSimTemperature('cpu', 96),
    },
    { name: 'sysfs zones', profile: sysfsBoard, heat: () => writeFileSync(join(dir, 'zone0', 'temp'), '96000\n') },
  ]
  for (const b of boards) {
    const thermal = driversFor(b.profile).thermal()
    const { Appliance } = await import('../../firmware/runtime/appliance.ts')
    const app = await Appliance.start(b.profile, { logDir: null, thermal, watchdog: { healthyPeriodMs: 200 } })
    try {
      const until = async (cond: () => boolean, ms: number) => {
        const end = Date.now() + ms
        while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
        return cond()
      }
      t.ok(await until(() => app.status().state === 'ACTIVE', 5000), `${b.name}: ACTIVE at 45 °C (${app.status().state})`)
      b.heat(app)
      t.ok(await until(() => app.status().state === 'BYPASS', 5000), `${b.name}: BYPASS at 96 °C (${app.status().state}, ${app.status().cause})`)
      t.equal(app.status().cause, 'thermal', `${b.name}: the cause is thermal`)
    } finally {
      await app.stop()
    }
  }
})

/** The pid of the socat that serves the links in `dir` (what `ps` shows a tech). */
function socatFor(dir: string): number | null {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0')
    } catch {
      continue
    }
    if (argv[0]?.endsWith('socat') && argv.some((a) => a.includes(`link=${dir}/pty-a`))) return Number(e)
  }
  return null
}

t.test('console port driver, real UART: open() hands back the UART path, nothing to recreate', async (t) => {
  const d = driversFor(loadProfile('jetson-agx-rack'))
  const port = await d.console.open()
  t.equal(port.devicePath, '/dev/ttyTHS0')
  t.equal(port.path, '/dev/ttyTHS0', 'a terminal opens the UART itself')
  await port.close()
})

t.test('console port driver, no console fitted: open() refuses with FW_ERR_CONSOLE', async (t) => {
  const dir = t.testdir({})
  writeFileSync(
    join(dir, 'p.json'),
    JSON.stringify({ ...shipped('sim'), uarts: { ...shipped('sim').uarts, console: { ...shipped('sim').uarts.console, path: 'none' } } }),
  )
  await t.rejects(driversFor(loadProfile(join(dir, 'p.json'))).console.open(), { code: 'FW_ERR_CONSOLE' })
})

t.test('console port driver, simulated: socat killed -9, the PTY pair comes back at the same path and says so', async (t) => {
  const d = driversFor(loadProfile('sim'))
  const logs: string[] = []
  const port = await d.console.open({ simDir: t.testdir(), log: (l, m) => logs.push(`${l}: ${m}`) })
  t.teardown(() => port.close())
  const dir = dirname(port.path)
  t.equal(dirname(port.devicePath), dir, 'both ends in one folder')
  t.ok(realpathSync(port.devicePath).startsWith('/dev/pts/') && realpathSync(port.path).startsWith('/dev/pts/'), 'both ends are live ptys')
  let recreated = 0
  port.onRecreated(() => recreated++)
  const pid = socatFor(dir)
  t.ok(pid, `its socat runs (pid ${pid})`)
  process.kill(pid!, 'SIGKILL')
  await until(() => recreated === 1, 10_000, 'the driver to recreate the pair')
  const pid2 = socatFor(dir)
  t.ok(pid2 !== null && pid2 !== pid, `a new socat (pid ${pid2}) serves the same links`)
  t.ok(existsSync(port.path) && realpathSync(port.path).startsWith('/dev/pts/'), 'the same path points at a live pty again')
  t.ok(
    logs.some((l) => /socat .*exited.*recreat/i.test(l)),
    `the loss was logged: ${JSON.stringify(logs)}`,
  )
  await port.close()
  await until(() => socatFor(dir) === null, 5000, 'socat to go at close')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(socatFor(dir), null, 'and it does not come back after close')
  t.equal(recreated, 1)
})
