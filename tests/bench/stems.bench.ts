// Separated sources live in the listener mixes (issue 17, fourth round; docs/mixes.md): how far the
// streamer's separator lifts a tracked talker over the bed, and what it costs. One sim engine (the
// sim board's 8-mic ring, paced, talkers A at 60 and B at 200 degrees) streams two mixes side by
// side to UDP sinks: the stem of the slot aimed at A alone, and the bed alone (the mean of the mics);
// the other slot is aimed at B (the post-filter's competitor). Each capture is decoded by GStreamer
// and correlated (800-4000 Hz, best lag) with each talker's own signal: the separation gain is the
// stem's A/B correlation ratio over the bed's, in dB. The cost: the streamer thread's CPU time in the
// separator per second of audio.
import { loadProfile } from '../../firmware/board/profile.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { bestCorrelation, decode, FS, references, sink, TALKERS } from '../mix/stems.ts'
import { type BenchRow, type BenchSection, fixed } from './lib.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const section: BenchSection = {
  name: 'stems',
  async run({ tmp, quick, log }): Promise<BenchRow[]> {
    const seconds = quick ? 3 : 6
    const array = loadProfile('sim').array!
    const engine = new Engine({
      backend: 'sim',
      sampleRate: FS,
      inputs: array.mics.length,
      outputs: 4,
      array,
      sim: { sources: TALKERS.map((s) => ({ ...s, elevation: 0, kind: 'speechlike' as const })), noiseDb: -50 },
      heartbeatTimeoutMs: 0,
    })
    const startedAt = Date.now()
    engine.start()
    const sinks = { stem: await sink(), bed: await sink() }
    const streams = new MixStreams(engine.mixPort(), 20)
    try {
      streams.publish(validateProfile({ name: 'stem', sources: [], tracks: [{ track: 1, gainDb: 0 }], bedDb: -60, compressor: null }), {
        host: '127.0.0.1',
        port: sinks.stem.port,
        bitrate: 96000,
      })
      streams.publish(validateProfile({ name: 'bed', sources: [], bedDb: 0, compressor: null }), { host: '127.0.0.1', port: sinks.bed.port, bitrate: 96000 })
      streams.setDirections([
        { azimuth: TALKERS[0]!.azimuth, active: true },
        { azimuth: TALKERS[1]!.azimuth, active: true },
      ])
      await sleep(1000)
      const cpu0 = streams.stats()?.separatorCpuUs ?? 0
      const sep0 = streams.stats()?.separated ?? 0
      for (const s of Object.values(sinks)) s.recording = true
      await sleep(seconds * 1000)
      for (const s of Object.values(sinks)) s.recording = false
      const st = streams.stats()
      const cpuPct = (((st?.separatorCpuUs ?? 0) - cpu0) / 1e6 / (((st?.separated ?? 0) - sep0) * 0.02)) * 100
      const refs = references(Math.min(21, Math.ceil((Date.now() - startedAt) / 1000) + 1))
      const corr = (name: 'stem' | 'bed') => {
        const x = decode(tmp, `stems-${name}`, sinks[name].packets).subarray(0, seconds * FS)
        return refs.map((r) => bestCorrelation(x, r)) as [number, number]
      }
      const [stemA, stemB] = corr('stem')
      const [bedA, bedB] = corr('bed')
      log(`stem A ${fixed(stemA)} B ${fixed(stemB)}; bed A ${fixed(bedA)} B ${fixed(bedB)}`)
      const gainDb = 20 * Math.log10(stemA / stemB / (bedA / bedB))
      return [
        { metric: 'stem of A: correlation with talker A / talker B', value: `${fixed(stemA)} / ${fixed(stemB)}` },
        { metric: 'bed: correlation with talker A / talker B', value: `${fixed(bedA)} / ${fixed(bedB)}` },
        { metric: 'separation gain of the live stem over the bed (A/B ratio)', value: fixed(gainDb, 1), unit: 'dB' },
        { metric: 'separator CPU on the streamer thread (4 slots, 8 mics)', value: fixed(cpuPct, 1), unit: '% of a core' },
      ]
    } finally {
      streams.stop()
      engine.stop()
      for (const s of Object.values(sinks)) s.sock.close()
    }
  },
}

export default section
