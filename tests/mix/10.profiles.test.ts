// Mix profiles as an operator manages them: through the command registry, kept in the store,
// published to an ingest that really receives RTP from the running engine, refused changes
// changing nothing, and the published set coming back after a restart. Then the mix tap as one
// more consumer of the engine's output: the engine never waits for it (an unpaced file run
// outpaces any stream; every tap record is rendered or dropped and counted, and the file the PA
// path writes is exactly what it is without a stream).
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
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
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

t.test('an unpaced run with a stream to a dead ingest: the output file is untouched, tap drops are counted', async (t) => {
  const dir = t.testdir({})
  const frames = 48000 * 6
  const x = new Float32Array(frames * 2)
  let seed = 7
  for (let i = 0; i < x.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    x[i] = ((seed / 2 ** 32) * 2 - 1) * 0.3
  }
  writeWav(join(dir, 'in.wav'), { channels: 2, sampleRate: 48000 }, x)
  // A port nobody listens on: the streamer's sends are refused.
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const dead = s.address().port
  await new Promise<void>((r) => s.close(() => r()))

  const engine = new Engine({ backend: 'file', inputs: 2, outputs: 2, heartbeatTimeoutMs: 0, file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav') } })
  // The stream is published before the engine starts, so the tap sees every block.
  const streams = new MixStreams(engine.mixPort(), 10)
  streams.publish(validateProfile({ name: 'm', sources: [{ output: 0, gainDb: 0 }], bedDb: -6 }), { host: '127.0.0.1', port: dead, bitrate: 64000 })
  engine.start()
  await engine.finished()
  await new Promise((r) => setTimeout(r, 300))
  const st = streams.stats()!
  streams.stop()
  engine.stop()
  const records = frames / 32
  t.ok(st.chunks > 0, `the streamer rendered ${st.chunks} tap records`)
  t.ok(
    st.chunks + st.tapDrops <= records,
    `rendered ${st.chunks} + dropped ${st.tapDrops} of the ${records} the run pushed (records pushed before the stream started are not in the tap)`,
  )
  t.ok(st.tapDrops > 0, `the unpaced engine outran the streamer: ${st.tapDrops} records dropped and counted, none waited for`)
  t.ok(st.streams[0]!.sendErrors > 0 || st.streams[0]!.packets > 0, `sends ${st.streams[0]!.packets}, refused ${st.streams[0]!.sendErrors}`)
  const out = readWav(join(dir, 'out.wav')).data
  let diff = 0
  for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(out[i]! - x[i]!))
  t.equal(out.length, x.length, 'the whole input came out')
  t.equal(diff, 0, 'the PA output is the input, sample for sample')
})
