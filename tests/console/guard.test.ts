// Guard rails on the console: the optional PIN (a scrypt hash in <dataDir>/console-pin, written at
// provisioning) guards operate and admin commands; destructive commands need a confirm token.

import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { hashPin } from '../../firmware/secrets/secrets.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { startRig, stopRig } from './harness.ts'

async function withPin(dir: string, pin: string): Promise<void> {
  writeFileSync(join(dir, 'console-pin'), `${await hashPin(pin)}\n`, { mode: 0o600 })
}

t.test('with a PIN set, observe works and operate/admin need login', async (t) => {
  const dir = t.testdir()
  await withPin(dir, '482913')
  const app = new FakeAppliance({ hooks: true })
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('status'), /^OK status /, 'status needs no PIN')
  t.equal(await rig.ask('bypass on'), 'ERR FW_ERR_PERMISSION bypass needs operate rights; you have observe; log in with: login <PIN>')
  t.equal(app.state, 'ACTIVE', 'no bypass without the PIN')
  t.equal(await rig.ask('login 000000'), 'ERR FW_ERR_PIN wrong PIN; 2 tries left before a lockout')
  t.equal(await rig.ask('login 482913'), 'OK login permission=admin')
  t.equal(await rig.ask('bypass on'), 'OK bypass bypass=on state=MANUAL_BYPASS relay=bypass')
  t.equal(await rig.ask('logout'), 'OK logout permission=observe')
  t.match(await rig.ask('bypass off'), /^ERR FW_ERR_PERMISSION /)
  t.equal(app.state, 'MANUAL_BYPASS', 'logged out: the latch stays')
})

t.test('three wrong PINs lock login out, even for the right PIN', async (t) => {
  const dir = t.testdir()
  await withPin(dir, '111111')
  const app = new FakeAppliance()
  const rig = await startRig(app, dir, { mode: 'machine', pinLockout: { tries: 3, ms: 800 } })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('login 1'), /wrong PIN; 2 tries left/)
  t.match(await rig.ask('login 2'), /wrong PIN; 1 try left/)
  t.equal(await rig.ask('login 3'), 'ERR FW_ERR_PIN wrong PIN; login is locked for 1 s')
  t.match(await rig.ask('login 111111'), /^ERR FW_ERR_PIN too many wrong PINs; try again in 1 s$/)
  await new Promise((r) => setTimeout(r, 900))
  t.equal(await rig.ask('login 111111'), 'OK login permission=admin', 'after the lockout the right PIN works')
})

t.test('a PIN file that cannot be used keeps operate locked and says why', async (t) => {
  const dir = t.testdir({ 'console-pin': 'not a hash\n' })
  chmodSync(join(dir, 'console-pin'), 0o600)
  const app = new FakeAppliance()
  const rig = await startRig(app, dir, { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('login 123456'), /^ERR FW_ERR_PIN the console PIN file cannot be used \(not a scrypt PIN hash\); operate and admin stay locked/)
  t.match(await rig.ask('gain 1 -3'), /^ERR FW_ERR_PERMISSION /)
  t.same(app.calls, [])
})

t.test('in human mode the PIN is typed masked and never enters the history', async (t) => {
  const dir = t.testdir()
  await withPin(dir, '246810')
  const app = new FakeAppliance()
  const rig = await startRig(app, dir)
  t.teardown(() => stopRig(rig))
  const { client } = rig
  await client.waitRaw(/sim> $/)
  client.clear()
  await client.send('login\r')
  await client.waitRaw(/PIN: $/)
  await client.send('246810\r')
  const screen = await client.waitRaw(/sim# $/)
  t.match(screen, /PIN: \*\*\*\*\*\*\r\npermission: admin\r\nsim# $/, 'masked, and the prompt shows # when logged in')
  t.notMatch(screen, /246810/, 'the PIN never appears on screen')
  client.clear()
  await client.send('history\r')
  t.notMatch(await client.waitRaw(/sim# $/), /246810|login/, 'not in the history')
})

t.test('without a PIN file the console has admin rights (unprovisioned bench unit)', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.equal(await rig.ask('login 1234'), 'OK login permission=admin note="no PIN is set on this unit"')
  t.match(
    await rig.ask('reboot'),
    /^ERR FW_ERR_CONFIRM_REQUIRED reboot is destructive .* send: reboot confirm=[A-Z2-9]{4}$/,
    'destructive still needs the token',
  )
  t.match(await rig.ask('factory-reset'), /^ERR FW_ERR_CONFIRM_REQUIRED /, 'an admin-only destructive command reaches its confirm step')
})
