// The output processing: gain, EQ bands, compressor, and the settings of one output or of all.
import type { ApplianceApi } from '../../contract/appliance.ts'
import type { BandParams, CompressorParams } from '../../engine/types.ts'
import { FirmwareError } from '../../errors.ts'
import { spec } from '../types.ts'
import { bandCount, num, outputArg } from './args.ts'

function outputValue(app: ApplianceApi, k: number) {
  const o = app.outputSettings()[k]
  if (!o) throw new FirmwareError('FW_ERR_BAD_ARG', `output ${k + 1} does not exist; this unit has ${app.profile.audio.outputs} outputs`)
  return {
    output: k + 1,
    gain: o.gainDb,
    eq: o.eq.map((b, i) => ({ band: i + 1, type: b.type, freq: b.freqHz, gain: b.gainDb, q: b.q, enabled: b.enabled })),
    comp: {
      threshold: o.compressor.thresholdDb,
      ratio: o.compressor.ratio,
      knee: o.compressor.kneeDb,
      attack: o.compressor.attackMs,
      release: o.compressor.releaseMs,
      makeup: o.compressor.makeupDb,
      enabled: o.compressor.enabled,
    },
  }
}

export const gain = spec({
  name: 'gain',
  summary: 'set an output gain in dB',
  examples: ['gain 1 -6', 'gain output=2 db=0'],
  permission: 'operate',
  args: [outputArg, { name: 'db', type: 'number', min: -80, max: 12, unit: 'dB', help: 'gain in dB, -80 to +12' }],
  handler: (args, { app, principal }) => {
    app.setOutputGain(num(args, 'output') - 1, num(args, 'db'), principal.name)
    return { output: args.output, gain: args.db }
  },
})

export const eq = spec({
  name: 'eq',
  summary: 'change one EQ band of an output (only the fields given change)',
  examples: ['eq 1 2 freq=250 gain=-3 q=1.4', 'eq 1 1 type=highpass freq=80', 'eq 2 3 enabled=off'],
  permission: 'operate',
  args: [
    outputArg,
    { name: 'band', type: 'int', min: 1, max: bandCount, help: 'band number, from 1' },
    {
      name: 'type',
      type: 'enum',
      values: ['peak', 'lowshelf', 'highshelf', 'highpass', 'lowpass'],
      optional: true,
      help: 'peak, lowshelf, highshelf, highpass or lowpass',
    },
    { name: 'freq', type: 'number', min: 20, max: 20000, unit: 'Hz', optional: true, help: 'centre or corner frequency in Hz, 20 to 20000' },
    { name: 'gain', type: 'number', min: -24, max: 24, unit: 'dB', optional: true, help: 'band gain in dB, -24 to +24' },
    { name: 'q', type: 'number', min: 0.1, max: 20, optional: true, help: 'Q, 0.1 to 20' },
    { name: 'enabled', type: 'bool', optional: true, help: 'on or off' },
  ],
  handler: (args, { app, principal }) => {
    const o = num(args, 'output') - 1
    const b = num(args, 'band') - 1
    const cur = app.outputSettings()[o]?.eq[b]
    if (!cur) throw new FirmwareError('FW_ERR_BAD_ARG', `eq: output ${o + 1} has no band ${b + 1}`)
    if (['type', 'freq', 'gain', 'q', 'enabled'].every((k) => args[k] === undefined)) {
      throw new FirmwareError('FW_ERR_BAD_ARG', 'eq: nothing to change; give at least one of type, freq, gain, q, enabled; e.g. eq 1 2 freq=250 gain=-3')
    }
    const next: BandParams = {
      type: (args.type as BandParams['type'] | undefined) ?? cur.type,
      freqHz: (args.freq as number | undefined) ?? cur.freqHz,
      gainDb: (args.gain as number | undefined) ?? cur.gainDb,
      q: (args.q as number | undefined) ?? cur.q,
      enabled:
        (args.enabled as boolean | undefined) ??
        (args.type !== undefined || args.freq !== undefined || args.gain !== undefined || args.q !== undefined ? true : cur.enabled),
    }
    app.setEqBand(o, b, next, principal.name)
    return { output: o + 1, band: b + 1, type: next.type, freq: next.freqHz, gain: next.gainDb, q: next.q, enabled: next.enabled }
  },
})

export const comp = spec({
  name: 'comp',
  summary: 'change the compressor of an output (only the fields given change)',
  examples: ['comp 1 threshold=-18 ratio=3', 'comp 2 enabled=off'],
  permission: 'operate',
  args: [
    outputArg,
    { name: 'threshold', type: 'number', min: -60, max: 0, unit: 'dBFS', optional: true, help: 'threshold in dBFS, -60 to 0' },
    { name: 'ratio', type: 'number', min: 1, max: 20, optional: true, help: 'ratio, 1 to 20' },
    { name: 'knee', type: 'number', min: 0, max: 24, unit: 'dB', optional: true, help: 'knee width in dB, 0 to 24' },
    { name: 'attack', type: 'number', min: 0.1, max: 200, unit: 'ms', optional: true, help: 'attack in ms, 0.1 to 200' },
    { name: 'release', type: 'number', min: 5, max: 5000, unit: 'ms', optional: true, help: 'release in ms, 5 to 5000' },
    { name: 'makeup', type: 'number', min: 0, max: 24, unit: 'dB', optional: true, help: 'makeup gain in dB, 0 to 24' },
    { name: 'enabled', type: 'bool', optional: true, help: 'on or off' },
  ],
  handler: (args, { app, principal }) => {
    const o = num(args, 'output') - 1
    const cur = app.outputSettings()[o]?.compressor
    if (!cur) throw new FirmwareError('FW_ERR_BAD_ARG', `comp: output ${o + 1} does not exist`)
    const keys = ['threshold', 'ratio', 'knee', 'attack', 'release', 'makeup']
    if ([...keys, 'enabled'].every((k) => args[k] === undefined)) {
      throw new FirmwareError(
        'FW_ERR_BAD_ARG',
        'comp: nothing to change; give at least one of threshold, ratio, knee, attack, release, makeup, enabled; e.g. comp 1 threshold=-18 ratio=3',
      )
    }
    const pick = (k: string, v: number): number => (args[k] as number | undefined) ?? v
    const next: CompressorParams = {
      thresholdDb: pick('threshold', cur.thresholdDb),
      ratio: pick('ratio', cur.ratio),
      kneeDb: pick('knee', cur.kneeDb),
      attackMs: pick('attack', cur.attackMs),
      releaseMs: pick('release', cur.releaseMs),
      makeupDb: pick('makeup', cur.makeupDb),
      enabled: (args.enabled as boolean | undefined) ?? (keys.some((k) => args[k] !== undefined) ? true : cur.enabled),
    }
    app.setCompressor(o, next, principal.name)
    return { output: o + 1, ...outputValue(app, o).comp }
  },
})

export const outputShow = spec({
  name: 'output show',
  summary: 'gain, EQ bands and compressor of one output, or of all',
  examples: ['output show', 'output show 2'],
  permission: 'observe',
  args: [{ ...outputArg, optional: true, help: 'output number, from 1 (default: all)' }],
  handler: (args, { app }) => (args.output === undefined ? app.outputSettings().map((_, k) => outputValue(app, k)) : outputValue(app, num(args, 'output') - 1)),
})
