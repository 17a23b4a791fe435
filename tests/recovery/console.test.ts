// The recovery console over a real pseudo-terminal pair made by socat, opened by serialport on
// both ends: the console on one, the "stage tech's laptop" on the other.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { SerialPort } from 'serialport'
import t from 'tap'
import { hashPin } from '../../firmware/secrets/secrets.ts'
import { openRecoveryConsole, PROMPT } from '../../recovery/console.ts'
import { SlotManager } from '../../recovery/slots.ts'
import { makeBundle, makeFixture, writeProfile } from './helpers.ts'

const repo = resolve(import.meta.dirname, '..', '..')

async function ptyPair(t: { teardown: (fn: () => void) => void }, dir: string): Promise<[string, string]> {
  const a = join(dir, 'ttyRecovery')
  const b = join(dir, 'ttyTech')
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' })
  t.teardown(() => {
    socat.kill('SIGTERM')
  })
  for (let i = 0; i < 100 && !(existsSync(a) && existsSync(b)); i++) await new Promise((r) => setTimeout(r, 20))
  if (!existsSync(a) || !existsSync(b)) throw new Error('socat did not make the PTY pair')
  return [a, b]
}

/** The tech's side: send a line, collect everything up to the next prompt. */
function terminal(port: SerialPort): { next: () => Promise<string>; send: (line: string) => Promise<string> } {
  let buf = ''
  let waiter: (() => void) | undefined
  port.on('data', (c: Buffer) => {
    buf += c.toString()
    waiter?.()
  })
  const next = async (): Promise<string> => {
    while (!buf.includes(PROMPT))
      await new Promise<void>((r) => {
        waiter = r
      })
    const i = buf.indexOf(PROMPT)
    const out = buf.slice(0, i)
    buf = buf.slice(i + PROMPT.length)
    return out
  }
  return {
    next,
    send: (line) => {
      port.write(`${line}\r\n`)
      return next()
    },
  }
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
  t.teardown(() => {
    if (tech.isOpen) tech.close()
  })
  const term = terminal(tech)
  const served = await openRecoveryConsole(mgr, consolePath, 115200)
  t.teardown(() => {
    if (served.isOpen) served.close()
  })
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
  t.teardown(() => {
    if (tech.isOpen) tech.close()
  })
  const term = terminal(tech)
  const served = await openRecoveryConsole(mgr, consolePath, 115200)
  t.teardown(() => {
    if (served.isOpen) served.close()
  })
  await term.next()
  t.match(await term.send('status'), /OK/, 'status needs no login')
  t.match(await term.send(`install ${good}`), /ERR REC_ERR_AUTH "install" needs "login PIN" first/)
  t.match(await term.send('factory-reset yes'), /ERR REC_ERR_AUTH/)
  t.match(await term.send('login 000000'), /ERR REC_ERR_AUTH wrong PIN/)
  t.match(await term.send('login 482913'), /logged in\r\nOK/)
  t.match(await term.send(`install ${good}`), /installed 1\.1\.0 to slot b/)
})

/** Resident memory of a process, MB (from /proc). */
const FLOOD_MIB = 8

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

t.test('the recovery console (its own process) has a line discipline: bounded lines, no control bytes, backspace, any case', { timeout: 60000 }, async (t) => {
  const root = t.testdir({})
  const f = makeFixture(root)
  const mgr = new SlotManager(f.cfg, { log: () => {} })
  mgr.install(makeBundle(f, '1.0.0'))
  const profile = writeProfile(f)
  const [consolePath, techPath] = await ptyPair(t, root)
  const tech = new SerialPort({ path: techPath, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => tech.open((e) => (e ? reject(e) : resolve())))
  t.teardown(() => {
    if (tech.isOpen) tech.close()
  })
  const raw: Buffer[] = []
  tech.on('data', (c: Buffer) => raw.push(c))
  const term = terminal(tech)
  const child = spawn(process.execPath, [join(repo, 'recovery', 'cli.ts'), '--profile', profile, 'console', '--port', consolePath], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  t.match(await term.next(), /stage recovery console/)

  t.match(await term.send('STATUS'), /active: slot a, firmware 1\.0\.0, good\r\nhealth: no report yet\r\nOK/, 'commands are case-insensitive')
  t.match(await term.send('Slots'), /slot a \* good\s+1\.0\.0.*\r\nslot b\s+empty/)
  t.match(await term.send('statux\x7fs'), /board: sim[\s\S]*\r\nOK/, 'backspace (DEL) edits the line')
  t.match(await term.send('slotz\bs'), /slot a \* good[\s\S]*\r\nOK/, 'and so does BS')

  raw.length = 0
  const esc = await term.send('sta\x1b[Dtus')
  t.match(esc, /ERR REC_ERR_BAD_INPUT line held 1 control byte\(s\) \(first 0x1b\)/)
  const nul = await term.send('\0\0status\0')
  t.match(nul, /ERR REC_ERR_BAD_INPUT line held 3 control byte\(s\) \(first 0x00\)/)
  const back = Buffer.concat(raw)
  t.equal(back.indexOf(0x1b), -1, 'no ESC byte comes back')
  t.equal(back.indexOf(0x00), -1, 'no NUL byte comes back')

  // An 8 MiB line: refused once, not buffered, not echoed.
  const before = rssMb(child.pid!)
  raw.length = 0
  // Written by another process straight into the tech's end of the PTY pair (as a terminal program would).
  const flood = spawnSync('sh', ['-c', `head -c ${FLOOD_MIB * 1024 * 1024} /dev/zero | tr '\\0' a > ${techPath}`])
  t.equal(flood.status, 0, 'the flood was written')
  const reply = await term.send('')
  const after = rssMb(child.pid!)
  t.match(reply, /ERR REC_ERR_LINE_TOO_LONG line longer than 512 bytes/)
  t.equal((reply.match(/^ERR /gm) ?? []).length, 1, 'one error for the line')
  t.ok(Buffer.concat(raw).length < 4096, `${Buffer.concat(raw).length} bytes came back for 8 MiB sent`)
  t.ok(after - before < 20, `RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB`)
  t.match(await term.send('status'), /OK/, 'the next line works')
})
