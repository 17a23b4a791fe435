// Conformance of a front-panel controller to docs/front-panel-protocol.md, over the wire only.
// Runs against the simulated controller, or against a real one when FW_PANEL_PORT names its UART
// (cases that need a hand on the button are skipped there, with the reason).

import { SerialPort } from 'serialport'
import t, { type Test } from 'tap'
import { startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { decode, encode, LineSplitter } from '../../firmware/panel/protocol.ts'

const realPort = process.env.FW_PANEL_PORT
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Wire {
  send(payload: string): void
  raw(bytes: string): void
  /** Waits for the next line whose payload matches `re` (decoded and checksum-checked); 5 s by
   *  default, a margin for a loaded machine: the timing checks say their limits explicitly. */
  expect(re: RegExp, ms?: number): Promise<string[]>
  /** Lines received so far (payloads). */
  lines: string[]
  /** Lines from the controller that were not valid frames. */
  bad(): number
  press?: () => void
  release?: () => void
}

async function connect(t: Test): Promise<Wire> {
  let path = realPort
  let sim: Awaited<ReturnType<typeof startSimulatedPanel>> | null = null
  if (!path) {
    const pty = await openPtyPair(t.testdir())
    // Registered before the controller starts, so a controller that fails to start leaves no socat behind.
    t.teardown(async () => {
      await sim?.stop()
      await pty.close()
    })
    sim = await startSimulatedPanel({ port: pty.b })
    path = pty.a
  }
  const port = new SerialPort({ path, baudRate: 115200 })
  await new Promise((r) => port.once('open', r))
  t.teardown(() => new Promise<void>((r) => port.close(() => r())))
  const lines: string[] = []
  let bad = 0
  const splitter = new LineSplitter()
  const waiters = new Set<() => void>()
  port.on('data', (c: Buffer) => {
    for (const l of splitter.push(c)) {
      if (l === null) {
        bad++
        continue
      }
      const d = decode(l)
      if (!d.ok) {
        bad++
        continue
      }
      lines.push(d.payload)
    }
    for (const w of [...waiters]) w()
  })
  let from = 0
  const wire: Wire = {
    lines,
    bad: () => bad,
    send: (p) => {
      port.write(encode(p))
    },
    raw: (b) => {
      port.write(b)
    },
    expect: (re, ms = 5000) =>
      new Promise((res, rej) => {
        const check = () => {
          for (let i = from; i < lines.length; i++) {
            if (re.test(lines[i]!)) {
              from = i + 1
              clearTimeout(timer)
              waiters.delete(check)
              res(lines[i]!.split(' '))
              return
            }
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          rej(new Error(`no line matching ${re} in ${ms} ms; got ${JSON.stringify(lines.slice(from))}`))
        }, ms)
        waiters.add(check)
        check()
      }),
  }
  if (sim) {
    wire.press = () => sim!.control('press')
    wire.release = () => sim!.control('release')
  }
  return wire
}

t.test('version and status queries', async (t) => {
  const w = await connect(t)
  w.send('VER?')
  const v = await w.expect(/^VER /)
  t.equal(v[1], '1', 'protocol version 1')
  t.ok(v.length === 4, `model and firmware given: ${v.join(' ')}`)
  w.send('STATUS?')
  const s = await w.expect(/^STATUS /)
  t.match(s.join(' '), /^STATUS RELAY=(ON|OFF) REASON=\S+ HB=(OK|LOST) BTN=(UP|DOWN) TIMEOUT=\d+$/)
  t.equal(w.bad(), 0, 'every line from the controller was a valid frame')
})

t.test('the relay energises only on a fresh heartbeat and drops by itself when they stop', async (t) => {
  const w = await connect(t)
  w.send('TIMEOUT 250')
  await w.expect(/^OK TIMEOUT 250$/)
  await sleep(300)
  w.send('RELAY ON')
  await w.expect(/^ERR NOHB /)
  w.send('HB 1')
  w.send('RELAY ON')
  await w.expect(/^RELAY ON HOST$/)
  let seq = 2
  const hb = setInterval(() => w.send(`HB ${seq++}`), 50)
  await sleep(400)
  t.notOk(
    w.lines.some((l) => l.startsWith('RELAY OFF')),
    'held while heartbeats come',
  )
  clearInterval(hb)
  const start = Date.now()
  const off = await w.expect(/^RELAY OFF TIMEOUT \d+$/, 1000)
  t.ok(Number(off[3]) >= 250, `dropped after ${off[3]} ms without a heartbeat`)
  t.ok(Date.now() - start < 600, 'within the timeout (plus transport)')
  w.send('RELAY OFF')
  await w.expect(/^RELAY OFF TIMEOUT$/)
  t.pass('RELAY OFF when already off answers with the reason it went off')
  t.equal(w.bad(), 0, 'every line from the controller was a valid frame')
})

t.test('LED commands, bad frames and bad arguments get exactly one answer each', async (t) => {
  const w = await connect(t)
  w.send('LED STATUS GREEN SOLID')
  await w.expect(/^OK LED STATUS GREEN SOLID$/)
  w.send('LED STATUS PURPLE SOLID')
  await w.expect(/^ERR ARG /)
  w.raw('HB 1*00\n')
  await w.expect(/^ERR CHECKSUM /)
  w.raw(`${'Z'.repeat(200)}\n`)
  await w.expect(/^ERR LONG /)
  w.send('REBOOT')
  await w.expect(/^ERR UNKNOWN /)
  w.send('TIMEOUT 5')
  await w.expect(/^ERR ARG /)
  w.send('HB 70000')
  await w.expect(/^ERR ARG /)
  await sleep(100)
  t.equal(w.lines.filter((l) => l.startsWith('ERR ')).length, 6, 'six errors, one per bad line')
  t.equal(w.bad(), 0, 'every line from the controller was a valid frame')
})

t.test(
  'the button drops the relay at once and reports DOWN, SHORT, UP',
  { skip: realPort ? 'needs a person at the button on real hardware' : false },
  async (t) => {
    const w = await connect(t)
    w.send('HB 1')
    w.send('RELAY ON')
    await w.expect(/^RELAY ON HOST$/)
    const hb = setInterval(() => w.send('HB 2'), 50)
    t.teardown(() => clearInterval(hb))
    w.press!()
    await w.expect(/^RELAY OFF BUTTON$/)
    await w.expect(/^BTN BYPASS DOWN$/)
    w.send('RELAY ON')
    await w.expect(/^ERR HELD /)
    t.pass('no RELAY ON while the button is held')
    w.release!()
    await w.expect(/^BTN BYPASS SHORT$/)
    await w.expect(/^BTN BYPASS UP$/)
    w.send('RELAY ON')
    await w.expect(/^RELAY ON HOST$/)
    t.equal(w.bad(), 0, 'every line from the controller was a valid frame')
  },
)
