// A store fallback is news for the person running the unit: the warning must reach the firmware's
// output (stderr, hence the journal under systemd), not only the in-memory log.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigStore } from '../../firmware/store/config.ts'
import { simProfileIn, startRun } from './run-helpers.ts'

t.test('a config that fails its checksum: firmware run says so on its output and uses the last-known-good copy', async (t) => {
  const dir = t.testdir({})
  const { file, dataDir } = simProfileIn(dir)
  const cfg = new ConfigStore(dataDir, { log: () => {} })
  await cfg.save({ automationMode: 'advisory', bootPreset: null, inputTrimDb: [], subsystems: {} })
  await cfg.save({ automationMode: 'advisory', bootPreset: null, inputTrimDb: [1], subsystems: {} })
  const path = join(dataDir, 'config.json')
  writeFileSync(path, readFileSync(path, 'utf8').replace('"inputTrimDb":[1]', '"inputTrimDb":[7]'))
  const run = startRun(file, 3)
  t.teardown(() => {
    run.child.kill('SIGKILL')
  })
  const code = await run.exited
  t.equal(code, 0, 'ran and stopped')
  t.match(run.out(), /store: \S*config\.json fails its checksum; using its last-known-good copy from \d{4}-/, 'the warning is on the output, in plain words')
  t.notMatch(run.out(), / is checksum mismatch/)
})
