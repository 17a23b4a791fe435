// Issue 10 item 4: on the sim board the console makes its own socat PTY pair. If that socat dies
// (kill -9), the console recreates the pair at the same path, so a terminal reconnects with the
// same command instead of needing a restart of the firmware.

import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { dirname } from 'node:path'
import t from 'tap'
import { startConsole } from '../../firmware/console/index.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { until } from '../helpers/until.ts'
import { openClient } from './harness.ts'

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

t.test('socat of the sim console killed: the PTY comes back at the same path and the link works again', async (t) => {
  const app = new FakeAppliance()
  t.equal(app.profile.uarts.console.path, 'sim', 'the sim profile asks for a made-up UART')
  const logs: string[] = []
  const con = await startConsole(app, app.profile, { simDir: t.testdir(), mode: 'machine', log: (l, m) => logs.push(`${l}: ${m}`) })
  t.teardown(() => con.stop())
  const dir = dirname(con.path)
  let client = await openClient(con.path)
  t.teardown(() => client.close())
  await client.send('status\r\n')
  t.match(await client.nextLine(), /^OK status /, 'the link works')

  const pid = socatFor(dir)
  t.ok(pid, `found the console's socat (pid ${pid})`)
  const oldTty = realpathSync(con.path)
  process.kill(pid!, 'SIGKILL')
  await until(() => !existsSync(`/proc/${pid}`) || /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 5000, 'socat to die')
  await client.close()

  // A new socat at the same path, and the console back on its end.
  await until(
    () => {
      const p = socatFor(dir)
      return p !== null && p !== pid && existsSync(con.path)
    },
    10_000,
    'a new socat serving the same links',
  )
  t.ok(realpathSync(con.path).startsWith('/dev/pts/'), `the link points at a live pty again (was ${oldTty}, now ${realpathSync(con.path)})`)
  await until(() => con.stats().opens >= 2, 10_000, 'the console to reopen its end')
  client = await openClient(con.path)
  await client.send('gain 1 -4\r\n')
  t.equal(await client.nextLine(5000), 'OK gain output=1 gain=-4', 'commands work again on the same path')
  t.equal(app.outputSettings()[0]!.gainDb, -4)
  t.equal(con.stats().mode, 'machine', 'the session mode survived')
  t.ok(
    logs.some((l) => /socat .*(died|exited).*recreat/i.test(l)),
    `the loss was logged: ${JSON.stringify(logs)}`,
  )

  // A second death is handled as well.
  const pid2 = socatFor(dir)!
  process.kill(pid2, 'SIGKILL')
  await client.close()
  await until(
    () => {
      const p = socatFor(dir)
      return p !== null && p !== pid2 && existsSync(con.path)
    },
    10_000,
    'a third socat',
  )
  await until(() => con.stats().opens >= 3, 10_000, 'the console to reopen again')
  client = await openClient(con.path)
  await client.send('status\r\n')
  t.match(await client.nextLine(5000), /^OK status /, 'and again')
})

t.test('stopping the console stops its socat for good (no recreation after stop)', async (t) => {
  const app = new FakeAppliance()
  const con = await startConsole(app, app.profile, { simDir: t.testdir(), log: () => {} })
  const dir = dirname(con.path)
  const pid = socatFor(dir)
  t.ok(pid)
  await con.stop()
  await until(() => socatFor(dir) === null, 5000, 'socat to go')
  await new Promise((r) => setTimeout(r, 500))
  t.equal(socatFor(dir), null, 'no socat came back')
})

t.test('a PTY pair does not outlive its owner: kill -9 the owner and socat and its links go', async (t) => {
  const { spawn } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const dir = t.testdir()
  const ptyModule = new URL('../../firmware/hardware/pty.ts', import.meta.url).pathname
  writeFileSync(
    join(dir, 'owner.ts'),
    `import { openPtyPair } from ${JSON.stringify(ptyModule)}
const p = await openPtyPair(${JSON.stringify(join(dir, 'links'))})
console.log(p.pid)
setInterval(() => {}, 1000)
`,
  )
  const { mkdirSync } = await import('node:fs')
  mkdirSync(join(dir, 'links'))
  const owner = spawn(process.execPath, [join(dir, 'owner.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const pid = await new Promise<number>((res) => owner.stdout!.once('data', (c: Buffer) => res(Number(c.toString().trim()))))
  t.ok(pid > 0 && existsSync(`/proc/${pid}`), `the owner's socat runs (pid ${pid})`)
  t.ok(existsSync(join(dir, 'links', 'pty-b')), 'its links exist')
  owner.kill('SIGKILL')
  await until(() => !existsSync(`/proc/${pid}`) || /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 5000, 'the orphaned socat to stop')
  t.pass('socat stopped when its owner was killed')
  await until(() => !existsSync(join(dir, 'links', 'pty-b')), 5000, 'the links to go')
  t.pass('the links went with it')
})
