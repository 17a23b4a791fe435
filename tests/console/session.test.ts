// The console's session commands are command specs scoped to the console (house issue, item 2):
// help lists them from their specs (machine and human mode), they refuse bad input with a clear
// code and change nothing, the API cannot reach them, and the PIN a tech types never reaches the
// registry's execution records (what the audit logs are made of). Over a real socat PTY.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createRegistry, type ExecutionRecord, machineScalar, usage } from '../../firmware/commands/index.ts'
import { SESSION_COMMANDS } from '../../firmware/console/index.ts'
import { hashPin } from '../../firmware/secrets/secrets.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { startRig, stopRig } from './harness.ts'

t.test('machine-mode help lists the session commands after the appliance ones, from their specs', async (t) => {
  const rig = await startRig(new FakeAppliance(), t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const help = await rig.ask('help')
  for (const s of SESSION_COMMANDS) {
    const u = machineScalar(usage(s)).replace(/[|<>.*+?^${}()[\]\\]/g, '\\$&')
    t.match(
      help,
      new RegExp(`(\\d+)\\.command=${s.name} \\1\\.usage=${u} \\1\\.permission=observe \\1\\.summary="[^"]+" \\1\\.scope=console`),
      `${s.name} is listed`,
    )
  }
  t.match(
    await rig.ask('help subscribe'),
    /^OK help 1\.command=subscribe 1\.usage=subscribe 1\.summary="start event lines: state, meters\[=HZ\]/,
    'help <session command> describes it',
  )
})

t.test('bad input to the session commands answers FW_ERR_BAD_ARG and changes nothing', async (t) => {
  const rig = await startRig(new FakeAppliance(), t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.equal(await rig.ask('subscribe state'), 'OK subscribe state=on meters=off doa=off panel=off recommendations=off changes=off')
  for (const [line, said] of [
    ['console loud', 'console takes human or machine; e.g. console machine'],
    ['console human machine', 'console takes human or machine; e.g. console machine'],
    [
      'subscribe weather',
      'subscribe: unknown topic "weather"; topics: state, meters[=HZ], doa, panel, recommendations, changes, all; e.g. subscribe state meters=2',
    ],
    ['subscribe meters=21', 'subscribe: the meters rate must be 0.1 to 20 per second, got "21"; e.g. subscribe meters=2'],
    ['subscribe meters=0.09', 'subscribe: the meters rate must be 0.1 to 20 per second, got "0.09"; e.g. subscribe meters=2'],
    [
      'subscribe state=2',
      'subscribe: unknown topic "state=2"; topics: state, meters[=HZ], doa, panel, recommendations, changes, all; e.g. subscribe state meters=2',
    ],
    ['unsubscribe weather', 'unsubscribe: unknown topic "weather"; topics: state, meters, doa, panel, recommendations, changes, all'],
    ['login', 'login takes the PIN: login <PIN>; e.g. login 123456'],
    ['login 1 2', 'login takes the PIN: login <PIN>; e.g. login 123456'],
  ])
    t.equal(await rig.ask(line!), `ERR FW_ERR_BAD_ARG ${said}`, line!)
  t.equal(await rig.ask('console'), 'OK console mode=machine', 'the mode did not change')
  t.equal(
    await rig.ask('subscribe meters=20'),
    'OK subscribe state=on meters=20 doa=off panel=off recommendations=off changes=off',
    'the subscriptions did not change; 20 per second is the edge',
  )
  t.equal(await rig.ask('unsubscribe'), 'OK unsubscribe state=off meters=off doa=off panel=off recommendations=off changes=off')
})

t.test('the API and OSC do not have the session commands', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const rig = await startRig(new FakeAppliance(), t.testdir(), { mode: 'machine', registry: reg })
  t.teardown(() => stopRig(rig))
  for (const transport of ['api', 'osc']) {
    for (const s of SESSION_COMMANDS) {
      const r = await reg.executeLine(s.examples[0]!, { name: `${transport}:x`, permission: 'admin', transport })
      t.match(r, { ok: false, code: 'FW_ERR_UNKNOWN_COMMAND' }, `${transport}: ${s.examples[0]}`)
    }
    const help = await reg.executeLine('help', { name: `${transport}:x`, permission: 'observe', transport })
    t.notMatch(JSON.stringify(help), /"scope"|"command":"logout"/, `${transport}: help does not list them`)
  }
})

t.test('the PIN never reaches the execution records (typed inline, or masked in human mode)', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'console-pin'), `${await hashPin('583920')}\n`, { mode: 0o600 })
  const reg = createRegistry(new FakeAppliance())
  const seen: ExecutionRecord[] = []
  reg.onExecuted((r) => seen.push(r))
  const rig = await startRig(new FakeAppliance(), dir, { mode: 'machine', registry: reg })
  t.teardown(() => stopRig(rig))
  t.equal(await rig.ask('login 111111'), 'ERR FW_ERR_PIN wrong PIN; 2 tries left before a lockout')
  t.equal(await rig.ask('login 583920'), 'OK login permission=admin')
  t.equal(await rig.ask('logout'), 'OK logout permission=observe')
  await rig.client.send('console human\r')
  await rig.client.waitRaw(/mode: human\r\nsim> $/)
  rig.client.clear()
  await rig.client.send('login\r')
  await rig.client.waitRaw(/PIN: $/)
  await rig.client.send('583920\r')
  await rig.client.waitRaw(/permission: admin\r\nsim# $/)
  const logins = seen.filter((r) => r.command === 'login')
  // wrong PIN, right PIN, then in human mode: `login` (asks for the PIN), the PIN
  t.same(
    logins.map((r) => [r.ok, r.code ?? null, r.mutates]),
    [
      [false, 'FW_ERR_PIN', false],
      [true, null, false],
      [true, null, false],
      [true, null, false],
    ],
    'each login is recorded, as not changing state',
  )
  t.notMatch(JSON.stringify(seen), /111111|583920/, 'no PIN in any record')
})

t.test('human-mode help: the session commands in one generated line, commands whose owner is not running marked', async (t) => {
  const rig = await startRig(new FakeAppliance(), t.testdir())
  t.teardown(() => stopRig(rig))
  await rig.client.waitRaw(/sim> $/)
  rig.client.clear()
  await rig.client.send('help\r')
  const help = await rig.client.waitRaw(/Type "help <command>" for its arguments and examples\.\r\nsim> $/)
  t.match(help, /\r\nConsole: console human\|machine, subscribe, unsubscribe, login <PIN>, logout, history\.\r\n/, 'from the session specs, in their order')
  t.match(help, / {2}preset load\s+load a named preset \(operate\) \[not available: the store is not running\]\r\n/)
  t.match(help, / {2}model list\s+the installed models and which is active \[not available: inference is not running\]\r\n/)
  t.notMatch(help, /^ {2}(console|subscribe|login|logout|history)\s/m, 'the session commands are not also in the table')
  rig.client.clear()
  await rig.client.send('help preset load\r')
  t.match(
    await rig.client.waitRaw(/sim> $/),
    /preset load\r\n {2}load a named preset\. Needs operate rights\.\r\n {2}Not available: the store is not running on this unit\.\r\n/,
  )
})
