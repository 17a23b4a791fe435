// The simulated front-panel controller, as its own process on one end of a PTY pair:
//
//   node board/sim/frontpanel.ts --port /dev/pts/N [--baud 115200] [--timeout 250] [--parent PID]
//
// It speaks docs/front-panel-protocol.md on the port (opened with serialport, like a real UART).
// Control input on stdin, one word a line (the "hands" of a person at the panel):
//   press | release | click (press, release after 100 ms) | hold (press, release after 2 s) |
//   status | reset-gaps (heartbeat gap statistics) | quit
// What happens is reported on stdout as JSON lines: {"t":ms,"event":"relay","state":"OFF",...}.
// With --parent it exits (relay off, as at power-down) a second after that process is gone.

import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { SerialPort } from 'serialport'
import { LineSplitter } from '../../firmware/panel/protocol.ts'
import { FrontPanelController } from './frontpanel-controller.ts'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const portPath = arg('port')
if (!portPath) {
  console.error('frontpanel: --port PATH is required (one end of a socat PTY pair)')
  process.exit(2)
}
const baudRate = Number(arg('baud') ?? 115200)
const timeoutMs = Number(arg('timeout') ?? 250)
const parentPid = arg('parent') ? Number(arg('parent')) : null

const t0 = performance.now()
const out = (r: object) => process.stdout.write(`${JSON.stringify(r)}\n`)
const port = new SerialPort({ path: portPath, baudRate, autoOpen: false })
const controller = new FrontPanelController({
  now: () => performance.now() - t0,
  send: (line) => {
    if (port.isOpen) port.write(line)
  },
  // t: ms since the controller started; wall: ms since the epoch on the same monotonic basis the
  // firmware stamps its transitions with (performance.timeOrigin + now), to compare across processes.
  report: (r) => out({ t: Math.round((performance.now() - t0) * 10) / 10, wall: performance.timeOrigin + performance.now(), ...r }),
})
controller.timeoutMs = timeoutMs

const splitter = new LineSplitter()
port.on('data', (chunk: Buffer) => {
  for (const line of splitter.push(chunk)) controller.onLine(line)
})
port.on('error', (e) => out({ t: performance.now() - t0, event: 'port-error', message: e.message }))

let stopping = false
function stop(code: number): void {
  if (stopping) return
  stopping = true
  controller.stop()
  // Power-down: the relay de-energises.
  out({ t: performance.now() - t0, event: 'exit', relay: 'OFF' })
  const done = () => process.exit(code)
  if (port.isOpen) port.close(() => done())
  else done()
  setTimeout(done, 500).unref()
}
process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))

port.open((err) => {
  if (err) {
    out({ t: 0, event: 'port-error', message: err.message })
    process.exit(1)
  }
  controller.start()
})

const rl = createInterface({ input: process.stdin })
rl.on('line', (l) => {
  const cmd = l.trim()
  switch (cmd) {
    case 'press':
      controller.press()
      break
    case 'release':
      controller.release()
      break
    case 'click':
      controller.press()
      setTimeout(() => controller.release(), 100)
      break
    case 'hold':
      controller.press()
      setTimeout(() => controller.release(), 2000)
      break
    case 'status':
      out({ t: performance.now() - t0, event: 'status', ...controller.status() })
      break
    case 'reset-gaps':
      controller.hbGaps = { count: 0, max: 0, over: new Map() }
      out({ t: performance.now() - t0, event: 'gaps-reset' })
      break
    case 'quit':
      stop(0)
      break
    case '':
      break
    default:
      out({
        t: performance.now() - t0,
        event: 'control-error',
        message: `unknown control "${cmd.slice(0, 20)}"; use press|release|click|hold|status|reset-gaps|quit`,
      })
  }
})

if (parentPid !== null) {
  const watch = setInterval(() => {
    try {
      process.kill(parentPid, 0)
    } catch {
      clearInterval(watch)
      setTimeout(() => stop(0), 1000)
    }
  }, 250)
}
