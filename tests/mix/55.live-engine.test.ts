// Live candidates at the engine (issue 17, third round): the peak ring the DOA thread fills is
// bounded and a full one drops and counts (an unpaced file run with nobody draining); an engine
// whose DOA runs on the audio thread (or that has no array) cannot track, and `tracking on` there
// is refused with FW_ERR_TRACKING and stores nothing.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { LiveTracking } from '../../firmware/mix/live.ts'
import { writeWav } from '../../firmware/wav/wav.ts'
import { rng } from '../helpers/rng.ts'

const array = loadProfile('sim').array!
const FS = 48000

t.test('a full peak ring drops the frames that do not fit and counts them', async (t) => {
  const dir = t.testdir()
  const seconds = 5
  const frames = seconds * FS
  const r = rng(7)
  const data = new Float32Array(frames * 8)
  for (let i = 0; i < data.length; i++) data[i] = (r() - 0.5) * 0.1
  writeWav(join(dir, 'in.wav'), { channels: 8, sampleRate: FS }, data)
  const engine = new Engine({
    backend: 'file',
    sampleRate: FS,
    blockSize: 64,
    inputs: 8,
    outputs: 4,
    array,
    doa: true,
    file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav'), format: 'float32' },
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
    overrunBlocks: 0,
    realtimePriority: false,
  })
  t.ok(engine.setTracking(true), 'the engine can track (its DOA runs on its own thread)')
  engine.start()
  await engine.finished()
  engine.stop()
  const p = engine.pollPeaks()
  // One localiser frame per 512-sample hop once its first 1024 samples are in.
  const expected = Math.floor((frames - 1024) / 512) + 1
  t.equal(p.frames.length, 256, 'the ring held its 256 frames')
  t.ok(p.dropped > 0, `${p.dropped} frames dropped`)
  t.ok(Math.abs(p.frames.length + p.dropped - expected) <= 2, `drained + dropped = ${p.frames.length + p.dropped}, about the ${expected} hops`)
  t.ok(
    p.frames.every((f, i) => i === 0 || f.t > p.frames[i - 1]!.t),
    'the frames kept are in order',
  )
})

t.test('an engine whose DOA runs on the audio thread cannot track: refused, nothing stored', async (t) => {
  const dir = t.testdir()
  for (const [label, opts] of [
    ['DOA on the audio thread', { array, inputs: 8, doaThread: false }],
    ['no array', { inputs: 2 }],
  ] as const) {
    const engine = new Engine({ backend: 'null', sampleRate: FS, blockSize: 64, outputs: 2, ...opts })
    const live = new LiveTracking(dir, engine, () => t.fail('nothing published'))
    await live.open()
    await t.rejects(live.set(true), { code: 'FW_ERR_TRACKING' }, `${label}: tracking on refused`)
    t.same(live.status(), { on: false, available: false, frames: 0, dropped: 0, aims: 0 }, `${label}: still off`)
    t.notOk(existsSync(join(dir, 'tracking.json')), `${label}: nothing stored`)
    t.same(engine.pollPeaks(), { frames: [], dropped: 0, on: false }, `${label}: the engine has no peaks`)
    live.close()
  }
})
