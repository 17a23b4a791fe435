// Beams and DOA inside the running engine: the sim stage puts a noise source at 60 degrees in
// front of an 8-mic ring; beams pointed at it are louder than beams pointed away, the DOA track
// finds it, beam 0 follows it by itself, and steering commands move beams while running.
import t from 'tap'
import type { EnginePoll } from '../../firmware/engine/engine.ts'
import { Engine } from '../../firmware/engine/engine.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ring8 = {
  sampleRate: 48000,
  mics: Array.from({ length: 8 }, (_, m) => [0.1 * Math.cos((m * Math.PI) / 4), 0.1 * Math.sin((m * Math.PI) / 4), 0] as [number, number, number]),
}

/** Mean output RMS (dB) over the meter windows seen while polling for `ms`. */
async function listen(e: Engine, ms: number): Promise<{ rms: number[]; doa: EnginePoll['doa'] }> {
  const sums = new Array<number>(e.options.outputs).fill(0)
  let n = 0
  const doa: EnginePoll['doa'] = []
  const end = Date.now() + ms
  while (Date.now() < end) {
    await sleep(20)
    const p = e.poll()
    doa.push(...p.doa)
    if (p.meters) {
      p.meters.outputRmsDb.forEach((v, k) => {
        sums[k]! += 10 ** (v / 10)
      })
      n++
    }
  }
  return { rms: sums.map((s) => 10 * Math.log10(s / Math.max(1, n))), doa }
}

t.test('beams, DOA and steering on a simulated stage', async (t) => {
  const e = new Engine({
    backend: 'sim',
    array: ring8,
    outputs: 4,
    heartbeatTimeoutMs: 0, // not a fail-open test
    beams: [{ auto: true, azimuth: 180 }, { azimuth: 60 }, { azimuth: 240 }, { azimuth: 150 }],
    sim: { sources: [{ azimuth: 60, kind: 'noise', levelDb: -20 }], noiseDb: -40 },
  })
  e.start()
  await sleep(300) // let the DOA settle and beam 0 swing round
  const first = await listen(e, 600)
  const az = first.doa.map((d) => d.azimuth).sort((a, b) => a - b)
  const median = az[az.length >> 1]!
  t.ok(az.length > 20, `DOA estimates arrive (${az.length})`)
  t.ok(Math.abs(median - 60) < 2, `the DOA track finds the source (median ${median.toFixed(2)} deg)`)
  const [auto, toward, away] = first.rms as [number, number, number, number]
  t.comment(`beam levels: auto ${auto.toFixed(1)} dB, at 60 deg ${toward.toFixed(1)} dB, at 240 deg ${away.toFixed(1)} dB`)
  t.ok(toward - away > 6, 'a beam pointed at the source is louder than one pointed away')
  t.ok(Math.abs(auto - toward) < 1, 'beam 0, started at 180 deg, followed the DOA to the source')
  const beam0 = e.beams()[0]!
  t.ok(beam0.auto && Math.abs(beam0.azimuth - 60) < 3, `beams() shows beam 0 following, now at ${beam0.azimuth.toFixed(1)} deg`)

  e.steerBeam(2, 60)
  await sleep(200)
  const second = await listen(e, 400)
  t.ok(second.rms[2]! - away > 6, `steering beam 2 onto the source raises it (${away.toFixed(1)} -> ${second.rms[2]!.toFixed(1)} dB)`)

  e.setBeamAuto(0, false)
  e.steerBeam(0, 240)
  e.setBeamformer(3, 'mvdr')
  await sleep(200)
  const third = await listen(e, 400)
  t.ok(toward - third.rms[0]! > 6, 'beam 0 stays where it is put once auto is off')
  t.same(
    e.beams().map((b) => [b.kind, Math.round(b.azimuth), b.auto]),
    [
      ['das', 240, false],
      ['das', 60, false],
      ['das', 60, false],
      ['mvdr', 150, false],
    ],
    "beams() reports every beam's kind and direction after the commands",
  )
  // Live, a full DOA ring drops the block rather than make the audio thread wait (by design): on a
  // machine whose cores are taken by other work the DOA thread can be starved for a moment and miss
  // a few. What this checks is that it keeps up with the blocks as a rule; a DOA too slow for the
  // live path would miss most of them.
  const dropped = e.stats().droppedAnalysis
  const blocks = e.blockCounter()
  t.ok(dropped <= blocks / 10, `the DOA thread kept up: ${dropped} of ${blocks} blocks missed`)
  e.stop()
})
