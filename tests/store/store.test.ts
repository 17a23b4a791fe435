import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { encodeDocument } from '../../firmware/store/document.ts'
import { defaultConfig, type HealthRecord, HealthReporter, openStore, writeFileAtomic } from '../../firmware/store/index.ts'

const flat = {
  gainDb: -3,
  eq: [{ type: 'peak' as const, freqHz: 1000, gainDb: 2, q: 1, enabled: true }],
  compressor: { thresholdDb: -18, ratio: 3, kneeDb: 6, attackMs: 5, releaseMs: 120, makeupDb: 2, enabled: true },
}
const preset = (name: string, gainDb: number) => ({
  name,
  outputs: [{ ...flat, gainDb }],
  inputTrimDb: [1, 2],
  beams: [{ index: 0, azimuth: 60, elevation: 0, auto: false }],
})

function collect(): { log: (l: 'info' | 'warn', m: string) => void; warnings: string[] } {
  const warnings: string[] = []
  return {
    warnings,
    log: (l, m) => {
      if (l === 'warn') warnings.push(m)
    },
  }
}

t.test('a saved preset lists, loads and deletes', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await presets.save(preset('verse', -3))
  await presets.save(preset('chorus', 0))
  t.same(
    (await presets.list()).map((p) => p.name),
    ['chorus', 'verse'],
  )
  const v = await presets.load('verse')
  t.equal(v.outputs[0]?.gainDb, -3)
  t.equal(v.outputs[0]?.compressor.ratio, 3)
  t.same(v.beams, [{ index: 0, azimuth: 60, elevation: 0, auto: false }])
  await presets.delete('verse')
  t.same(
    (await presets.list()).map((p) => p.name),
    ['chorus'],
  )
  await t.rejects(presets.load('verse'), { code: 'FW_ERR_PRESET_NOT_FOUND' })
  await t.rejects(presets.delete('verse'), { code: 'FW_ERR_PRESET_NOT_FOUND' })
})

t.test('a bad preset name is refused before anything is written', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await t.rejects(presets.save(preset('../etc', 0)), { code: 'FW_ERR_PRESET_NAME' })
  await t.rejects(presets.load('has space'), { code: 'FW_ERR_PRESET_NAME' })
  t.same(readdirSync(join(dir, 'presets')), [])
})

t.test('saving leaves the file, its last-known-good copy and no temp files', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await presets.save(preset('a', 1))
  await presets.save(preset('a', 2))
  t.same(readdirSync(join(dir, 'presets')).sort(), ['a.json', 'a.json.lkg'])
  t.match(readFileSync(join(dir, 'presets', 'a.json.lkg'), 'utf8'), /"gainDb":1/)
})

t.test('a truncated preset falls back to its last-known-good copy with a warning', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await presets.save(preset('show', 1))
  await presets.save(preset('show', 2))
  const file = join(dir, 'presets', 'show.json')
  const text = readFileSync(file, 'utf8')
  writeFileSync(file, text.slice(0, Math.floor(text.length / 2)))
  const c = collect()
  const again = openStore(dir, c.log)
  t.equal((await again.presets.load('show')).outputs[0]?.gainDb, 1)
  t.match(c.warnings.join('\n'), /show\.json is truncated.*last-known-good/)
  // The good copy was put back, so the next load is clean.
  const c2 = collect()
  t.equal((await openStore(dir, c2.log).presets.load('show')).outputs[0]?.gainDb, 1)
  t.same(c2.warnings, [])
})

t.test('a preset with a flipped byte fails its checksum and falls back', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await presets.save(preset('show', 1))
  await presets.save(preset('show', 2))
  const file = join(dir, 'presets', 'show.json')
  writeFileSync(file, readFileSync(file, 'utf8').replace('"gainDb":2', '"gainDb":9'))
  const c = collect()
  t.equal((await openStore(dir, c.log).presets.load('show')).outputs[0]?.gainDb, 1)
  t.match(c.warnings.join('\n'), /show\.json fails its checksum; using its last-known-good copy from \d{4}-/)
})

t.test('a preset with both copies corrupt is refused with a clear error', async (t) => {
  const dir = t.testdir({})
  const { presets } = openStore(dir, () => {})
  await presets.save(preset('x', 1))
  await presets.save(preset('x', 2))
  writeFileSync(join(dir, 'presets', 'x.json'), 'garbage')
  writeFileSync(join(dir, 'presets', 'x.json.lkg'), '')
  await t.rejects(openStore(dir, () => {}).presets.load('x'), {
    code: 'FW_ERR_STORE_CORRUPT',
    message: /x\.json is truncated or not JSON, and its last-known-good copy is empty/,
  })
})

t.test('the config falls back to last-known-good, then to the defaults, never failing boot', async (t) => {
  const dir = t.testdir({})
  const { config } = openStore(dir, () => {})
  t.same(await config.load(), defaultConfig(), 'no file: defaults, silently')
  await config.update({ automationMode: 'supervised' })
  await config.update({ bootPreset: 'verse' })
  writeFileSync(join(dir, 'config.json'), '{"format":"stage-store/1","kind":"con')
  let c = collect()
  const fromLkg = await openStore(dir, c.log).config.load()
  t.equal(fromLkg.automationMode, 'supervised')
  t.equal(fromLkg.bootPreset, null)
  t.equal(c.warnings.length, 1)
  writeFileSync(join(dir, 'config.json'), 'x')
  writeFileSync(join(dir, 'config.json.lkg'), 'y')
  c = collect()
  t.same(await openStore(dir, c.log).config.load(), defaultConfig())
  t.match(c.warnings.join('\n'), /default config/)
})

t.test('schema version 1 presets and config migrate forward', async (t) => {
  const dir = t.testdir({ presets: {} })
  writeFileSync(
    join(dir, 'presets', 'old.json'),
    encodeDocument('preset', 1, { name: 'old', gains: [-6, 0], eq: [[{ type: 'lowshelf', freqHz: 120, gainDb: 3, q: 0.7, enabled: true }]] }),
  )
  writeFileSync(join(dir, 'config.json'), encodeDocument('config', 1, { automation: 'approve', trims: [3, 4] }))
  const store = openStore(dir, () => {})
  const p = await store.presets.load('old')
  t.equal(p.outputs.length, 2)
  t.equal(p.outputs[0]?.eq[0]?.type, 'lowshelf')
  t.equal(p.outputs[1]?.compressor.enabled, false, 'v1 had no dynamics: compressor off')
  const cfg = await store.config.load()
  t.equal(cfg.automationMode, 'supervised')
  t.same(cfg.inputTrimDb, [3, 4])
  await store.config.save(cfg)
  t.match(readFileSync(join(dir, 'config.json'), 'utf8'), /"schema":2/, 'saved at the current schema')
  t.match(readFileSync(join(dir, 'config.json.lkg'), 'utf8'), /"schema":1/, 'the old file is the last-known-good copy')
})

t.test('data from newer firmware is not silently misread', async (t) => {
  const dir = t.testdir({ presets: {} })
  writeFileSync(join(dir, 'presets', 'future.json'), encodeDocument('preset', 99, { name: 'future' }))
  await t.rejects(openStore(dir, () => {}).presets.load('future'), { code: 'FW_ERR_STORE_SCHEMA', message: /newer firmware/ })
  t.ok(existsSync(join(dir, 'presets', 'future.json')), 'left in place for the newer firmware')
})

t.test('temp files left by a killed writer are removed when the store opens', async (t) => {
  const dir = t.testdir({ presets: { '.a.json.tmp-999999-3': 'half', 'keep.txt': 'x' } })
  await openStore(dir, () => {}).presets.list()
  t.same(readdirSync(join(dir, 'presets')).sort(), ['keep.txt'])
})

t.test('writeFileAtomic replaces a file whole', async (t) => {
  const dir = t.testdir({ 'f.txt': 'old' })
  await writeFileAtomic(join(dir, 'f.txt'), 'new contents')
  t.equal(readFileSync(join(dir, 'f.txt'), 'utf8'), 'new contents')
  t.same(readdirSync(dir), ['f.txt'])
})

t.test('the health report records how long the watchdog has been ACTIVE', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'run', 'health.json')
  const h = new HealthReporter(file, { version: '1.2.3', intervalMs: 1000 })
  await h.report('BOOT', 1000)
  let rec = JSON.parse(readFileSync(file, 'utf8')) as HealthRecord
  t.equal(rec.state, 'BOOT')
  t.equal(rec.activeSince, null)
  await h.report('ACTIVE', 2000)
  await h.report('ACTIVE', 2500)
  rec = JSON.parse(readFileSync(file, 'utf8')) as HealthRecord
  t.equal(rec.at, 2000, 'rate-limited: the 2500 report was not written')
  await h.report('ACTIVE', 3100)
  rec = JSON.parse(readFileSync(file, 'utf8')) as HealthRecord
  t.same([rec.state, rec.activeSince, rec.at, rec.version], ['ACTIVE', 2000, 3100, '1.2.3'])
  await h.report('DEGRADED', 3200)
  rec = JSON.parse(readFileSync(file, 'utf8')) as HealthRecord
  t.same([rec.state, rec.activeSince], ['DEGRADED', null])
})

t.test('concurrent config updates (OSC and the boot preset share the config) lose neither', async (t) => {
  const dir = t.testdir({})
  const { config } = openStore(dir, () => {})
  await config.load()
  // Many rounds: the loss was a race (the older write could reach the file last), seen once in
  // CI under load and rarely on a quiet machine.
  let lost = 0
  for (let round = 0; round < 40; round++) {
    const name = `show-${round}`
    await Promise.all([config.update({ bootPreset: name }), config.update({ subsystems: { osc: { enabled: round % 2 === 0 } } })])
    const again = await openStore(dir, () => {}).config.load()
    if (again.bootPreset !== name || (again.subsystems.osc as { enabled?: boolean } | undefined)?.enabled !== (round % 2 === 0)) lost++
  }
  t.equal(lost, 0, 'no round lost either update on disk')
})
