// Durable settings over a real Appliance (sim board, no panel): group commit, the automation
// window, the boot preset and what status says about it.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { procFacts } from '../../firmware/runtime/instance-lock.ts'
import { beginRun, describePreviousRun, endRun } from '../../firmware/runtime/run-record.ts'
import { type RunningAppliance, startAppliance } from '../../firmware/runtime/start.ts'
import { presetFromAppliance } from '../../firmware/store/presets.ts'
import { DurableSettings } from '../../firmware/store/settings.ts'

async function boot(t: { teardown(fn: () => unknown): void }, dataDir: string, windowMs = 1000): Promise<{ run: RunningAppliance; settings: DurableSettings }> {
  const settings = await DurableSettings.open(dataDir, { log: () => {}, automationWindowMs: windowMs })
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [],
      beforeActive: (app) => {
        settings.restore(app)
        settings.attach(app)
      },
    },
  )
  let closed = false
  const stop = run.stop
  const close = async () => {
    if (!closed) {
      closed = true
      await stop()
      await settings.close()
    }
  }
  t.teardown(close)
  return { run: Object.assign(run, { stop: close }), settings }
}

const stored = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'settings.json'), 'utf8')).data

t.test('changes that arrive together share one commit; flushed() resolves once they are on disk', async (t) => {
  const dataDir = t.testdir({})
  const { run, settings } = await boot(t, dataDir)
  for (let i = 0; i < 100; i++) run.app.setOutputGain(i % 4, -i / 10, 'test')
  const pending = settings.flushed()
  t.match(settings.status().settings, /^saving \(100 changes\)$/)
  await pending
  t.ok(settings.stats.commits <= 2, `100 changes, ${settings.stats.commits} commit(s)`)
  t.same(
    stored(dataDir).outputs.map((o: { gainDb: number }) => o.gainDb),
    [-9.6, -9.7, -9.8, -9.9],
  )
  t.equal(settings.status().settings, 'saved')
})

t.test("automation's own EQ moves are written within the window, without anyone waiting", async (t) => {
  const dataDir = t.testdir({})
  const { run, settings } = await boot(t, dataDir, 150)
  run.app.setOutputGain(0, -3, 'test')
  await settings.flushed()
  const before = settings.stats.commits
  run.app.setEqBand(1, 2, { type: 'peak', freqHz: 500, gainDb: -2, q: 2, enabled: true }, 'automation')
  await new Promise((r) => setImmediate(r))
  t.equal(settings.stats.commits, before, 'not written at once')
  await new Promise((r) => setTimeout(r, 600))
  t.equal(settings.stats.commits, before + 1, 'written within the window')
  t.match(stored(dataDir).outputs[1].eq[2], { freqHz: 500, gainDb: -2 })
})

t.test('the mix comes back at the next boot; a boot preset wins over it; status says which and whether it differs', async (t) => {
  const dataDir = t.testdir({})
  const a = await boot(t, dataDir)
  a.run.app.setOutputGain(2, -11, 'test')
  a.run.app.steerBeam(1, 123, 5, 'test')
  await a.settings.flushed()
  await a.settings.presets.save(presetFromAppliance('show', a.run.app))
  await t.rejects(a.settings.setBootPreset('nope'), { code: 'FW_ERR_PRESET_NOT_FOUND' })
  t.equal(a.settings.bootInfo().into, 'last mix', 'a bad name changes nothing')
  await a.run.stop()

  const b = await boot(t, dataDir)
  t.equal(b.run.app.outputSettings()[2]!.gainDb, -11, 'last mix restored')
  t.match(b.run.app.beams()[1], { azimuth: 123, elevation: 5, auto: false })
  await b.settings.setBootPreset('show')
  t.same(b.settings.bootInfo(), { into: 'preset "show"', bootPreset: 'show', differs: false })
  b.run.app.setOutputGain(2, -1, 'test')
  await b.settings.flushed()
  t.equal(b.settings.bootInfo().differs, true, 'the running mix differs from the boot preset')
  await b.run.stop()

  const c = await boot(t, dataDir)
  t.equal(c.run.app.outputSettings()[2]!.gainDb, -11, 'booted into the preset, not the last mix')
  await c.settings.setBootPreset(null)
  await c.run.stop()
})

t.test('run records: clean stop, crash, and power loss told apart by the boot id', async (t) => {
  const dataDir = t.testdir({})
  const o = { dataDir, board: 'sim', logFile: null, settingsDigest: 'abc' }
  t.equal(beginRun(o).ended, 'first-start')
  t.equal(beginRun(o).ended, 'crash', 'still marked running in this boot: the process died')
  endRun(dataDir, 'sim')
  t.equal(beginRun(o).ended, 'clean-stop')
  const otherBoot = { ...procFacts, bootId: () => '00000000-0000-4000-8000-000000000000' }
  const p = beginRun({ ...o, facts: otherBoot })
  t.equal(p.ended, 'power-loss', 'marked running in another boot: power loss or reboot')
  t.match(describePreviousRun(p), /power loss or reboot/)
})
