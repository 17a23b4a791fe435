// Issue 10 item 5: the preset-name rule that `help` shows and the one the FW_ERR_BAD_ARG message
// states are one rule, derived from the same spec, and it is the rule the unit applies. Asked the
// way a control system asks: through the serial console (a real socat PTY) of the whole
// `firmware run` stack (store included) on the sim board, and of a unit whose store is not up.
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { openClient, startRig, stopRig } from './harness.ts'

/** The rule as help states it, and as the error for a bad name states it. */
async function rules(ask: (l: string) => Promise<string>, cmd: string): Promise<{ help: string; error: string }> {
  const help = await ask(`help ${cmd}`)
  const q = /1\.args\.1\.help="((?:[^"\\]|\\.)*)"/.exec(help)
  const h = q ? /^preset name: (.*)$/.exec(q[1]!.replace(/\\(.)/g, '$1')) : null
  const err = await ask(`${cmd} bad.name!`)
  const e = /^ERR FW_ERR_BAD_ARG [^:]+: name must be (?:a name of )?(.*?), got "bad\.name!"/.exec(err)
  return { help: h?.[1] ?? `(no rule in: ${help.slice(0, 200)})`, error: e?.[1] ?? `(no rule in: ${err})` }
}

t.test('the full stack (store up): help and the error state the same preset-name rule, and it is the rule applied', async (t) => {
  const dir = t.testdir()
  const run = await startAppliance({ ...loadProfile('sim'), dataDir: dir }, { services: [applianceStack({ api: false, inference: false, log: () => {} })] })
  t.teardown(() => run.stop())
  const client = await openClient(run.app.endpoints.get('console')!)
  t.teardown(() => client.close())
  await client.send('\r\nconsole machine\r\n')
  await client.waitRaw(/OK console mode=machine\r\n$/, 5000)
  client.lines.length = 0
  const ask = async (l: string): Promise<string> => {
    await client.send(`${l}\r\n`)
    return client.nextLine(5000)
  }
  for (const cmd of ['preset save', 'preset load', 'preset delete']) {
    const r = await rules(ask, cmd)
    t.equal(r.error, r.help, `${cmd}: help says "${r.help}", the error says "${r.error}"`)
  }
  const { help, error } = await rules(ask, 'preset save')
  t.match(help, /32/, 'the rule names the longest name')
  t.notMatch(help + error, /"\."/, 'neither offers "." (which is refused)')
  t.match(await ask('preset save a.b'), /^ERR FW_ERR_BAD_ARG /, '"." is refused, as the rule says')
  t.match(await ask(`preset save ${'x'.repeat(33)}`), /^ERR FW_ERR_BAD_ARG /, '33 characters are refused')
  t.equal(
    await ask(`preset save Ab-9_${'x'.repeat(27)}`),
    `OK preset save saved=Ab-9_${'x'.repeat(27)} outputs=4 beams=4`,
    'letters, digits, "-" and "_" up to 32 are accepted',
  )
})

t.test('a unit whose store is not up: help lists the preset commands as not available, and they answer so whatever the name', async (t) => {
  const rig = await startRig(new FakeAppliance(), t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  const help = await rig.ask('help preset load')
  t.match(help, /^OK help 1\.command="preset load" /, help)
  t.match(help, / 1\.unavailable="the store is not running"/, 'help says why')
  for (const line of ['preset load bad.name!', 'preset load main-show', 'preset save x']) {
    t.equal(
      await rig.ask(line),
      `ERR FW_ERR_NOT_AVAILABLE ${line.split(' ').slice(0, 2).join(' ')} is not available yet: the store is not running on this unit`,
      line,
    )
  }
})
