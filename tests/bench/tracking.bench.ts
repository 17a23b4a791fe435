// Live tracks (issue 17, third round; docs/mixes.md): what tracking costs the DOA thread. One sim
// engine paced at the block period (the sim board's 8-mic ring, two speech-like talkers at 60 and
// 200 degrees) runs three phases of equal length: tracking off (as before the feature), on (the
// DOA thread also runs the multi-peak localiser and fills the peak ring, drained here every 50 ms
// into the tracker), and off again. Per phase: the DOA thread's and the audio thread's CPU (per
// thread, /proc/self/task/<tid>/schedstat), the localiser frames drained and dropped, and at the
// end of the on phase the confirmed tracks.
import { loadProfile } from '../../firmware/board/profile.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { localise, trackFrames } from '../../firmware/mix/separation.ts'
import { SourceTracker, scoreTracking, type Track } from '../../firmware/mix/tracker.ts'
import { writeWav } from '../../firmware/wav/wav.ts'
import { renderScene, ring, TEXTS } from '../separation/scene.ts'
import { type BenchRow, type BenchSection, fixed, threadCpuNs, threadIds } from './lib.ts'

/**
 * The live path on a known scene: two espeak-ng talkers crossing (30<->150 degrees, each pausing)
 * on the 8-mic ring, played by the file backend with tracking on; the peak ring drained every
 * 2 ms while it runs, the tracker on the drained frames, scored against the truth beside the
 * offline path (localise + trackFrames) on the same scene.
 */
async function liveScene(tmp: string, seconds: number): Promise<BenchRow[]> {
  const geometry = ring(8, 0.05)
  const scene = renderScene(
    geometry,
    [
      { voice: 'en+m3', text: TEXTS[0]!, from: 30, to: 150, pauses: [[(2.0 * seconds) / 8, (2.8 * seconds) / 8]] },
      { voice: 'en+f3', text: TEXTS[1]!, from: 150, to: 30, pauses: [[(4.5 * seconds) / 8, (5.2 * seconds) / 8]] },
    ],
    seconds,
  )
  const n = scene.mics[0]!.length
  const data = new Float32Array(n * 8)
  for (let i = 0; i < n; i++) for (let m = 0; m < 8; m++) data[i * 8 + m] = scene.mics[m]![i]!
  writeWav(`${tmp}/scene.wav`, { channels: 8, sampleRate: 48000 }, data)
  const engine = new Engine({
    backend: 'file',
    sampleRate: 48000,
    blockSize: 64,
    inputs: 8,
    outputs: 4,
    array: geometry,
    file: { in: `${tmp}/scene.wav`, out: `${tmp}/out.wav`, format: 'float32' },
    heartbeatTimeoutMs: 0,
    heartbeatIntervalMs: 0,
    overrunBlocks: 0,
    realtimePriority: false,
  })
  engine.setTracking(true)
  const tracker = new SourceTracker()
  const times: number[] = []
  const out: Track[][] = []
  const drain = () => {
    for (const f of engine.pollPeaks().frames) {
      // The engine stamps a frame with its end; the truth is taken at its centre, as offline.
      times.push(f.t - 512 / 48000)
      out.push(tracker.update(f.azimuth))
    }
  }
  engine.start()
  while (!engine.stats().finished) {
    drain()
    await new Promise((r) => setTimeout(r, 2))
  }
  engine.stop()
  drain()
  const dropped = engine.pollPeaks().dropped
  const live = scoreTracking(
    times.map((t) => scene.truthAt(t)),
    out,
  )
  const frames = localise(geometry, scene.mics)
  const offline = scoreTracking(
    frames.map((f) => scene.truthAt(f.t)),
    trackFrames(frames).tracks,
  )
  const per = (v: number[], d = 1) => v.map((x) => fixed(x, d)).join(' / ')
  const label = `8-mic ring, 2 talkers crossing, ${seconds} s`
  return [
    {
      metric: `${label}: live median DOA error per talker`,
      value: per(live.medianErrorDeg),
      unit: 'deg',
      note: `offline ${per(offline.medianErrorDeg)}; ${times.length} live frames, ${dropped} dropped`,
    },
    {
      metric: `${label}: live identity switches per talker`,
      value: live.identitySwitches.join(' / '),
      note: `offline ${offline.identitySwitches.join(' / ')}`,
    },
    {
      metric: `${label}: live missed frames per talker`,
      value: live.missedFrames.map((m, i) => `${m}/${live.activeFrames[i]}`).join(' / '),
      note: `offline ${offline.missedFrames.map((m, i) => `${m}/${offline.activeFrames[i]}`).join(' / ')}`,
    },
  ]
}

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
    ctx.log('the live path on a rendered two-talker scene')
    rows.push(...(await liveScene(ctx.tmp, ctx.quick ? 4 : 8)))
    return rows
  },
}

export default section
