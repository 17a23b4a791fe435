// meters: the levels of the last engine block.
import type { Meters } from '../../engine/types.ts'
import { FirmwareError } from '../../errors.ts'
import { spec } from '../types.ts'

function db(v: number): string {
  return Number.isFinite(v) ? v.toFixed(1) : '-inf'
}

function metersValue(m: Meters) {
  return {
    in_peak: m.inputPeakDb,
    in_rms: m.inputRmsDb,
    out_peak: m.outputPeakDb,
    out_rms: m.outputRmsDb,
    gr: m.gainReductionDb,
  }
}

export const meters = spec({
  name: 'meters',
  summary: 'input and output peak/RMS levels (dBFS) and compressor gain reduction (dB)',
  examples: ['meters'],
  permission: 'observe',
  args: [],
  handler: (_a, { app }) => {
    const m = app.meters()
    if (!m) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'no meter readings yet: the engine has not produced a block; try again in a moment')
    return metersValue(m)
  },
  human: (v: ReturnType<typeof metersValue>) =>
    [
      `in  peak ${v.in_peak.map(db).join(' ')}`,
      `in  rms  ${v.in_rms.map(db).join(' ')}`,
      `out peak ${v.out_peak.map(db).join(' ')}`,
      `out rms  ${v.out_rms.map(db).join(' ')}`,
      `out gr   ${v.gr.map(db).join(' ')}`,
    ].join('\n'),
})
