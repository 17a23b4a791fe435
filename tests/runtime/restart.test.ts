// `reboot` and `factory-reset` from the stage tech's console on a running `firmware run`: the
// appliance restarts in place; a reset wipes the presets but keeps the identity.

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, linkSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { type Client, openClient } from '../console/harness.ts'
import { until } from '../helpers/until.ts'

const root = join(import.meta.dirname, '..', '..')

/**
 * Starts `firmware run` on a copy of the sim profile whose data lives in `dir`. `file` names the
 * copy (a unit's profile need not be called profile.json).
 */
function startRun(
  dir: string,
  file = join('board', 'sim-copy', 'profile.json'),
  o: { node?: string; env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcess; out: () => string; waitOut: (re: RegExp, ms?: number) => Promise<RegExpMatchArray> } {
  const profile = JSON.parse(readFileSync(join(root, 'board', 'sim', 'profile.json'), 'utf8'))
  profile.dataDir = join(dir, 'data')
  profile.recovery.stateDir = join(dir, 'recovery')
  profile.recovery.slots = { a: join(dir, 'slot-a'), b: join(dir, 'slot-b') }
  profile.recovery.publicKey = join(dir, 'recovery', 'update-signing.pub')
  const path = join(dir, file)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(profile))
  const child = spawn(o.node ?? process.execPath, ['bin/firmware.js', 'run', '--board', path, '--seconds', '60'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env },
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const waitOut = async (re: RegExp, ms = 20000) => {
    const t0 = Date.now()
    for (;;) {
      const m = re.exec(out)
      if (m) return m
      if (Date.now() - t0 > ms || child.exitCode !== null) throw new Error(`no ${re} in output:\n${out.slice(-1500)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return { child, out: () => out, waitOut }
}

/** Sends one command and returns its reply line (machine mode: the next OK/ERR line). */
async function ask(c: Client, line: string): Promise<string> {
  c.clear()
  await c.send(`${line}\r\n`)
  for (;;) {
    const l = await c.nextLine(5000)
    if (/^(OK|ERR) /.test(l)) return l
  }
}

async function confirmCommand(c: Client, line: string): Promise<string> {
  const ask1 = await ask(c, line)
  const token = /confirm=(\w+)/.exec(ask1)
  if (!token) throw new Error(`expected a confirm request, got ${ask1}`)
  return ask(c, `${line} confirm=${token[1]}`)
}

t.test('reboot from the console restarts the appliance in place', async (t) => {
  const dir = t.testdir({})
  const run = startRun(dir)
  t.teardown(() => {
    run.child.kill('SIGTERM')
  })
  const first = await run.waitOut(/links console (\S+)/)
  await run.waitOut(/state ACTIVE/)
  const c = await openClient(first[1]!)
  t.teardown(() => c.close())
  t.match(await ask(c, 'console machine'), /^OK console/)
  t.match(await confirmCommand(c, 'reboot'), /^OK reboot/)
  await run.waitOut(/restarting \(reboot by [^)]+\)/)
  const second = await run.waitOut(/restarting[\s\S]*links console (\S+)/)
  t.equal(second[1], first[1], 'the console is offered again at the same path after the restart')
  await run.waitOut(/restarting[\s\S]*state ACTIVE/)
  t.equal(run.child.exitCode, null, 'still running')
})

for (const file of [join('board', 'sim-copy', 'profile.json'), 'rack-a.json'])
  t.test(`factory-reset wipes presets, keeps the identity, and restarts (profile ${file})`, async (t) => {
    const dir = t.testdir({})
    const identity = join(dir, 'data', 'identity')
    mkdirSync(identity, { recursive: true })
    writeFileSync(join(identity, 'serial'), 'SA-TEST-0001\n', { mode: 0o600 })
    const run = startRun(dir, file)
    t.teardown(() => {
      run.child.kill('SIGTERM')
    })
    const first = await run.waitOut(/links console (\S+)/)
    await run.waitOut(/state ACTIVE/)
    const c = await openClient(first[1]!)
    t.teardown(() => c.close())
    t.match(await ask(c, 'console machine'), /^OK console/)
    t.match(await ask(c, 'preset save name=before-reset'), /^OK preset save/)
    t.match(await ask(c, 'preset list'), /before-reset/)
    t.match(await confirmCommand(c, 'factory-reset'), /^OK factory-reset/)
    const wiped = await run.waitOut(/factory reset by (.+): removed ([^;]*); kept (.*)/)
    t.match(wiped[3], /identity/, 'the identity is kept')
    t.match(wiped[2], /presets/, 'the presets are removed')
    t.ok(existsSync(join(identity, 'serial')), 'identity file still there')
    const again = await run.waitOut(/restarting[\s\S]*links console (\S+)/)
    await run.waitOut(/restarting[\s\S]*state ACTIVE/)
    const c2 = await openClient(again[1]!)
    t.teardown(() => c2.close())
    t.match(await ask(c2, 'console machine'), /^OK console/)
    const list = await ask(c2, 'preset list')
    t.match(list, /^OK preset list/)
    t.notMatch(list, /before-reset/, 'the preset is gone')
  })

t.test('the firmware reports the version and slot of the image it runs from, on the console and in health.json', async (t) => {
  const dir = t.testdir({})
  // An image directory: the binary (here the pinned Node, hard-linked so it runs from there) beside
  // the image's manifest.json, as recovery installs it into a slot.
  const image = join(dir, 'slot-b')
  mkdirSync(image, { recursive: true })
  linkSync(realpathSync(process.execPath), join(image, 'node'))
  writeFileSync(join(image, 'manifest.json'), JSON.stringify({ format: 'stage-image/1', name: 'stage-firmware', version: '2.0.0' }))
  const run = startRun(dir, 'rack-a.json', { node: join(image, 'node'), env: { STAGE_SLOT: 'b' } })
  t.teardown(() => {
    run.child.kill('SIGTERM')
  })
  const first = await run.waitOut(/links console (\S+)/)
  await run.waitOut(/state ACTIVE/)
  const c = await openClient(first[1]!)
  t.teardown(() => c.close())
  t.match(await ask(c, 'console machine'), /^OK console/)
  t.match(await ask(c, 'version'), /^OK version .*firmware=2\.0\.0\+slot\.b/)
  t.match(await ask(c, 'status'), /^OK status .*firmware=2\.0\.0\+slot\.b/)
  await until(() => existsSync(join(dir, 'data', 'health.json')), 10000, 'health.json')
  t.equal(JSON.parse(readFileSync(join(dir, 'data', 'health.json'), 'utf8')).version, '2.0.0', 'health.json: the version recovery confirms')
})
