// The mix survives: what an operator changes is on disk when the console says OK, and comes back
// after kill -9 or a power cut. Through a real `firmware run` child and its serial console.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ask, type Client, openClient } from '../console/harness.ts'
import { type RunChild, simProfileIn, startRun } from './run-helpers.ts'

async function connect(run: RunChild, t: { teardown(fn: () => unknown): void }): Promise<Client> {
  const m = await run.waitOut(/links console (\S+)/, 60000)
  const c = await openClient(m[1]!)
  t.teardown(() => c.close())
  await c.send('\r\n')
  t.teardown(() => {
    run.child.kill('SIGKILL')
  })
  for (let i = 0; ; i++) {
    try {
      if (/^OK console/.test(await ask(c, 'console machine'))) return c
    } catch (e) {
      if (i > 3) throw e
    }
  }
}

t.test('gain, EQ, beam steer, trim, compressor and mode supervised survive kill -9; the crash is recorded', async (t) => {
  const dir = t.testdir({})
  const { file } = simProfileIn(dir)
  const first = startRun(file)
  await first.waitOut(/state ACTIVE/, 60000)
  const c = await connect(first, t)
  for (const cmd of [
    'gain 1 -6.5',
    'eq 1 2 freq=250 gain=-3 q=1.4 enabled=on',
    'beam steer 2 45',
    'trim 3 4.5',
    'comp 1 threshold=-18 ratio=3 enabled=on',
    'mode supervised',
  ]) {
    t.match(await ask(c, cmd), /^OK /, cmd)
  }
  first.child.kill('SIGKILL')
  await first.exited
  await c.close()

  const second = startRun(file)
  await second.waitOut(/state ACTIVE/, 60000)
  t.match(second.out(), /previous run crashed \(the process died[^)]*\) \(pid \d+\); it last knew (ACTIVE|DEGRADED|BYPASS) \(/, 'the crash is in the log')
  const c2 = await connect(second, t)
  const out1 = await ask(c2, 'output show 1')
  t.match(out1, /gain=-6\.5/, 'gain back')
  t.match(out1, /eq\.2\.type=peak eq\.2\.freq=250 eq\.2\.gain=-3 eq\.2\.q=1\.4 eq\.2\.enabled=on/, 'EQ band back')
  t.match(out1, /comp\.threshold=-18 comp\.ratio=3 /, 'compressor back')
  t.match(await ask(c2, 'beam list'), /2\.azimuth=45 /, 'beam steer back')
  const status = await ask(c2, 'status')
  t.match(status, / mode=supervised /, 'mode back')
  t.match(status, / boots_into="last mix" /)
  t.match(status, / last_run_ended=crash/)
  t.match(await ask(c2, 'faults 50'), /cause=previous-run-crash/, 'faults shows the crash')
})

t.test('a clean stop in manual bypass leaves a shutdown record, and the next start says it stopped cleanly', async (t) => {
  const dir = t.testdir({})
  const { file, dataDir } = simProfileIn(dir)
  const first = startRun(file)
  await first.waitOut(/state ACTIVE/, 60000)
  const c = await connect(first, t)
  t.match(await ask(c, 'bypass on'), /^OK bypass/)
  await c.close()
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'stopped cleanly')
  const lines = readFileSync(join(dataDir, 'watchdog', 'transitions.jsonl'), 'utf8')
    .trim()
    .split('\n')
  t.match(JSON.parse(lines[lines.length - 1]!), { from: 'MANUAL_BYPASS', cause: 'shutdown' }, 'the stop is in the transition log')
  const second = startRun(file)
  t.teardown(() => {
    second.child.kill('SIGKILL')
  })
  await second.waitOut(/state /, 60000)
  t.match(second.out(), /previous run stopped cleanly \(pid \d+\); it last knew MANUAL_BYPASS \(shutdown\)/)
})

t.test('reboot keeps the mix; with a boot preset the unit reboots into the preset, and status says so', async (t) => {
  const dir = t.testdir({})
  const { file } = simProfileIn(dir)
  const run = startRun(file)
  await run.waitOut(/state ACTIVE/, 60000)
  let c = await connect(run, t)
  const confirmed = async (line: string) => {
    const token = /confirm=(\w+)/.exec(await ask(c, line))
    if (!token) throw new Error(`no confirm token for ${line}`)
    return ask(c, `${line} confirm=${token[1]}`)
  }
  /** Reboots from the console and reconnects once the appliance is back (the PTY is new). */
  const reboot = async (n: number) => {
    t.match(await confirmed('reboot'), /^OK reboot/)
    await c.close()
    await run.waitOut(new RegExp(`(restarting[\\s\\S]*){${n}}previous run stopped cleanly[\\s\\S]*links console`), 60000)
    c = await connect(run, t)
  }
  t.match(await ask(c, 'gain 2 -9'), /^OK /)
  await reboot(1)
  t.match(await ask(c, 'output show 2'), /gain=-9 /, 'the gain survived the reboot')
  t.match(await ask(c, 'preset save show'), /^OK /)
  t.match(await ask(c, 'preset boot nosuch'), /^ERR FW_ERR_PRESET_NOT_FOUND /, 'a missing preset is refused')
  t.match(await ask(c, 'preset boot show'), /^OK preset boot boots_into="preset \\"show\\"" differs_from_boot=off/)
  t.match(await ask(c, 'gain 2 -3'), /^OK /)
  t.match(await ask(c, 'status'), /boots_into="preset \\"show\\"" differs_from_boot=on settings=saved/, 'the running mix differs from the boot preset')
  await reboot(2)
  t.match(await ask(c, 'output show 2'), /gain=-9 /, 'booted into the preset (gain -9), not the last mix (-3)')
  t.match(await ask(c, 'status'), /boots_into="preset \\"show\\"" differs_from_boot=off/)
})
