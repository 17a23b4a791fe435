// Offline, the analysers' models run on a thread of `firmware process` (OfflineInference), not in
// the inference child process the live appliance keeps: no second Node process to boot (its
// start-up was most of a short file's cost: docs/offline-processing.md, "Fourth round"). The models
// give the same numbers bit for bit as in the child; a model that hangs is a clear FW_ERR_INFERENCE
// within the time limit and the command still ends, even when the thread is stuck in native code.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { WireFeeds } from '../../firmware/inference/backend.ts'
import { BUILTIN_MANIFESTS } from '../../firmware/inference/manifest.ts'
import { CROWD_STATE, EQ_RECOMMENDER, type ModelRunner, speechProbabilities, vadProbabilities } from '../../firmware/inference/models.ts'
import { OfflineInference } from '../../firmware/inference/offline.ts'
import { InferenceService } from '../../firmware/inference/service.ts'
import type { ProcessReport } from '../../firmware/process/report.ts'
import { WavWriter } from '../../firmware/wav/wav.ts'
import { espeakAt16k } from '../helpers/speech.ts'
import { circularArray, planeWave } from './stage.ts'

const repo = join(import.meta.dirname, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const cli = join(repo, 'bin', 'firmware.js')
const canTrace = spawnSync('strace', ['-f', '-o', '/dev/null', 'true']).status === 0

t.test('firmware process runs its analysers without a second Node process', { skip: canTrace ? false : 'strace cannot trace here' }, async (t) => {
  const mics = circularArray(4, 0.05)
  const dir = t.testdir({ 'array.json': JSON.stringify({ sampleRate: 48000, mics }) })
  const w = new WavWriter(join(dir, 'in.wav'), { channels: 4, sampleRate: 48000, format: 'pcm24' })
  w.write(planeWave({ mics, sampleRate: 48000, seconds: 6, azimuth: 60, noise: 0.01, seed: 3 }))
  w.close()
  const trace = join(dir, 'execve.txt')
  const r = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      '-e',
      'trace=execve',
      '-e',
      'signal=none',
      '-o',
      trace,
      node,
      cli,
      'process',
      '--array',
      join(dir, 'array.json'),
      '--in',
      join(dir, 'in.wav'),
    ].concat(['--out', join(dir, 'out.wav'), '--report', join(dir, 'report.json'), '--progress-every', '0']),
    { encoding: 'utf8' },
  )
  t.equal(r.status, 0, r.stderr)
  const execs = readFileSync(trace, 'utf8')
    .split('\n')
    .filter((l) => /execve\(/.test(l) && !/ENOENT/.test(l))
  t.equal(execs.length, 1, `one program started (the command itself): ${execs.map((l) => l.slice(0, 120)).join(' | ')}`)
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ProcessReport
  t.equal(report.analysisErrors, undefined, 'the analysers ran')
  t.ok(report.classes.length >= 20, `classes every 0.25 s (${report.classes.length})`)
  t.ok(report.recommendations.length >= 1, 'an EQ recommendation')
})

t.test('the models on the thread give what they give in the inference process, bit for bit', async (t) => {
  const x16 = espeakAt16k(t.testdir({}))

  const child = new InferenceService()
  await child.start()
  t.teardown(() => child.stop())
  for (const m of BUILTIN_MANIFESTS) await child.activate(m)
  const thread = await OfflineInference.start()
  t.teardown(() => thread.stop())

  const logmel = new Float32Array(8 * 50 * 40).map((_, i) => -20 + 10 * Math.sin(i * 0.37))
  const spectrum = new Float32Array(64).map((_, i) => (i < 32 ? -40 + i : 3))
  const outputs = async (svc: ModelRunner) => {
    const o = { deadlineMs: 10_000 }
    const classes = await svc.infer(CROWD_STATE, { logmel: { type: 'float32', dims: [8, 50, 40], data: logmel } } satisfies WireFeeds, o)
    const eq = await svc.infer(EQ_RECOMMENDER, { spectrum: { type: 'float32', dims: [1, 2, 32], data: spectrum } }, o)
    if (classes.status !== 'ok' || eq.status !== 'ok') throw new Error(`not answered: ${classes.status} ${eq.status}`)
    return {
      silero: await vadProbabilities(svc, x16, o),
      voice: await speechProbabilities(svc, x16, o),
      probs: classes.outputs.probs!.data as Float32Array,
      gains: eq.outputs.gains!.data as Float32Array,
    }
  }
  const a = await outputs(child)
  const b = await outputs(thread)
  t.ok(
    a.silero.some((p) => p > 0.8),
    `speech is heard (max ${Math.max(...a.silero).toFixed(2)})`,
  )
  const same = (x: Float32Array, y: Float32Array) =>
    x.length === y.length && Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength))
  t.ok(same(a.silero, b.silero), `Silero's ${a.silero.length} frame probabilities identical`)
  t.ok(same(a.voice, b.voice), `the VAD head's ${a.voice.length} frame probabilities identical`)
  t.ok(same(a.probs, b.probs), 'the classifier identical')
  t.ok(same(a.gains, b.gains), 'the EQ recommender identical')
  // A request whose feeds cannot be sent is dropped on its own; the thread goes on answering.
  const bad = await thread.infer(CROWD_STATE, { logmel: { type: 'float32', dims: [1, 50, 40], data: (() => 0) as never } })
  t.equal(bad.status, 'dropped', `feeds that cannot be sent: dropped (${bad.status === 'dropped' ? bad.reason : ''})`)
  t.equal(
    (await thread.infer(CROWD_STATE, { logmel: { type: 'float32', dims: [1, 50, 40], data: logmel.subarray(0, 2000) } })).status,
    'ok',
    'the next request answers',
  )
})

t.test('a model that hangs on the thread: FW_ERR_INFERENCE within the limit, and the command ends', async (t) => {
  const harness = join(import.meta.dirname, 'fixtures', 'offline-hang.ts')
  for (const [how, what] of [
    [1, 'spinning in JavaScript'],
    [2, 'blocked inside a native call'],
  ] as const) {
    const t0 = performance.now()
    const r = spawnSync(node, [harness, '--how', String(how), '--hang-ms', '800'], { encoding: 'utf8', timeout: 60_000 })
    const wall = (performance.now() - t0) / 1000
    const line = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { code?: string; message?: string; ms?: number }
    t.equal(line.code, 'FW_ERR_INFERENCE', `${what}: ${line.message}`)
    t.match(line.message, /did not answer within 0\.8 s/, `${what}: says what and how long`)
    t.ok(line.ms! >= 790 && line.ms! < 5000, `${what}: the error came after ${line.ms} ms`)
    // A thread stuck in native code cannot be joined: the process ends itself rather than wait.
    t.ok(wall < 8, `${what}: the process ended after ${wall.toFixed(1)} s (the model would have held it 10 s or forever)`)
    if (how === 2) {
      t.equal(r.signal, 'SIGKILL', 'stuck in native code: the process ended itself')
      t.match(r.stderr, /FW_ERR_INFERENCE/, 'and said why')
    } else t.equal(r.status, 0, 'a JavaScript hang: the thread is terminated and the process exits normally')
  }
})
