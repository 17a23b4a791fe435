// Starting and stopping the engine: cleanly, twice, in worker threads, and at process exit
// without stop() (the addon's cleanup hook must join the audio thread before teardown).

import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { Worker } from 'node:worker_threads'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'

const fixture = join(import.meta.dirname, 'fixtures', 'run-engine.ts')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Waits (up to 10 s: the machine may be busy) until `ok()` holds; returns whether it did. */
async function until(ok: () => boolean): Promise<boolean> {
  for (const end = Date.now() + 10_000; Date.now() < end; await sleep(5)) if (ok()) return true
  return ok()
}

t.test('the engine starts, runs blocks, and stops cleanly', async (t) => {
  const e = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  t.equal(e.blockCounter(), 0, 'no blocks before start')
  e.start()
  t.ok(await until(() => e.blockCounter() > 10), `blocks advance while running (${e.blockCounter()})`)
  e.stop()
  const after = e.blockCounter()
  await sleep(30)
  t.equal(e.blockCounter(), after, 'no blocks after stop')
  t.doesNotThrow(() => e.stop(), 'stop twice is harmless')
  t.throws(() => e.start(), { code: 'FW_ERR_ENGINE' }, 'a stopped engine does not restart')
})

t.test('two engines run one after the other and side by side', async (t) => {
  const a = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  const b = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  a.start()
  b.start()
  t.ok(await until(() => a.blockCounter() > 0 && b.blockCounter() > 0), 'both audio threads run')
  a.stop()
  b.stop()
  const c = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  c.start()
  t.ok(await until(() => c.blockCounter() > 0), 'a fresh engine starts after the others stopped')
  c.stop()
})

for (const how of ['stop', 'leave', 'exit']) {
  t.test(`an engine in a worker thread runs and ends cleanly (${how})`, async (t) => {
    const w = new Worker(fixture, { workerData: { how } })
    const report = await new Promise<{ blocks: number }>((resolve, reject) => {
      w.once('message', resolve)
      w.once('error', reject)
    })
    const code = await new Promise<number>((resolve) => w.once('exit', resolve))
    t.ok(report.blocks > 0, `the worker's engine ran ${report.blocks} blocks`)
    t.equal(code, 0, 'the worker exits with 0')
  })
}

t.test('a worker terminated while its engine runs tears down cleanly', async (t) => {
  const w = new Worker(fixture, { workerData: { how: 'terminate' } })
  const report = await new Promise<{ blocks: number }>((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  t.ok(report.blocks > 0, 'the engine was running')
  const code = await w.terminate()
  t.equal(code, 1, 'terminate() ends the worker (exit code 1) without crashing the process')
  const e = new Engine({ backend: 'sim', inputs: 2, outputs: 2 })
  e.start()
  t.ok(await until(() => e.blockCounter() > 0), 'and the main thread still runs engines afterwards')
  e.stop()
})

for (const how of ['leave', 'exit']) {
  t.test(`a process that ends without stop() exits cleanly (${how})`, async (t) => {
    const r = spawnSync(process.execPath, [fixture, how], { encoding: 'utf8', timeout: 20_000 })
    t.equal(r.signal, null, 'no crash signal')
    t.equal(r.status, 0, `exit status 0 ${r.stderr}`)
    t.ok((JSON.parse(r.stdout) as { blocks: number }).blocks > 0, 'the engine ran')
  })
}

t.test('the loader looks beside the executable, then in the repo build', async (t) => {
  const { nativeCandidates } = await import('../../firmware/engine/native.ts')
  const list = nativeCandidates({})
  t.equal(list[0], join(dirname(process.execPath), 'addons', 'engine.node'), 'first beside the executable (single-binary image)')
  t.match(list[1], /addons\/build\/Release\/engine\.node$/, 'then the repository build')
  t.same(nativeCandidates({ FIRMWARE_ENGINE_NODE: '/opt/fw/engine.node' }), ['/opt/fw/engine.node'], 'an explicit path is the only candidate')
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const { loadNative } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'firmware', 'engine', 'native.ts'))})
    try { loadNative(); console.log('loaded') } catch (e) { console.log(e.code + ' ' + e.message) }`,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, FIRMWARE_ENGINE_NODE: '/nonexistent/engine.node' },
    },
  )
  t.match(r.stdout, /FW_ERR_ENGINE the native audio engine is not built .*\/nonexistent\/engine\.node/, 'a missing addon is a clear error')
})

t.test('the board profiles build their engines', async (t) => {
  const { loadProfile } = await import('../../firmware/board/profile.ts')
  const { createEngineFromProfile } = await import('../../firmware/board/engine.ts')
  const sim = createEngineFromProfile(loadProfile('sim'))
  t.equal(sim.options.inputs, 8, 'sim: 8 inputs')
  t.equal(sim.options.beams.length, 4, 'sim: 4 beams')
  sim.start()
  t.ok(await until(() => sim.blockCounter() > 0), 'sim: runs')
  sim.stop()
  const rack = createEngineFromProfile(loadProfile('jetson-agx-rack'))
  t.equal(rack.options.backend, 'alsa', 'the rack unit uses ALSA')
  t.throws(() => rack.start(), { code: 'FW_ERR_UNKNOWN_DEVICE' }, 'and without its sound card says the device is unknown')
})

t.test('the largest engine (64 inputs, 16 outputs, 16-mic array) runs', async (t) => {
  const mics = Array.from({ length: 16 }, (_, m) => [0.1 * Math.cos((m * Math.PI) / 8), 0.1 * Math.sin((m * Math.PI) / 8), 0] as [number, number, number])
  const e = new Engine({
    backend: 'null',
    inputs: 64,
    outputs: 16,
    array: { sampleRate: 48000, mics },
    maxBlocks: 200,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
  })
  e.start()
  await e.finished()
  t.equal(e.blockCounter(), 200, '200 blocks')
  const p = e.poll()
  t.equal(p.meters?.inputPeakDb.length, 64, 'meters for 64 inputs')
  t.equal(p.meters?.outputPeakDb.length, 16, 'and 16 outputs')
  e.stop()
})
