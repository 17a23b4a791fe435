// Mix profiles as an operator manages them: through the command registry, kept in the store,
// published to an ingest that really receives RTP from the running engine, refused changes
// changing nothing, and the published set coming back after a restart.
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { mixCommands } from '../../firmware/mix/commands.ts'
import { MixControl } from '../../firmware/mix/control.ts'
import { validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

const operator: Principal = { name: 'test:operator', permission: 'operate', transport: 'test' }
const observer: Principal = { name: 'test:observer', permission: 'observe', transport: 'test' }

t.test('a bad profile is refused with FW_ERR_MIX_PROFILE naming the field', async (t) => {
  const good = { name: 'vocal-forward', sources: [{ output: 0, gainDb: 9 }], bedDb: -6, compressor: {} }
  t.match(validateProfile(good), { name: 'vocal-forward', compressor: { ratio: 2, thresholdDb: -18 } })
  const bad: Array<[unknown, RegExp]> = [
    [{ ...good, name: 'vocal forward' }, /mix profile name/],
    [{ ...good, sources: [{ output: 8, gainDb: 0 }] }, /sources\[0\]\.output: must be between 0 and 7/],
    [{ ...good, sources: [{ output: 0, gainDb: 30 }] }, /sources\[0\]\.gainDb: must be between -60 and 12/],
    [{ ...good, sources: [{ output: 0, gainDb: Number.NaN }] }, /must be a number/],
    [
      {
        ...good,
        sources: [
          { output: 1, gainDb: 0 },
          { output: 1, gainDb: 3 },
        ],
      },
      /named twice/,
    ],
    [{ ...good, compressor: { ratio: 20 } }, /compressor\.ratio: must be between 1 and 4/],
    [{ ...good, sources: [], bedDb: -60 }, /at least one source or the bed/],
    [{ ...good, volume: 3 }, /field: must be one of/],
  ]
  for (const [p, msg] of bad) t.throws(() => validateProfile(p), { code: 'FW_ERR_MIX_PROFILE', message: msg })
})

t.test('mix set, publish, unpublish through the registry; the ingest receives RTP; a restart republishes', async (t) => {
  const dir = t.testdir({})
  const ingest = createSocket('udp4')
  const got: Buffer[] = []
  ingest.on('message', (m) => got.push(m))
  await new Promise<void>((r) => ingest.bind(0, '127.0.0.1', r))
  t.teardown(() => ingest.close())
  const port = ingest.address().port
  const engine = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  engine.start()
  t.teardown(() => engine.stop())

  const app = new FakeAppliance()
  const reg = createRegistry(app)
  let control = new MixControl(dir, new MixStreams(engine.mixPort()), () => {})
  await control.open()
  for (const c of mixCommands(control)) reg.register(c)

  t.match(await reg.executeLine('mix set vocal-forward out0=9 bed=-6 compress=true', operator), {
    ok: true,
    value: { revision: 1, sources: [{ output: 0, gainDb: 9 }] },
  })
  t.match(await reg.executeLine('mix set vocal-forward out1=-6', operator), {
    ok: true,
    value: { revision: 2, sources: [{ output: 0 }, { output: 1, gainDb: -6 }] },
  })
  const before = readFileSync(join(dir, 'mixes.json'), 'utf8')
  t.match(await reg.executeLine('mix set vocal-forward out0=40', operator), { ok: false, code: 'FW_ERR_BAD_ARG' }, 'out of range at the registry')
  t.match(await reg.executeLine('mix set vocal-forward ratio=1 compress=true threshold=-50', operator), { ok: false }, 'a threshold below -40 is refused')
  t.equal(readFileSync(join(dir, 'mixes.json'), 'utf8'), before, 'refused changes leave the stored document as it was')
  t.match(
    await reg.executeLine('mix publish vocal-forward host=127.0.0.1 port=5002', observer),
    { ok: false, code: 'FW_ERR_PERMISSION' },
    'publishing is an operator action',
  )
  t.match(await reg.executeLine('mix publish nosuch host=127.0.0.1 port=5002', operator), { ok: false, code: 'FW_ERR_MIX_STREAM' })
  t.match(await reg.executeLine('mix publish vocal-forward host=999.0.0.1 port=5002', operator), { ok: false, code: 'FW_ERR_MIX_STREAM' })
  t.equal(got.length, 0, 'nothing streams before a mix is published')
  t.match(await reg.executeLine(`mix publish vocal-forward host=127.0.0.1 port=${port}`, operator), { ok: true, value: { published: { port }, revision: 3 } })
  await new Promise((r) => setTimeout(r, 400))
  t.ok(got.length >= 5, `the ingest received ${got.length} RTP packets in 0.4 s`)
  const first = got[0]!
  t.equal(first[0]! >> 6, 2, 'RTP version 2')
  t.equal(first[1]! & 0x7f, 111, 'payload type 111 (Opus)')
  t.match(await reg.executeLine('mix list', observer), { ok: true, value: [{ name: 'vocal-forward', revision: 3, published: `127.0.0.1:${port}` }] })
  t.match(await reg.executeLine('mix show vocal-forward', observer), { ok: true, value: { stream: { name: 'vocal-forward' } } })

  // A restart: a new control over the same store republishes what was published.
  control.stop()
  got.length = 0
  await new Promise((r) => setTimeout(r, 100))
  got.length = 0
  control = new MixControl(dir, new MixStreams(engine.mixPort()), () => {})
  await control.open()
  t.match(control.list(), [{ revision: 3, published: { port } }], 'the stored profile and its publication survive')
  await new Promise((r) => setTimeout(r, 300))
  t.ok(got.length >= 3, `and it streams again (${got.length} packets)`)
  await control.unpublish('vocal-forward')
  await new Promise((r) => setTimeout(r, 100))
  got.length = 0
  await new Promise((r) => setTimeout(r, 200))
  t.equal(got.length, 0, 'unpublished: nothing more arrives')
  control.stop()
})
