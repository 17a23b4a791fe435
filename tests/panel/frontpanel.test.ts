import { SerialPort } from 'serialport'
import t, { type Test } from 'tap'
import { startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { FrontPanel, type PanelEvent } from '../../firmware/panel/panel.ts'
import { checksum, decode, encode, LineSplitter } from '../../firmware/panel/protocol.ts'

t.test('frames carry an XOR checksum and bad frames are refused', async (t) => {
  t.equal(encode('HB 1'), `HB 1*${checksum('HB 1')}\n`)
  t.match(decode(`HB 1*${checksum('HB 1')}`), { ok: true, words: ['HB', '1'] })
  t.match(decode(`HB 1*${checksum('HB 1')}\r`), { ok: true })
  t.match(decode(`HB 2*${checksum('HB 1')}`), { ok: false, code: 'CHECKSUM' })
  t.match(decode('HB 1'), { ok: false, code: 'CHECKSUM' })
})

t.test('the line splitter keeps a carry and drops over-long lines whole', async (t) => {
  const s = new LineSplitter(10)
  t.same(s.push('ab'), [])
  t.same(s.push('c\nde\n'), ['abc', 'de'])
  t.same(s.push('x'.repeat(25)), [])
  t.same(s.push('yy\nok\n'), [null, 'ok'])
})

async function rig(t: Test) {
  const dir = t.testdir()
  const pty = await openPtyPair(dir)
  const sim = await startSimulatedPanel({ port: pty.b, timeoutMs: 250 })
  const panel = await FrontPanel.open({ path: pty.a })
  const events: PanelEvent[] = []
  panel.onEvent((e) => events.push(e))
  t.teardown(async () => {
    await panel.close()
    await sim.stop()
    await pty.close()
  })
  return { pty, sim, panel, events }
}
type Rig = Awaited<ReturnType<typeof rig>>

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

t.test('the relay energises only on a live heartbeat and drops when heartbeats stop', async (t) => {
  const { sim, panel }: Rig = await rig(t)
  await until(() => panel.version !== null)
  t.match(panel.version, /SIM-FP 1\.0\.0/, 'controller version known')
  panel.setRelay(true)
  await sim.waitFor((r) => r.event === 'error' && r.code === 'NOHB')
  t.pass('no heartbeat yet: the controller refuses to energise')
  const hb = setInterval(() => panel.heartbeat(), 50)
  panel.heartbeat()
  await new Promise((r) => setTimeout(r, 30))
  panel.setRelay(true)
  await until(() => panel.relay === 'processed')
  t.equal(panel.relay, 'processed')
  const from = sim.reports.length
  clearInterval(hb)
  const drop = await sim.waitFor((r) => r.event === 'relay' && r.state === 'OFF', 2000, from)
  t.equal(drop.reason, 'TIMEOUT', 'the controller says why')
  t.ok((drop.sinceHbMs as number) >= 250 && (drop.sinceHbMs as number) < 400, `dropped ${Math.round(drop.sinceHbMs as number)} ms after the last heartbeat`)
  await until(() => panel.relay === 'bypass')
})

t.test('the bypass button drops the relay in the controller and reports short and long presses', async (t) => {
  const { sim, panel, events }: Rig = await rig(t)
  const hb = setInterval(() => panel.heartbeat(), 50)
  t.teardown(() => clearInterval(hb))
  panel.heartbeat()
  await new Promise((r) => setTimeout(r, 30))
  panel.setRelay(true)
  await until(() => panel.relay === 'processed')
  const from = sim.reports.length
  sim.control('click')
  const drop = await sim.waitFor((r) => r.event === 'relay', 2000, from)
  t.match(drop, { state: 'OFF', reason: 'BUTTON' })
  await until(() => events.some((e) => e.type === 'button' && e.action === 'SHORT'))
  t.ok(
    events.some((e) => e.type === 'button' && e.action === 'DOWN'),
    'DOWN reported',
  )
  sim.control('hold')
  await until(() => events.some((e) => e.type === 'button' && e.action === 'LONG'), 3000)
  t.pass('LONG reported while held')
})

t.test('LED commands are acknowledged and unknown watchdog states send nothing', async (t) => {
  const { sim, panel }: Rig = await rig(t)
  await sim.waitFor((r) => r.event === 'hello')
  await until(() => panel.version !== null)
  panel.setStatusLed('DEGRADED')
  const led = await sim.waitFor((r) => r.event === 'led')
  t.match(led, { color: 'AMBER', pattern: 'SOLID' })
  panel.setStatusLed('NOT-A-STATE')
  panel.setStatusLed('DEGRADED')
  await new Promise((r) => setTimeout(r, 100))
  t.equal(sim.reports.filter((r) => r.event === 'led').length, 1, 'nothing sent for an unknown state or a repeat')
})

t.test('garbage on the wire gets one clear error per line and changes nothing', async (t) => {
  const dir = t.testdir()
  const pty = await openPtyPair(dir)
  const sim = await startSimulatedPanel({ port: pty.b })
  const raw = new SerialPort({ path: pty.a, baudRate: 115200 })
  let rx = ''
  raw.on('data', (c: Buffer) => {
    rx += c.toString('latin1')
  })
  t.teardown(async () => {
    await new Promise<void>((r) => raw.close(() => r()))
    await sim.stop()
    await pty.close()
  })
  await new Promise((r) => raw.once('open', r))
  raw.write('HB 1*00\n')
  raw.write('\x00\x01\xff garbage\n')
  raw.write(`${'X'.repeat(300)}\n`)
  raw.write(encode('FROB 1'))
  raw.write(encode('RELAY SIDEWAYS'))
  raw.write(encode('TIMEOUT 3'))
  await sim.waitFor((r) => r.event === 'error' && r.code === 'ARG' && String(r.text).includes('TIMEOUT'))
  const codes = sim.reports.filter((r) => r.event === 'error').map((r) => r.code)
  t.same(codes, ['CHECKSUM', 'CHECKSUM', 'LONG', 'UNKNOWN', 'ARG', 'ARG'])
  await new Promise((r) => setTimeout(r, 50))
  const errLines = rx.split('\n').filter((l) => l.startsWith('ERR '))
  t.equal(errLines.length, 6, 'one ERR line each on the wire')
  for (const l of errLines) t.ok(decode(l).ok, `ERR line is a valid frame: ${l}`)
  t.equal(sim.reports.filter((r) => r.event === 'relay').length, 0, 'the relay was not touched')
})

t.test('every line of the example session in docs/front-panel-protocol.md is a valid frame', async (t) => {
  const { readFileSync } = await import('node:fs')
  const doc = readFileSync('docs/front-panel-protocol.md', 'utf8')
  const lines = [...doc.matchAll(/^(?:C→H|H→C) {2}(\S[^*\n]*\*[0-9A-F]{2})/gm)].map((m) => m[1]!)
  t.ok(lines.length >= 15, `${lines.length} example lines`)
  for (const l of lines) t.ok(decode(l).ok, l)
})
