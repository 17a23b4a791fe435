// OSC audit through the shared transport writer (firmware/transport/audit.ts): refusals aggregated
// per source, as for the API, and the aggregate of an open window is written when OSC stops.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import { startOsc } from '../../firmware/osc/server.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'
import { oscsend, until } from './helpers.ts'

t.test('refused OSC changes are aggregated per source and the count is written when OSC stops', async (t) => {
  const app = new FakeAppliance()
  const auditFile = join(t.testdir(), 'osc-audit.jsonl')
  const h = await startOsc(app, createRegistry(app), loadProfile('sim'), { enabled: true, port: 0, host: '127.0.0.1', allow: ['127.0.0.1'], auditFile })
  let stopped = false
  t.teardown(() => (stopped ? undefined : h.stop()))
  for (let i = 0; i < 3; i++) t.equal(await oscsend(h.port, '/output/99/gain', 'f', '-6'), 0, 'oscsend ran')
  await until(() => h.stats().refusedCommand >= 3, 'three refusals')
  await h.stop()
  stopped = true
  const refused = readFileSync(auditFile.replace(/\.jsonl$/, '-refused.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.equal(refused.length, 2, 'the first refusal whole, then one aggregate line')
  t.match(refused[0], { method: 'OSC', path: '/output/99/gain', command: 'gain', remote: '127.0.0.1', who: null, status: 400 })
  t.match(refused[1], { kind: 'refusals', remote: '127.0.0.1', count: 2 }, 'the other two are counted, not lost at stop')
})
