// AES67 streams added and removed while the unit runs (docs/aes67.md, "Streams at run time"):
// `firmware run` on a sim board with its audio on the network, bypassed (outputs = inputs). On the
// serial console: a receive stream from a GStreamer sender added to inputs 3-4 and a transmit
// stream of outputs 3-4 to a GStreamer receiver: what the receiver gets is the sender's audio,
// bit-exact, while the profile's stream on inputs/outputs 1-2 plays on untouched; the added
// transmit stream is announced with SAP and deleted on removal; bad arguments are refused with
// nothing changed; added twice; and after a kill -9 and a restart the added streams are back.

import { createSocket } from 'node:dgram'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { SapListener } from '../../firmware/netaudio/sap.ts'
import { provision } from '../../provisioning/provision.ts'
import { call } from '../api/helpers.ts'
import { ask, askUntil, openClient } from '../console/harness.ts'
import { simProfileIn, startRun } from '../store/run-helpers.ts'
import { exactRuns, gstReceiver, gstSender, readWav24, writeNoiseWav24 } from './peers.ts'

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function freeTcpPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

type Row = Record<string, string>

/** `OK aes67 list 1.stream=rx1 1.origin=profile ...` as rows. */
function rows(reply: string): Row[] {
  if (!reply.startsWith('OK aes67 list')) throw new Error(`not a list: ${reply}`)
  const out: Row[] = []
  for (const tok of reply.slice('OK aes67 list'.length).trim().split(' ')) {
    const m = /^(\d+)\.(\w+)=(.*)$/.exec(tok)
    if (!m) continue
    const k = Number(m[1]) - 1
    out[k] ??= {}
    ;(out[k] as Row)[m[2] as string] = m[3] as string
  }
  return out
}

const names = (reply: string) => rows(reply).map((r) => `${r.stream}:${r.origin}`)
const packets = (reply: string, name: string) => Number(rows(reply).find((r) => r.stream === name)?.packets ?? 0)

t.test('streams added and removed at run time on the console: they play bit-exact, SAP says so, bad ones are refused, they survive a restart', async (t) => {
  const dir = t.testdir({})
  const { file, dataDir } = simProfileIn(dir)
  // Provisioned, so the API serves (an admin's certificate) and the console starts read-only (PIN).
  const prov = await provision({ dataDir, bundlesOut: join(dir, 'crew'), clients: [{ name: 'tech', role: 'admin' }] })
  const admin = prov.bundles[0]
  if (!admin) throw new Error('no admin bundle')
  const creds = { cert: readFileSync(admin.certFile, 'utf8'), key: readFileSync(admin.keyFile, 'utf8'), ca: readFileSync(prov.caFile, 'utf8') }
  const apiPort = await freeTcpPort()
  const out1 = await gstReceiver(join(dir, 'out1.wav'), 2)
  t.teardown(() => out1.child.kill('SIGKILL'))
  const inPort = await freeUdpPort()
  const bandPort = await freeUdpPort()
  const sapPort = await freeUdpPort()
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  profile.audio.backend = 'aes67'
  profile.api = { ...profile.api, port: apiPort }
  delete profile.audio.sim
  profile.audio.aes67 = {
    rx: [{ port: inPort, channels: 2, linkOffsetMs: 50, firstChannel: 0 }],
    tx: [{ address: '127.0.0.1', port: out1.port, channels: 2, firstChannel: 0 }],
    rxSlots: 2,
    txSlots: 3,
    sapPort,
    sessionName: 'rt-test',
    deadMs: 2000,
  }
  writeFileSync(file, JSON.stringify(profile))
  const mainWav = join(dir, 'main.wav')
  const bandWav = join(dir, 'band.wav')
  writeNoiseWav24(mainWav, 48000 * 30, 2, 81)
  const bandSent = writeNoiseWav24(bandWav, 48000 * 30, 2, 82)
  const mainSent = readWav24(mainWav).samples
  // The profile's input plays before the unit starts (else it boots with a dead input).
  const probe = createSocket('udp4')
  await new Promise<void>((r) => probe.bind(inPort, '127.0.0.1', r))
  const main = gstSender(mainWav, 2, inPort)
  t.teardown(() => main.child.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no packet from gst in 8 s: ${main.log()}`)), 8000)
    probe.once('message', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  await new Promise<void>((r) => probe.close(() => r()))
  const band = gstSender(bandWav, 2, bandPort)
  t.teardown(() => band.child.kill('SIGKILL'))
  const out2 = await gstReceiver(join(dir, 'out2.wav'), 2)
  t.teardown(() => out2.child.kill('SIGKILL'))
  const sap = new SapListener()
  await sap.start(sapPort)
  t.teardown(() => sap.close())

  let run = startRun(file, 60)
  t.teardown(() => run.child.kill('SIGKILL'))
  const connect = async () => {
    const m = await run.waitOut(/links console (\S+)/, 30000)
    const c = await openClient(m[1] as string)
    t.teardown(() => c.close())
    await c.send('\r\n')
    for (let i = 0; !/^OK console/.test(await ask(c, 'console machine').catch(() => '')); i++) if (i > 3) throw new Error('no console')
    t.match(await ask(c, `login ${prov.pin}`), /^OK login/, 'login with the PIN (admin)')
    return c
  }
  let c = await connect()
  t.match(await ask(c, 'bypass on'), /^OK bypass /, 'bypass on: the outputs are the inputs')
  await askUntil(c, 'aes67 list', (r) => packets(r, 'rx1') > 200, 8000)

  // Added on the console: a source of inputs 3-4 and a stream of outputs 3-4.
  t.match(
    await ask(c, `aes67 rx add any ${bandPort} 2 3 1 50 name=band`),
    /^OK aes67 rx add .*stream=band .*origin=added/,
    'aes67 rx add: a receive stream on inputs 3-4',
  )
  t.match(
    await ask(c, `aes67 tx add 127.0.0.1 ${out2.port} 2 3 name=rec`),
    /^OK aes67 tx add .*stream=rec .*origin=added/,
    'aes67 tx add: a transmit stream of outputs 3-4',
  )
  const flowing = await askUntil(c, 'aes67 list', (r) => packets(r, 'band') > 300 && packets(r, 'rec') > 300, 8000)
  t.same(
    names(flowing),
    ['rx1:profile', 'band:added', 'tx1:profile', 'rec:added'],
    'aes67 list: the profile’s streams and the added ones, each with where it came from',
  )
  t.ok(packets(flowing, 'band') > 300 && packets(flowing, 'rec') > 300, `the added streams carry packets: ${flowing.slice(0, 300)}`)
  const announced = async (want: boolean) => {
    const end = Date.now() + 3000
    while (sap.list().some((a) => a.stream.name === 'rt-test rec') !== want && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    return sap.list().some((a) => a.stream.name === 'rt-test rec')
  }
  t.ok(await announced(true), 'the added transmit stream is announced with SAP')

  // Refused, and nothing changed.
  const before = names(await ask(c, 'aes67 list'))
  const refusals: Array<[string, RegExp, string]> = [
    [`aes67 rx add any ${bandPort} 2 5 name=band`, /^ERR FW_ERR_AES67_STREAM .*band exists/, 'a duplicate name'],
    [`aes67 rx add any ${bandPort} 2 5 name=other`, /^ERR FW_ERR_AES67_STREAM .*port \d+ is in use by band/, 'a port in use'],
    [`aes67 rx add any ${await freeUdpPort()} 2 5 name=other`, /^ERR FW_ERR_AES67_STREAM .*no free receive stream slot/, 'no free slot (rxSlots 2)'],
    ['aes67 rx add any 40000 2 8 name=other', /^ERR FW_ERR_BAD_ARG .*input: must be/, 'channels outside the engine’s inputs'],
    ['aes67 rx add 300.1.2.3 40000 name=other', /^ERR FW_ERR_BAD_ARG .*address: must be an IPv4 address/, 'a bad address'],
    ['aes67 tx add 127.0.0.1 0 name=other', /^ERR FW_ERR_BAD_ARG .*port/, 'a bad port'],
    [`aes67 rx add any ${await freeUdpPort()} 4 3 2 name=other`, /^ERR FW_ERR_AES67_STREAM .*overlap band/, 'inputs overlapping another stream’s'],
    ['aes67 rx remove rx1', /^ERR FW_ERR_AES67_STATIC .*board profile/, 'a profile stream is not removed at run time'],
    ['aes67 tx remove nosuch', /^ERR FW_ERR_AES67_STREAM .*no transmit stream "nosuch"/, 'no such stream'],
  ]
  for (const [line, re, what] of refusals) t.match(await ask(c, line), re, `refused: ${what}`)
  t.same(names(await ask(c, 'aes67 list')), before, 'the refusals changed nothing')

  // About 1.5 s of the added streams, then both removed.
  await new Promise((r) => setTimeout(r, 1500))
  t.match(await ask(c, 'aes67 tx remove rec'), /^OK aes67 tx remove .*removed=on/, 'aes67 tx remove')
  t.match(await ask(c, 'aes67 rx remove band'), /^OK aes67 rx remove .*removed=on/, 'aes67 rx remove')
  t.same(names(await ask(c, 'aes67 list')), ['rx1:profile', 'tx1:profile'], 'only the profile’s streams are left')
  t.notOk(await announced(false), 'a SAP deletion withdrew the removed stream')
  await out2.stop()
  const got2 = readWav24(join(dir, 'out2.wav')).samples
  const runs2 = exactRuns(got2, bandSent, 2, 4800)
  const exact2 = runs2.reduce((n, r) => n + r.frames, 0) / 48000
  t.ok(
    exact2 >= 1,
    `the added input came out of the added output bit-exact over ${exact2.toFixed(2)} s (of ${(got2.length / 96000).toFixed(2)} s received) in ${runs2.length} stretch(es)`,
  )

  // Twice more, the console and the API at the same time.
  const api = (path: string, body: object) => call(apiPort, creds, 'POST', path, body)
  for (let i = 0; i < 2; i++) {
    const [rxAdd, txAdd] = await Promise.all([
      ask(c, `aes67 rx add any ${bandPort} 2 3 name=band`),
      api('/api/aes67/tx/add', { address: '127.0.0.1', port: 9, channels: 2, output: 3, name: 'rec' }),
    ])
    t.match(rxAdd, /^OK /, `rx added again on the console (${i + 1})`)
    t.equal(txAdd.status, 200, `tx added again through the API at the same time (${i + 1}): ${txAdd.text.slice(0, 200)}`)
    await askUntil(c, 'aes67 list', (r) => packets(r, 'band') > 50, 4000)
    if (i === 1) break
    const [rxRemove, txRemove] = await Promise.all([ask(c, 'aes67 rx remove band'), api('/api/aes67/tx/remove', { stream: 'rec' })])
    t.match(rxRemove, /^OK /, `rx removed again on the console (${i + 1})`)
    t.equal(txRemove.status, 200, `tx removed again through the API at the same time (${i + 1})`)
  }
  // The same name from both at once: one is added, the other refused.
  const [dupConsole, dupApi] = await Promise.all([
    ask(c, 'aes67 tx add 127.0.0.1 13 2 1 name=twin'),
    api('/api/aes67/tx/add', { address: '127.0.0.1', port: 11, channels: 2, output: 1, name: 'twin' }),
  ])
  const oks = [/^OK /.test(dupConsole), dupApi.status === 200].filter(Boolean).length
  if (dupApi.status !== 200) t.equal(dupApi.status, 409, 'the API answers a refused stream with 409 Conflict')
  t.equal(oks, 1, `one name added from the console and the API at once: one is added (${dupConsole.slice(0, 60)} / ${dupApi.status})`)
  t.ok(/FW_ERR_AES67_STREAM/.test(dupConsole) || dupApi.json?.code === 'FW_ERR_AES67_STREAM', 'the other is refused: a duplicate name')
  // The same remove from both at once: the fade runs with the event loop free, so the second
  // arrives while the first is under way: one removes it, the other is refused.
  const [rmConsole, rmApi] = await Promise.all([ask(c, 'aes67 tx remove twin'), api('/api/aes67/tx/remove', { stream: 'twin' })])
  t.equal([/^OK /.test(rmConsole), rmApi.status === 200].filter(Boolean).length, 1, `removed once (${rmConsole.slice(0, 60)} / ${rmApi.status})`)
  t.ok(/FW_ERR_AES67_STREAM/.test(rmConsole) || rmApi.json?.code === 'FW_ERR_AES67_STREAM', 'the other is refused: being removed, or no such stream')
  t.notMatch(await ask(c, 'aes67 list'), /"twin"|=twin /, 'and it is gone')
  // The profile's stream played on through all of it: what reached its receiver is its sender's audio.
  await out1.stop()
  const got1 = readWav24(join(dir, 'out1.wav')).samples
  const runs1 = exactRuns(got1, mainSent, 2, 4800)
  const exact1 = runs1.reduce((n, r) => n + r.frames, 0)
  // From the first bit-exact frame on (before it the unit was not bypassed yet) to the end.
  const since = got1.length / 2 - (runs1[0]?.from ?? 0)
  t.ok(
    exact1 >= 0.9 * since && exact1 > 48000,
    `the profile’s stream stayed bit-exact across the adds and removes: ${(exact1 / 48000).toFixed(2)} of ${(since / 48000).toFixed(2)} s since bypass in ${runs1.length} stretch(es) (a break would be a click, or a late GStreamer packet on a loaded machine)`,
  )

  // kill -9 and a restart: the added streams are back.
  run.child.kill('SIGKILL')
  await run.exited
  await c.close()
  run = startRun(file, 60)
  c = await connect()
  const back = await askUntil(c, 'aes67 list', (r) => packets(r, 'band') > 50, 8000)
  t.same(names(back), ['rx1:profile', 'band:added', 'tx1:profile', 'rec:added'], 'after a restart the added streams are back')
  t.ok(packets(back, 'band') > 50, 'and the added receive stream plays again')
  t.ok(statSync(join(dir, 'data', 'aes67-streams.json')).size > 0, 'they are kept in the data directory')
})
