// The microphone-array beams: list, steer to a fixed direction, follow the DOA.
import type { ApplianceApi } from '../../contract/appliance.ts'
import { FirmwareError } from '../../errors.ts'
import { spec } from '../types.ts'
import { beamArg, num } from './args.ts'

function needBeams(app: ApplianceApi): void {
  if (app.beams().length === 0) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this board has no microphone array, so there are no beams')
}

export const beamList = spec({
  name: 'beam list',
  summary: 'the beams: kind, direction, and whether they follow the DOA',
  examples: ['beam list'],
  permission: 'observe',
  args: [],
  handler: (_a, { app }) => app.beams().map((b) => ({ beam: b.index + 1, kind: b.kind, azimuth: b.azimuth, elevation: b.elevation, auto: b.auto })),
  human: (v: Array<{ beam: number; kind: string; azimuth: number; elevation: number; auto: boolean }>) =>
    v.length === 0
      ? 'no beams (this board has no microphone array)'
      : [
          'beam  kind  azimuth  elevation  follows DOA',
          ...v.map(
            (b) =>
              `${String(b.beam).padEnd(6)}${b.kind.padEnd(6)}${b.azimuth.toFixed(1).padStart(7)}  ${b.elevation.toFixed(1).padStart(9)}  ${b.auto ? 'yes' : 'no'}`,
          ),
        ].join('\n'),
})

export const beamSteer = spec({
  name: 'beam steer',
  summary: 'point a beam at a fixed direction (stops it following the DOA)',
  examples: ['beam steer 1 45', 'beam steer 2 azimuth=-30 elevation=10'],
  permission: 'operate',
  args: [
    beamArg,
    { name: 'azimuth', type: 'number', min: -180, max: 360, unit: 'degrees', help: 'degrees, 0 = +x (east), counter-clockwise' },
    { name: 'elevation', type: 'number', min: -90, max: 90, unit: 'degrees', optional: true, default: 0, help: 'degrees above the horizontal (default 0)' },
  ],
  handler: (args, { app, principal }) => {
    needBeams(app)
    const az = ((num(args, 'azimuth') % 360) + 360) % 360
    app.steerBeam(num(args, 'beam') - 1, az, num(args, 'elevation'), principal.name)
    return { beam: args.beam, azimuth: az, elevation: args.elevation, auto: false }
  },
})

export const beamAuto = spec({
  name: 'beam auto',
  summary: 'make a beam follow the DOA estimate (on) or hold its direction (off)',
  examples: ['beam auto 1', 'beam auto 1 off'],
  permission: 'operate',
  args: [beamArg, { name: 'enabled', type: 'bool', optional: true, default: true, help: 'on (default) or off' }],
  handler: (args, { app, principal }) => {
    needBeams(app)
    app.setBeamAuto(num(args, 'beam') - 1, args.enabled as boolean, principal.name)
    return { beam: args.beam, auto: args.enabled }
  },
})
