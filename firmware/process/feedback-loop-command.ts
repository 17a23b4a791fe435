// `firmware process --loop-gain DB [--room R] [--suppress]`: the input (mixed to mono) is the
// programme at the microphone of a simulated acoustic loop; OUT.wav is the loudspeaker feed and
// REPORT.json the feedback alarms and notches. See docs/feedback.md.

import { renameSync, writeFileSync } from 'node:fs'
import { FirmwareError } from '../errors.ts'
import { readWav, writeWav } from '../wav/wav.ts'
import { startFeedbackClassifier } from './feedback-classifier.ts'
import { parseRoom, rmsDb, runLoopWithClassifier } from './feedback-loop.ts'
import type { ProcessOptions } from './options.ts'

export async function runLoopCommand(opts: ProcessOptions): Promise<string> {
  const loop = opts.loop!
  const room = parseRoom(loop.room)
  const { info, data } = readWav(opts.in)
  if (info.sampleRate !== 48000) throw new FirmwareError('FW_ERR_BAD_OPTION', `process: --loop-gain needs a 48 kHz input, ${opts.in} is ${info.sampleRate} Hz`)
  const n = info.frames
  const mono = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let c = 0; c < info.channels; c++) s += data[i * info.channels + c]!
    mono[i] = s / info.channels
  }
  const t0 = performance.now()
  // The classifier's second opinion, as on the unit: its feedback probability every 0.25 s.
  const cls = await startFeedbackClassifier()
  const trace: Array<{ t: number; p: number }> = []
  let r: Awaited<ReturnType<typeof runLoopWithClassifier>>
  try {
    r = await runLoopWithClassifier(mono, { gainDb: loop.gainDb, room, suppress: loop.suppress, shiftHz: loop.shiftHz, afc: loop.afc }, async (x) => {
      const p = await cls.classify(x)
      trace.push({ t: Math.round((trace.length * 0.25 + 0.55) * 1000) / 1000, p: Math.round(p * 1000) / 1000 })
      return p
    })
  } finally {
    await cls.stop()
  }
  writeWav(opts.out, { channels: 1, sampleRate: 48000, format: opts.format }, r.speaker)
  const report = {
    version: 1,
    input: { ...info, path: opts.in, seconds: n / 48000 },
    output: { path: opts.out, channels: 1, format: opts.format, what: 'loudspeaker feed of the simulated loop' },
    loop: {
      gainDb: loop.gainDb,
      room: loop.room,
      roomSpec: room,
      suppress: loop.suppress,
      shiftHz: loop.shiftHz,
      afc: r.afc ? { ...r.afc.settings, misalignmentDb: Math.round(r.afc.misalignmentDb * 100) / 100 } : null,
      criticalHz: Math.round(r.criticalHz * 10) / 10,
    },
    feedback: { alarms: r.alarms, notches: r.notches, notchChanges: r.notchChanges, classifier: { model: 'crowd_state', pFeedback: trace } },
    meters: { programmeRmsDb: Math.round(rmsDb(mono) * 100) / 100, loudspeakerRmsDb: Math.round(rmsDb(r.speaker) * 100) / 100 },
    elapsedSeconds: Math.round(performance.now() - t0) / 1000,
  }
  const tmp = `${opts.report}.tmp-${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`)
  renameSync(tmp, opts.report)
  const a = r.alarms[0]
  return `loop at ${loop.gainDb} dB in ${loop.room}${loop.shiftHz ? `, shifted ${loop.shiftHz} Hz` : ''}${r.afc ? `, AFC (misalignment ${r.afc.misalignmentDb.toFixed(1)} dB)` : ''}: ${r.alarms.length} feedback alarm(s)${a ? `, first at ${a.t.toFixed(2)} s, ${a.hz} Hz, ${a.levelDb} dBFS, ${a.growthDbPerS} dB/s` : ''}; ${r.notches.length} notch(es) in place; wrote ${opts.out} and ${opts.report}`
}
