// The native fail-open layer, through the real addon on the sim backend with its recorder:
// switching to dry does not click; a stale heartbeat (a really blocked event loop) and a chain
// that overruns its budget each make the audio thread go dry by itself and say why; only
// setProcessing(true) brings the processed signal back.
import t from 'tap'
import type { EngineOptions } from '../../firmware/engine/engine.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import type { EngineEvent } from '../../firmware/engine/types.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const busyWait = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end) {
    /* the event loop is blocked */
  }
}

/** One line input with a 1 kHz tone and no noise, one output; processed = tone at -12 dB. */
function toneEngine(extra: Partial<EngineOptions> = {}): Engine {
  const e = new Engine({
    backend: 'sim',
    inputs: 1,
    outputs: 1,
    sim: { sources: [{ azimuth: 0, kind: 'tone', freqHz: 1000, levelDb: -10 }], noiseDb: -300, recordSeconds: 3 },
    ...extra,
  })
  e.setOutputGain(0, -12)
  return e
}

function maxStep(x: Float32Array, from = 1, to = x.length): number {
  let m = 0
  for (let i = Math.max(1, from); i < to; i++) m = Math.max(m, Math.abs(x[i]! - x[i - 1]!))
  return m
}

/** Longest run of samples where the output is bit-identical to the input (the dry path). */
function longestDryRun(input: Float32Array, output: Float32Array, frames: number): number {
  let best = 0,
    run = 0
  for (let i = 0; i < frames; i++) {
    run = output[i] === input[i] ? run + 1 : 0
    best = Math.max(best, run)
  }
  return best
}

async function switchRun(crossfadeMs: number) {
  const e = toneEngine({ crossfadeMs })
  e.start()
  await sleep(300)
  e.setProcessing(false)
  await sleep(300)
  e.setProcessing(true)
  await sleep(300)
  e.stop()
  return e.recording()
}

t.test("switching to dry and back on a sine makes no step larger than the sine's own", async (t) => {
  const rec = await switchRun(10)
  const input = rec.input[0]!,
    output = rec.output[0]!
  const own = maxStep(input, 1, rec.frames)
  const seen = maxStep(output, 1, rec.frames)
  t.comment(`sine's largest step ${own.toFixed(5)}, output's largest step ${seen.toFixed(5)}`)
  // 1% covers the fade's own slope added to the sine's (0.75/480 of the peak per sample).
  t.ok(seen <= own * 1.01, 'no click: the output never steps further than the sine itself')
  t.ok(longestDryRun(input, output, rec.frames) > 0.25 * 48000, 'while dry, output samples equal input samples')
})

t.test('the same switch without a crossfade does click (the check can fail)', async (t) => {
  const rec = await switchRun(0)
  const own = maxStep(rec.input[0]!, 1, rec.frames)
  const seen = maxStep(rec.output[0]!, 1, rec.frames)
  t.ok(seen > own * 1.5, `a hard switch steps ${(seen / own).toFixed(2)}x the sine's largest step`)
})

t.test('a stale heartbeat makes the audio thread go dry by itself, until setProcessing(true)', async (t) => {
  // A generous timeout so a busy test machine's timer jitter cannot trip it; the loop is
  // blocked for much longer than that.
  const e = toneEngine({ heartbeatIntervalMs: 0, heartbeatTimeoutMs: 250 })
  const events: EngineEvent[] = []
  const tick = setInterval(() => {
    e.heartbeat()
    events.push(...e.poll().events)
  }, 10)
  e.heartbeat()
  e.start()
  await sleep(200)
  t.equal(e.stats().processed, true, 'processed while the heartbeat is fresh')
  const blockedAt = e.blockCounter()
  busyWait(1000)
  await sleep(200)
  events.push(...e.poll().events)
  const bypass = events.find((ev) => ev.type === 'native-bypass')
  t.ok(bypass, 'a native-bypass event was reported')
  if (bypass?.type === 'native-bypass') {
    t.equal(bypass.cause, 'heartbeat-stale', 'its cause is heartbeat-stale')
    t.comment(
      `heartbeat age when the audio thread went dry: ${bypass.detail.toFixed(1)} ms (timeout 250 ms, block ${(64 / 48).toFixed(2)} ms); ${bypass.block - blockedAt} blocks after the loop blocked`,
    )
  }
  const s = e.stats()
  t.equal(s.processed, false, 'still dry although the heartbeat is fresh again')
  t.equal(s.nativeBypass, 'heartbeat-stale', 'stats name the native bypass')
  e.setProcessing(true)
  await sleep(100)
  events.push(...e.poll().events)
  t.equal(e.stats().processed, true, 'setProcessing(true) with a fresh heartbeat brings processing back')
  t.ok(
    events.some((ev) => ev.type === 'processed'),
    'and a processed event says so',
  )
  clearInterval(tick)
  e.stop()
  const rec = e.recording()
  t.ok(longestDryRun(rec.input[0]!, rec.output[0]!, rec.frames) > 0.6 * 48000, 'during the bypass the output equals the input: no gap')
  t.ok(maxStep(rec.output[0]!, 1, rec.frames) <= maxStep(rec.input[0]!, 1, rec.frames) * 1.01, 'and no click on the way out or back')
})

t.test('the heartbeat does not lift a native bypass by itself', async (t) => {
  const e = toneEngine({ heartbeatIntervalMs: 0, heartbeatTimeoutMs: 100 })
  e.heartbeat()
  e.start()
  await sleep(400) // no heartbeat for 400 ms: stale
  const tick = setInterval(() => e.heartbeat(), 10)
  await sleep(200)
  t.equal(e.stats().nativeBypass, 'heartbeat-stale', 'bypassed on the stale heartbeat')
  t.equal(e.stats().processed, false, 'a fresh heartbeat alone does not resume processing')
  clearInterval(tick)
  e.stop()
})

t.test('a chain that overruns its budget K blocks in a row goes dry within K blocks', async (t) => {
  const K = 4
  // The heartbeat check is off here so only the chain's lateness can cause a bypass.
  const e = toneEngine({ overrunBlocks: K, heartbeatTimeoutMs: 0 })
  e.start()
  await sleep(100)
  // 3 ms of busy work in a 1.33 ms block, for 6 blocks.
  e.injectDspSpin(3000, 6)
  await sleep(300)
  const events = e.poll().events
  const overruns = events.filter((ev) => ev.type === 'overrun')
  const bypass = events.find((ev) => ev.type === 'native-bypass')
  t.ok(bypass, 'a native-bypass event was reported')
  if (bypass?.type === 'native-bypass' && overruns[0]) {
    t.equal(bypass.cause, 'dsp-overrun', 'its cause is dsp-overrun')
    t.ok(bypass.block - overruns[0].block <= K - 1, `bypass on the ${bypass.block - overruns[0].block + 1}th late block (K = ${K})`)
  }
  t.equal(e.stats().nativeBypass, 'dsp-overrun', 'stats name the native bypass')
  e.setProcessing(true)
  await sleep(100)
  t.equal(e.stats().processed, true, 'setProcessing(true) brings processing back once the chain is on time')
  e.stop()
})

t.test('a chain inside its budget never bypasses', async (t) => {
  const e = toneEngine({ overrunBlocks: 4, heartbeatTimeoutMs: 0 })
  e.start()
  e.injectDspSpin(100, 200)
  await sleep(400)
  const events = e.poll().events
  t.notOk(
    events.some((ev) => ev.type === 'native-bypass'),
    'no native bypass',
  )
  t.equal(e.stats().processed, true, 'still processed')
  e.stop()
})

t.test('a late audio thread on the paced sim backend counts missed deadlines as xruns', async (t) => {
  const e = toneEngine({ overrunBlocks: 0, heartbeatTimeoutMs: 0 })
  e.start()
  await sleep(100)
  const before = e.stats().xruns
  e.injectDspSpin(5000, 10) // 50 ms of work in 13 ms of blocks
  await sleep(300)
  const events = e.poll().events
  const xruns = e.stats().xruns - before
  t.ok(xruns > 0, `missed deadlines are counted (${xruns})`)
  t.ok(
    events.some((ev) => ev.type === 'xrun'),
    'and reported as xrun events',
  )
  t.equal(e.stats().processed, true, 'with the budget check off they do not bypass')
  e.stop()
})
