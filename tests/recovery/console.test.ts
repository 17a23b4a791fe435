// The recovery console over a real pseudo-terminal pair made by socat, opened by serialport on
// both ends: the console on one, the "stage tech's laptop" on the other.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { SerialPort } from 'serialport'
import { openRecoveryConsole, PROMPT } from '../../recovery/console.ts'
import { SlotManager } from '../../recovery/slots.ts'
import { makeBundle, makeFixture } from './helpers.ts'
import { hashPin } from '../../firmware/secrets/secrets.ts'

async function ptyPair(t: { teardown: (fn: () => void) => void }, dir: string): Promise<[string, string]> {
  const a = join(dir, 'ttyRecovery')
  const b = join(dir, 'ttyTech')
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' })
  t.teardown(() => { socat.kill('SIGTERM') })
  for (let i = 0; i < 100 && !(existsSync(a) && existsSync(b)); i++) await new Promise((r) => setTimeout(r, 20))
  if (!existsSync(a) || !existsSync(b)) throw new Error('socat did not make the PTY pair')
  return [a, b]
}

/** The tech's side: send a line, collect everything up to the next prompt. */
function terminal(port: SerialPort): { next: () => Promise<string>; send: (line: string) => Promise<string> } {
  let buf = ''
  let waiter: (() => void) | undefined
  port.on('data', (c: Buffer) => { buf += c.toString(); waiter?.() })
  const next = async (): Promise<string> => {
    while (!buf.includes(PROMPT)) await new Promise<void>((r) => { waiter = r })
    const i = buf.indexOf(PROMPT)
    const out = buf.slice(0, i)
    buf = buf.slice(i + PROMPT.length)
    return out
  }
  return { next, send: (line) => { port.write(`${line}\r\n`); return next() } }
}

t.test('the recovery console works through a PTY: status, slots, install, rollback, factory reset', { timeout: 30000 }, async (t) => {
  const root = t.testdir({})
  const f = makeFixture(root)
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  const good = makeBundle(f, '1.1.0')
  const wrongBoard = makeBundle(f, '1.2.0', { board: 'jetson-agx-rack' })
  const [consolePath, techPath] = await ptyPair(t, root)
  // The tech's end is open first, so the greeting is not lost.
  const tech = new SerialPort({ path: techPath, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => tech.open((e) => (e ? reject(e) : resolve())))
  t.teardown(() => { if (tech.isOpen) tech.close() })
  const term = terminal(tech)
  const served = await openRecoveryConsole(mgr, consolePath, 115200)
  t.teardown(() => { if (served.isOpen) served.close() })
  t.match(await term.next(), /stage recovery console/)

  t.match(await term.send('status'), /board: sim\r\nactive: slot a, firmware 1\.0\.0, good\r\nhealth: no report yet\r\nOK/)
  t.match(await term.send('help'), /factory-reset \[--full\] yes/)
  t.match(await term.send(`install ${wrongBoard}`), /ERR REC_ERR_BUNDLE_BOARD .*built for board "jetson-agx-rack"/)
  t.match(await term.send(`install ${good}`), /installed 1\.1\.0 to slot b; it must report healthy within 3 boots.*\r\nOK/)
  const slots = await term.send('slots')
  t.match(slots, /slot a\s+good\s+1\.0\.0/)
  t.match(slots, /slot b \* pending 1\.1\.0/)
  t.match(await term.send('rollback'), /rolled back from slot b to slot a \(firmware 1\.0\.0\)/)
  t.equal(mgr.read().active, 'a')
  t.match(await term.send('rollback'), /ERR REC_ERR_SLOT slot b holds no good firmware \(it is bad\)/)

  mkdirSync(join(f.cfg.dataDir, 'identity'), { recursive: true })
  mkdirSync(join(f.cfg.dataDir, 'presets'), { recursive: true })
  writeFileSync(join(f.cfg.dataDir, 'presets', 'verse.json'), '{}')
  t.match(await term.send('factory-reset'), /ERR REC_ERR_USAGE .*type "factory-reset yes"/)
  t.ok(existsSync(join(f.cfg.dataDir, 'presets')), 'nothing wiped without "yes"')
  t.match(await term.send('factory-reset yes'), /removed: presets\r\nkept: identity\r\nOK/)
  t.same(readdirSync(f.cfg.dataDir), ['identity'])
  t.match(await term.send('frobnicate'), /ERR REC_ERR_USAGE unknown command "frobnicate"/)
})

t.test('with a console PIN set at provisioning, install, rollback and reset need "login PIN"', { timeout: 30000 }, async (t) => {
  const root = t.testdir({})
  const f = makeFixture(root)
  mkdirSync(f.cfg.dataDir, { recursive: true })
  // The hash as provisioning writes it (firmware/secrets), checked by recovery's own code.
  writeFileSync(join(f.cfg.dataDir, 'console-pin'), await hashPin('482913'))
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  const good = makeBundle(f, '1.1.0')
  const [consolePath, techPath] = await ptyPair(t, root)
  const tech = new SerialPort({ path: techPath, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => tech.open((e) => (e ? reject(e) : resolve())))
  t.teardown(() => { if (tech.isOpen) tech.close() })
  const term = terminal(tech)
  const served = await openRecoveryConsole(mgr, consolePath, 115200)
  t.teardown(() => { if (served.isOpen) served.close() })
  await term.next()
  t.match(await term.send('status'), /OK/, 'status needs no login')
  t.match(await term.send(`install ${good}`), /ERR REC_ERR_AUTH "install" needs "login PIN" first/)
  t.match(await term.send('factory-reset yes'), /ERR REC_ERR_AUTH/)
  t.match(await term.send('login 000000'), /ERR REC_ERR_AUTH wrong PIN/)
  t.match(await term.send('login 482913'), /logged in\r\nOK/)
  t.match(await term.send(`install ${good}`), /installed 1\.1\.0 to slot b/)
})
