// Live tracks (issue 17, third round; docs/mixes.md): what tracking costs the DOA thread. One sim
// engine paced at the block period (the sim board's 8-mic ring, two speech-like talkers at 60 and
// 200 degrees) runs three phases of equal length: tracking off (as before the feature), on (the
// DOA thread also runs the multi-peak localiser and fills the peak ring, drained here every 50 ms
// into the tracker), and off again. Per phase: the DOA thread's and the audio thread's CPU (per
// thread, /proc/self/task/<tid>/schedstat), the localiser frames drained and dropped, and at the
// end of the on phase the confirmed tracks.
import { loadProfile } from '../../firmware/board/profile.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { SourceTracker } from '../../firmware/mix/tracker.ts'
import { type BenchRow, type BenchSection, fixed, threadCpuNs, threadIds } from './lib.ts'

const section: BenchSection = {
  name: 'tracking',
  async run(ctx) {
    const phaseS = ctx.quick ? 2 : 6
    const p = loadProfile('sim')
    const engine = new Engine({
      backend: 'sim',
      sampleRate: 48000,
      blockSize: p.audio.blockSize,
      inputs: 8,
      outputs: 4,
      array: p.array!,
      sim: {
        noiseDb: -50,
        sources: [
          { azimuth: 60, elevation: 0, kind: 'speechlike', freqHz: 220, levelDb: -20 },
          { azimuth: 200, elevation: 0, kind: 'speechlike', freqHz: 150, levelDb: -22 },
        ],
      },
    })
    const before = new Set(threadIds())
    engine.start()
    // The DOA thread is started before the audio thread: the lower of the two new thread ids.
    await new Promise((r) => setTimeout(r, 200))
    const tids = threadIds()
      .filter((t) => !before.has(t))
      .sort((a, b) => Number(a) - Number(b))
    const cpu = () => tids.map((t) => threadCpuNs(t) ?? Number.NaN)
    const tracker = new SourceTracker()
    let frames = 0
    const phase = async (name: string) => {
      const c0 = cpu()
      const f0 = frames
      const t0 = performance.now()
      while (performance.now() - t0 < phaseS * 1000) {
        await new Promise((r) => setTimeout(r, 50))
        engine.heartbeat()
        engine.poll()
        for (const f of engine.pollPeaks().frames) {
          tracker.update(f.azimuth)
          frames++
        }
      }
      const wall = (performance.now() - t0) / 1000
      const c1 = cpu()
      const pct = c1.map((v, i) => ((v - c0[i]!) / 1e9 / wall) * 100)
      return { name, doa: pct[0]!, audio: pct[1]!, frames: frames - f0 }
    }
    const rows: BenchRow[] = []
    try {
      ctx.log(`tracking off, on, off: ${phaseS} s each`)
      const off = await phase('off')
      engine.setTracking(true)
      const on = await phase('on')
      const tracks = tracker.tracks()
      engine.setTracking(false)
      const offAgain = await phase('off again')
      const dropped = engine.pollPeaks().dropped
      for (const r of [off, on, offAgain]) {
        rows.push({
          metric: `DOA thread CPU, tracking ${r.name}`,
          value: fixed(r.doa, 2),
          unit: '%',
          note: `audio thread ${fixed(r.audio, 2)} %; ${r.frames} localiser frames`,
        })
      }
      rows.push(
        { metric: 'DOA thread CPU, on / off', value: fixed(on.doa / off.doa, 2), unit: 'x' },
        { metric: 'DOA thread CPU, off again / off', value: fixed(offAgain.doa / off.doa, 2), unit: 'x', target: '~1' },
        {
          metric: 'confirmed tracks after the on phase',
          value: tracks.map((t) => `${t.id}@${fixed(t.azimuth, 1)}`).join(' '),
          unit: 'deg',
          note: `truth 60 and 200; ${dropped} frames dropped (ring full)`,
        },
      )
    } finally {
      engine.stop()
    }
    return rows
  },
}

export default section
