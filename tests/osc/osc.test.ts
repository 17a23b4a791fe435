import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { decodePacket, encodeMessage } from '../../firmware/osc/codec.ts'
import { mapMessage, type OscHandle, startOsc } from '../../firmware/osc/server.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { oscsend, until } from './helpers.ts'

/** The real Appliance on the sim board, stopped with the test. */
async function bootSim(t: { teardown(fn: () => unknown): void; testdir(): string }): Promise<ApplianceApi> {
  const run = await startAppliance({ ...loadProfile('sim'), dataDir: t.testdir() }, { services: [] })
  t.teardown(() => run.stop())
  return run.app
}

function manualBypasses(app: ApplianceApi): number {
  return app.faults(1000).filter((f) => f.cause.startsWith('manual')).length
}

// oscsend always sends from 127.0.0.1 on loopback; to send from 127.0.0.2 its datagrams go through a
// socat relay that re-sends each one from a socket bound to 127.0.0.2.
async function relayFrom(t: { teardown(fn: () => void): void }, source: string, target: number): Promise<number> {
  const probe = createSocket('udp4')
  const port = await new Promise<number>((resolve) => probe.bind(0, '127.0.0.1', () => resolve(probe.address().port)))
  await new Promise<void>((r) => probe.close(() => r()))
  const socat: ChildProcess = spawn('socat', ['-u', `UDP4-RECV:${port},bind=127.0.0.1`, `UDP4-SENDTO:127.0.0.1:${target},bind=${source}`], { stdio: 'ignore' })
  t.teardown(() => {
    socat.kill()
  })
  await new Promise((r) => setTimeout(r, 200))
  return port
}

t.test('OSC is off by default: nothing listens', async (t) => {
  const app = new FakeAppliance()
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), {})
  t.equal(h.enabled, false)
  t.equal(h.port, 0)
  await h.stop()
})

t.test('oscsend from an allowed address changes the gain, steers and bypasses', async (t) => {
  const app = await bootSim(t)
  const auditFile = join(t.testdir(), 'osc-audit.jsonl')
  const h: OscHandle = await startOsc(app, createRegistry(app), loadProfile('sim'), {
    enabled: true,
    port: 0,
    host: '127.0.0.1',
    allow: ['127.0.0.1'],
    auditFile,
  })
  t.teardown(() => h.stop())
  t.equal(await oscsend(h.port, '/output/2/gain', 'f', '-12.5'), 0)
  await until(() => app.outputSettings()[1]!.gainDb === -12.5, 'the gain')
  t.equal(app.outputSettings()[1]!.gainDb, -12.5)
  await oscsend(h.port, '/beam/1/steer', 'ff', '135', '10')
  await until(() => app.beams()[0]!.azimuth === 135, 'the steer')
  t.same({ az: app.beams()[0]!.azimuth, el: app.beams()[0]!.elevation, auto: app.beams()[0]!.auto }, { az: 135, el: 10, auto: false })
  await oscsend(h.port, '/bypass', 'i', '1')
  await until(() => app.status().state === 'MANUAL_BYPASS', 'the bypass')
  const last = app.faults(1000).find((f) => f.to === 'MANUAL_BYPASS')
  t.match(last?.evidence, /osc:127\.0\.0\.1/, 'the transition names the OSC source')
  await oscsend(h.port, '/bypass', 'F')
  await until(() => app.status().state !== 'MANUAL_BYPASS', 'the release').catch((e: Error) => {
    throw new Error(`${e.message}; osc ${JSON.stringify(h.stats())}; faults ${JSON.stringify(app.faults(6).map((f) => [f.from, f.to, f.cause, f.evidence]))}`)
  })
  t.equal(h.stats().refusedSource, 0)
  const lines = (): string[] => readFileSync(auditFile, 'utf8').trim().split('\n')
  await until(() => lines().length >= 4, 'four audit lines')
  const audit = lines().map((l) => JSON.parse(l))
  t.same(
    audit.map((e) => [e.method, e.path, e.command, e.remote, e.result]).slice(0, 4),
    [
      ['OSC', '/output/2/gain', 'gain', '127.0.0.1', 'ok'],
      ['OSC', '/beam/1/steer', 'beam steer', '127.0.0.1', 'ok'],
      ['OSC', '/bypass', 'bypass', '127.0.0.1', 'ok'],
      ['OSC', '/bypass', 'bypass', '127.0.0.1', 'ok'],
    ],
    'every OSC change is audited with its source',
  )
})

t.test('oscsend from a disallowed address (127.0.0.2) changes nothing', async (t) => {
  const app = await bootSim(t)
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), { enabled: true, port: 0, host: '0.0.0.0', allow: ['127.0.0.1'] })
  t.teardown(() => h.stop())
  const relay = await relayFrom(t, '127.0.0.2', h.port)
  const before = JSON.stringify(app.outputSettings())
  t.equal(await oscsend(relay, '/output/1/gain', 'f', '-30'), 0)
  t.equal(await oscsend(relay, '/bypass', 'i', '1'), 0)
  await until(() => h.stats().refusedSource >= 2, 'the refusals')
  t.equal(JSON.stringify(app.outputSettings()), before, 'outputs unchanged')
  t.equal(manualBypasses(app), 0, 'no bypass')
  t.equal(h.stats().accepted, 0)
})

t.test('the allow-list decides, not the transport: allow 127.0.0.2 and refuse 127.0.0.1', async (t) => {
  const app = await bootSim(t)
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), { enabled: true, port: 0, host: '0.0.0.0', allow: ['127.0.0.2/32'] })
  t.teardown(() => h.stop())
  const relay = await relayFrom(t, '127.0.0.2', h.port)
  await oscsend(h.port, '/output/3/gain', 'f', '-40')
  await until(() => h.stats().refusedSource >= 1, 'the refusal of 127.0.0.1')
  await oscsend(relay, '/output/3/gain', 'f', '-4')
  await until(() => app.outputSettings()[2]!.gainDb === -4, 'the gain from 127.0.0.2')
  t.equal(app.outputSettings()[2]!.gainDb, -4)
})

t.test('destructive and admin commands, unknown addresses and garbage are refused with a reply', async (t) => {
  const app = await bootSim(t)
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), { enabled: true, port: 0, host: '127.0.0.1', allow: ['127.0.0.1'] })
  t.teardown(() => h.stop())
  const client = createSocket('udp4')
  t.teardown(() => client.close())
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()))
  const replies: string[] = []
  client.on('message', (m) => {
    const [msg] = decodePacket(m)
    replies.push(`${msg!.address} ${msg!.args.join(' ')}`)
  })
  const send = (b: Buffer): void => {
    client.send(b, h.port, '127.0.0.1')
  }
  send(encodeMessage('/reboot', []))
  send(encodeMessage('/factory-reset', []))
  send(encodeMessage('/output/1/gain', ['loud'], 's'))
  send(encodeMessage('/output/1/gain', [99], 'f'))
  send(Buffer.from('garbage!'))
  send(encodeMessage('/status', []))
  await until(() => replies.length >= 6, 'six replies')
  t.equal(replies.filter((r) => r.startsWith('/error')).length, 5)
  t.ok(
    replies.some((r) => /FW_ERR_BAD_ARG .*db/.test(r)),
    `out-of-range gain names the field: ${replies.join(' | ')}`,
  )
  t.ok(
    replies.some((r) => /^\/status [A-Z_]+ (processed|bypass|unknown)/.test(r)),
    'status replies state and relay',
  )
  t.equal(app.outputSettings()[0]!.gainDb, 0)
  t.ok(app.status().uptimeS >= 0, 'still running')
})

t.test('the address space maps only onto non-destructive registry commands', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  for (const [addr, args] of [
    ['/bypass', [1]],
    ['/beam/2/steer', [10]],
    ['/beam/2/auto', [true]],
    ['/output/1/gain', [-3]],
    ['/input/1/trim', [2]],
    ['/preset/load', ['show']],
    ['/status', []],
  ] as const) {
    const m = mapMessage({ address: addr, types: '', args: [...args] })
    t.type(m, 'object', addr)
    const spec = reg.get((m as { command: string }).command)
    t.ok(spec, `${addr} names a registry command`)
    t.notOk(spec!.destructive, `${addr} is not destructive`)
    t.not(spec!.permission, 'admin')
  }
})

t.test('a burst of fader moves is handled in order, none lost', async (t) => {
  const app = new FakeAppliance()
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), { enabled: true, port: 0, host: '127.0.0.1', allow: ['127.0.0.1'], replies: false })
  t.teardown(() => h.stop())
  const client = createSocket('udp4')
  t.teardown(() => client.close())
  for (let i = 1; i <= 40; i++) client.send(encodeMessage('/output/1/gain', [-i], 'f'), h.port, '127.0.0.1')
  await until(() => h.stats().accepted === 40, '40 accepted messages')
  t.equal(h.stats().accepted, 40)
  t.equal(app.outputs[0]!.gainDb, -40, 'the last move wins')
  const gains = app.calls.filter((c) => c.startsWith('gain 0 ')).map((c) => Number(c.split(' ')[2]))
  t.same(
    gains,
    Array.from({ length: 40 }, (_, k) => -(k + 1)),
    'in the order sent',
  )
})
