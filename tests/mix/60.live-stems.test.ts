// Separated sources live in the listener mixes (issue 17, fourth round) on the sim board with two
// talkers (speech-like, 220 Hz at 60 degrees and 150 Hz at 200 degrees): with tracking on, a mix
// naming talker A's track (`tracks=track:A@9`, bed -12) and the same mix without it are published
// side by side; each RTP stream is captured on a UDP port and decoded by a real GStreamer child
// (rtpstreamdepay ! rtpopusdepay ! opusdec). Talker A's fundamental band stands above talker B's
// in the mix with the stem, and by more than in the mix without it. The engine's beams (the PA)
// do not move. Bad tracked sources are refused with a clear FW_ERR and store nothing.
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { simulateStage } from '../../firmware/engine/dsp.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { angleDiff } from '../../firmware/mix/tracker.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import { call, makeFixture } from '../api/helpers.ts'
import { bestCorrelation, decode, FS, references, sink, TALKERS } from './stems.ts'
import { bootUnit, eventually } from './unit.ts'

const boot = (dataDir: string) =>
  bootUnit(
    dataDir,
    TALKERS.map((s) => ({ ...s, elevation: 0, kind: 'speechlike' as const })),
  )

t.test('a mix with talker A tracked lifts A above B; the PA beams do not move; bad tracked sources refused', async (t) => {
  const fx = await makeFixture(t.testdir())
  const op = fx.creds(fx.operator)
  const obs = fx.creds(fx.observer)
  const bootAt = Date.now()
  const unit = await boot(fx.dataDir)
  t.teardown(() => unit.stop())
  const port = unit.api.port
  const set = (body: Record<string, unknown>) => call(port, op, 'POST', '/api/mix/set', body)
  const stored = async () => ((await call(port, obs, 'GET', '/api/mix/list')).json.value as Array<{ name: string }>).map((m) => m.name)

  const off = await set({ name: 'vocal', tracks: 'track:1@9', bed: -12 })
  t.match(off, { json: { ok: false, code: 'FW_ERR_TRACKING' } }, `tracking off: a tracked source is refused: ${off.text}`)

  t.match(await call(port, op, 'POST', '/api/tracking', { state: 'on' }), { status: 200 })
  let tracks: Array<{ id: number; azimuth: number; confirmed: boolean }> = []
  const near = (az: number) => tracks.find((x) => x.confirmed && Math.abs(angleDiff(x.azimuth, az)) <= 5)
  t.ok(
    await eventually(async () => {
      tracks = ((await call(port, obs, 'GET', '/api/tracks')).json.value as { tracks: typeof tracks }).tracks
      return TALKERS.every((s) => near(s.azimuth))
    }, 15_000),
    `both talkers tracked: ${JSON.stringify(tracks)}`,
  )
  const a = near(TALKERS[0]!.azimuth)!.id

  for (const [label, body, code] of [
    ['a track that does not exist', { tracks: 'track:99999@9' }, 'FW_ERR_TRACKING'],
    ['an azimuth past 360', { tracks: 'track:nearest:400@3' }, 'FW_ERR_MIX_PROFILE'],
    ['a gain over +12 dB', { tracks: `track:${a}@20` }, 'FW_ERR_MIX_PROFILE'],
    ['the same track twice', { tracks: `track:${a}@3,track:${a}@6` }, 'FW_ERR_MIX_PROFILE'],
  ] as const) {
    const r = await set({ name: 'vocal', bed: -12, ...body })
    t.match(r, { json: { ok: false, code } }, `${label}: refused with ${code}: ${r.text}`)
  }
  const five = await set({ name: 'vocal', bed: -12, tracks: 'track:1@1,track:2@1,track:3@1,track:4@1,track:5@1' })
  t.match(five, { status: 400, json: { ok: false, code: /^FW_ERR_/ } }, `five tracked sources: refused: ${five.text}`)
  t.same(await stored(), [], 'nothing was stored')

  t.match(await set({ name: 'vocal', tracks: `track:${a}@9`, bed: -12 }), { status: 200, json: { value: { tracks: [{ input: `track:${a}`, gainDb: 9 }] } } })
  t.match(await set({ name: 'plain', bed: -12 }), { status: 200 })
  const beams = async () => (await call(port, obs, 'GET', '/api/beam/list')).json.value
  const before = await beams()
  const sinks = { vocal: await sink(), plain: await sink() }
  t.teardown(() => {
    for (const s of Object.values(sinks)) s.sock.close()
  })
  for (const [name, s] of Object.entries(sinks))
    t.match(await call(port, op, 'POST', '/api/mix/publish', { name, host: '127.0.0.1', port: s.port }), { status: 200 }, `${name} published`)
  // The stem fades in over the separator's first frames; then 4 s of both streams at once.
  await new Promise((r) => setTimeout(r, 1000))
  for (const s of Object.values(sinks)) s.recording = true
  await new Promise((r) => setTimeout(r, 4000))
  for (const s of Object.values(sinks)) s.recording = false
  t.same(await beams(), before, 'the engine beams (the PA) are where they were: publishing moved none')
  const stats = (await call(port, obs, 'GET', '/api/mix/show?name=vocal')).json.value as { stream: { packets: number } | null }
  t.ok((stats.stream?.packets ?? 0) > 0, 'the vocal mix streams')

  const dir = t.testdir()
  // The capture started a few seconds after the engine: the references cover the whole run.
  const refs = references(Math.min(21, Math.ceil((Date.now() - bootAt) / 1000) + 1))
  const corr = (x: Float32Array) => refs.map((r) => bestCorrelation(x, r))
  const [vocalA, vocalB] = corr(decode(dir, 'vocal', sinks.vocal.packets).subarray(0, 4 * FS))
  const [plainA, plainB] = corr(decode(dir, 'plain', sinks.plain.packets).subarray(0, 4 * FS))
  t.ok(
    sinks.vocal.packets.length >= 150 && sinks.plain.packets.length >= 150,
    `4 s captured: ${sinks.vocal.packets.length} and ${sinks.plain.packets.length} packets`,
  )
  const fig = (v: number) => v.toFixed(2)
  t.ok(vocalA! > vocalB!, `with the stem the mix correlates more with talker A (${fig(vocalA!)}) than with talker B (${fig(vocalB!)})`)
  t.ok(
    vocalA! / vocalB! > 3 * (plainA! / plainB!),
    `A over B: ${fig(vocalA! / vocalB!)} with the stem, ${fig(plainA! / plainB!)} without (A ${fig(plainA!)}, B ${fig(plainB!)}): over 3 times`,
  )
})

t.test('separating for a published mix leaves every PA output sample-identical (file runs with and without)', async (t) => {
  const dir = t.testdir({})
  const array = loadProfile('sim').array!
  const frames = 3 * FS
  const mics = simulateStage(
    array,
    TALKERS.map((s) => ({ ...s, elevation: 0, kind: 'speechlike' as const })),
    -60,
    3,
    frames,
  )
  const x = new Float32Array(frames * mics.length)
  for (let i = 0; i < frames; i++) for (let c = 0; c < mics.length; c++) x[i * mics.length + c] = mics[c]![i]!
  writeWav(join(dir, 'in.wav'), { channels: mics.length, sampleRate: FS }, x)
  const sinkSock = await sink()
  t.teardown(() => sinkSock.sock.close())
  const run = async (publish: boolean) => {
    const out = join(dir, publish ? 'published.wav' : 'alone.wav')
    const engine = new Engine({
      backend: 'file',
      sampleRate: FS,
      inputs: mics.length,
      outputs: 4,
      array,
      doa: true,
      beams: [0, 90, 180, 270].map((azimuth) => ({ kind: 'das' as const, azimuth, elevation: 0, auto: false })),
      heartbeatTimeoutMs: 0,
      file: { in: join(dir, 'in.wav'), out, format: 'float32' },
    })
    engine.setTracking(true)
    let streams: MixStreams | null = null
    if (publish) {
      streams = new MixStreams(engine.mixPort(), 10)
      streams.publish(validateProfile({ name: 'v', sources: [{ output: 0, gainDb: 0 }], tracks: [{ track: 1, gainDb: 9 }], bedDb: -12 }), {
        host: '127.0.0.1',
        port: sinkSock.port,
        bitrate: 64000,
      })
      streams.setDirections([
        { azimuth: 60, active: true },
        { azimuth: 200, active: true },
      ])
    }
    engine.start()
    await engine.finished()
    await new Promise((r) => setTimeout(r, 200))
    const st = streams?.stats() ?? null
    streams?.stop()
    engine.stop()
    return { data: readWav(out).data, st }
  }
  const alone = await run(false)
  const published = await run(true)
  t.ok((published.st?.separated ?? 0) > 0, `the separator ran on ${published.st?.separated} frames of tapped mics`)
  t.equal(published.data.length, alone.data.length, 'the same length')
  let diff = 0
  for (let i = 0; i < alone.data.length; i++) diff = Math.max(diff, Math.abs(published.data[i]! - alone.data[i]!))
  t.equal(diff, 0, 'every PA output sample is the same with the separating mix published')
})

t.test('slots: one per tracked source over the published mixes, kept while published; a fifth refused, nothing changed', async (t) => {
  const sent: Array<Array<{ name: string; profile: { stemGains?: number[] } }>> = []
  const port = { start() {}, stop() {}, stats: () => null, setDirections() {}, setStreams: (s: (typeof sent)[number]) => void sent.push(s) }
  const streams = new MixStreams(port, 20)
  const ingest = (p: number) => ({ host: '127.0.0.1', port: p, bitrate: 64000 })
  const mix = (name: string, tracks: Array<{ track?: number; nearestDeg?: number; gainDb: number }>) =>
    validateProfile({ name, sources: [], tracks, bedDb: -12 })
  streams.publish(
    mix('a', [
      { track: 3, gainDb: 6 },
      { nearestDeg: 90, gainDb: 0 },
    ]),
    ingest(1000),
  )
  streams.publish(
    mix('b', [
      { track: 5, gainDb: -6 },
      { track: 3, gainDb: 12 },
    ]),
    ingest(1001),
  )
  t.same(
    streams.slots().map((s) => [s.slot, s.key]),
    [
      [0, 'track:3'],
      [1, 'track:nearest:90'],
      [2, 'track:5'],
    ],
    'three distinct tracked sources, three slots',
  )
  const last = sent.at(-1)!
  const gains = (name: string) => last.find((s) => s.name === name)!.profile.stemGains!.map((g) => Math.round(20 * Math.log10(g || 1e-9)))
  t.same(gains('a'), [6, 0, -180, -180], 'mix a hears slots 0 and 1 at its gains (0 on the others)')
  t.same(gains('b'), [12, -180, -6, -180], 'mix b hears slots 0 and 2')
  streams.unpublish('a')
  t.same(
    streams.slots().map((s) => [s.slot, s.key]),
    [
      [0, 'track:3'],
      [2, 'track:5'],
    ],
    'unpublished: its slot is free, the others keep their index',
  )
  const before = sent.length
  const slotsBefore = streams.slots()
  t.throws(
    () =>
      streams.publish(
        mix('c', [
          { track: 7, gainDb: 0 },
          { track: 8, gainDb: 0 },
          { track: 9, gainDb: 0 },
        ]),
        ingest(1002),
      ),
    { code: 'FW_ERR_MIX_PROFILE' },
    'a fifth tracked source over the published mixes is refused',
  )
  t.equal(sent.length, before, 'the streamer was not touched')
  t.same(streams.slots(), slotsBefore, 'the slots are as they were')
  t.same(
    streams.published().map((p) => p.name),
    ['b'],
    'and so is what is published',
  )
})
