// kill -9 at random moments during a stream of acknowledged console changes: no acknowledged
// change lost, settings.json always loads, every crash recorded at the next start. The short
// variant of the soak in tests/bench/settings.bench.ts (SETTINGS_KILLS, SETTINGS_SEED to repeat).
import t from 'tap'
import { settingsSoak } from './settings-soak.ts'

t.test('kill -9 during a stream of acknowledged changes loses none of them', async (t) => {
  const seed = Number(process.env.SETTINGS_SEED ?? Date.now() % 100000)
  const kills = Number(process.env.SETTINGS_KILLS ?? 15)
  t.comment(`seed ${seed}, ${kills} kills (SETTINGS_SEED / SETTINGS_KILLS)`)
  const r = await settingsSoak({ dir: t.testdir({}), kills, seed })
  const ms = [...r.replyMs].sort((a, b) => a - b)
  t.comment(
    `${r.acknowledged} acknowledged changes, ${r.kills} kills (${r.inFlight} with a command in flight: ${r.inFlightAcked} acknowledged just before the kill, ${r.inFlightLanded} landed without a reply); reply p50 ${ms[ms.length >> 1]?.toFixed(1)} ms, max ${ms[ms.length - 1]?.toFixed(1)} ms`,
  )
  t.equal(r.kills, kills, 'every kill done')
  t.ok(r.acknowledged >= kills, 'changes were acknowledged between the kills')
  t.same(r.failures, [], 'no failures')
  t.equal(r.lost, 0, '0 acknowledged changes lost')
  t.equal(r.unloadable, 0, '0 stores that fail to load')
  t.equal(r.unrecorded, 0, 'every crash recorded')
})

t.test('the same through the console and the HTTPS API of a provisioned unit', async (t) => {
  const seed = Number(process.env.SETTINGS_SEED ?? Date.now() % 100000)
  const kills = Number(process.env.SETTINGS_API_KILLS ?? 5)
  t.comment(`seed ${seed}, ${kills} kills (SETTINGS_SEED / SETTINGS_API_KILLS)`)
  const r = await settingsSoak({ dir: t.testdir({}), kills, seed, api: true })
  t.comment(`${r.acknowledged} acknowledged changes (${r.viaApi} sent through the API), ${r.kills} kills`)
  t.ok(r.viaApi > 0, 'some changes went through the API')
  t.same(r.failures, [], 'no failures')
  t.equal(r.lost + r.unloadable + r.unrecorded, 0, 'nothing lost, every store loads, every crash recorded')
})
