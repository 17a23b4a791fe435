// PTY pairs: what a UART is on a simulated board. Opened like a tty, closed, killed with -9 and
// made again at the same paths; a pair never outlives the process that owns it.

import { spawn } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { SerialPort } from 'serialport'
import t from 'tap'
import { openPtyPair, type PtyPair } from '../../firmware/hardware/pty.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function open(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false })
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())))
  return port
}
const close = (p: SerialPort) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()))

/** Sends `text` from `from` and resolves with what `to` received once it has that many bytes. */
async function roundTrip(from: SerialPort, to: SerialPort, text: string): Promise<string> {
  let got = ''
  const done = new Promise<void>((res) => {
    const on = (c: Buffer) => {
      got += c.toString()
      if (got.length >= text.length) {
        to.off('data', on)
        res()
      }
    }
    to.on('data', on)
  })
  from.write(text)
  await Promise.race([done, sleep(2000)])
  return got
}

async function bothWays(pair: PtyPair): Promise<[string, string]> {
  const a = await open(pair.a)
  const b = await open(pair.b)
  try {
    return [await roundTrip(a, b, 'HB 1*00\n'), await roundTrip(b, a, 'RELAY OFF TIMEOUT\n')]
  } finally {
    await close(a)
    await close(b)
  }
}

t.test('both ends are ttys: bytes written on one end come out of the other', async (t) => {
  const pair = await openPtyPair(t.testdir())
  t.teardown(() => pair.close())
  t.match(realpathSync(pair.a), /^\/dev\/pts\/\d+$/, `a is ${realpathSync(pair.a)}`)
  t.match(realpathSync(pair.b), /^\/dev\/pts\/\d+$/)
  t.same(await bothWays(pair), ['HB 1*00\n', 'RELAY OFF TIMEOUT\n'])
})

t.test('close stops socat, removes the links and its own temp dir', async (t) => {
  const pair = await openPtyPair()
  t.ok(alive(pair.pid), `socat ${pair.pid} runs`)
  await pair.close()
  await pair.exited
  t.notOk(existsSync(pair.a) || existsSync(pair.b), 'links gone')
  for (let i = 0; i < 100 && alive(pair.pid); i++) await sleep(20)
  t.notOk(alive(pair.pid), 'socat gone')
  await pair.close()
  t.pass('a second close is harmless')
})

t.test('kill -9 of socat: the owner learns it, and a new pair at the same paths works', async (t) => {
  const dir = t.testdir()
  const first = await openPtyPair(dir)
  process.kill(first.pid, 'SIGKILL')
  const told = await Promise.race([first.exited.then(() => true), sleep(3000).then(() => false)])
  t.ok(told, '`exited` resolved after the kill')
  const second = await openPtyPair(dir)
  t.teardown(() => second.close())
  t.equal(second.a, join(dir, 'pty-a'), 'same path for a')
  t.equal(second.b, join(dir, 'pty-b'), 'same path for b')
  t.not(second.pid, first.pid)
  t.same(await bothWays(second), ['HB 1*00\n', 'RELAY OFF TIMEOUT\n'], 'the remade pair carries bytes')
})

t.test('kill -9 of the owner process takes its pair down with it', async (t) => {
  const dir = t.testdir()
  const ptyModule = new URL('../../firmware/hardware/pty.ts', import.meta.url).pathname
  const code = `const { openPtyPair } = await import(${JSON.stringify(ptyModule)}); const p = await openPtyPair(${JSON.stringify(dir)}); console.log(p.pid); setInterval(() => {}, 1000)`
  const owner = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    owner.kill('SIGKILL')
  })
  const socatPid = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('the owner never opened its pair')), 10_000)
    createInterface({ input: owner.stdout! }).once('line', (l) => {
      clearTimeout(timer)
      res(Number(l))
    })
  })
  t.ok(alive(socatPid), `socat ${socatPid} runs for its owner`)
  owner.kill('SIGKILL')
  for (let i = 0; i < 150 && alive(socatPid); i++) await sleep(20)
  t.notOk(alive(socatPid), 'socat ended with its owner')
  for (let i = 0; i < 50 && existsSync(join(dir, 'pty-a')); i++) await sleep(20)
  t.notOk(existsSync(join(dir, 'pty-a')), 'its links are gone')
})
