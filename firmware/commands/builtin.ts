// The appliance's own commands, written once over ApplianceApi. Channels, beams and bands are
// numbered from 1, as printed on the rear panel and in every transport. Commands another part owns
// (presets: the store; mode and models: inference; ...) are defined there and declared in owned.ts.
import { networkInterfaces } from 'node:os'
import type { ApplianceApi } from '../contract/appliance.ts'
import type { BandParams, CompressorParams, Meters } from '../engine/types.ts'
import { FirmwareError } from '../errors.ts'
import { type CommandRegistry, usage } from './registry.ts'
import type { ArgSpec, CommandSpec, ParsedArgs } from './types.ts'

const outputs = (app: ApplianceApi): number => app.profile.audio.outputs
const inputs = (app: ApplianceApi): number => app.profile.audio.inputs
const beamCount = (app: ApplianceApi): number => Math.max(1, app.beams().length)
const bandCount = (app: ApplianceApi): number => Math.max(1, app.outputSettings()[0]?.eq.length ?? 0)

const outputArg: ArgSpec = { name: 'output', type: 'int', min: 1, max: outputs, help: 'output number, from 1' }
const beamArg: ArgSpec = { name: 'beam', type: 'int', min: 1, max: beamCount, help: 'beam number, from 1' }
const countArg = (def: number, max: number, what: string): ArgSpec => ({
  name: 'count',
  type: 'int',
  min: 1,
  max,
  optional: true,
  default: def,
  help: `how many ${what} (default ${def})`,
})

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function num(args: ParsedArgs, k: string): number {
  return args[k] as number
}

function notAvailable(what: string, owner: string): never {
  throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `${what} is not available yet: ${owner} is not running on this unit`)
}

function db(v: number): string {
  return Number.isFinite(v) ? v.toFixed(1) : '-inf'
}

type StatusFields = Record<string, string | number | boolean | null>
const statusExtras = new WeakMap<ApplianceApi, Array<() => StatusFields>>()

/** Adds fields to `status` on `app` (the store: what the unit boots into; the runtime: the last run). */
export function addStatusFields(app: ApplianceApi, fields: () => StatusFields): void {
  const list = statusExtras.get(app) ?? []
  list.push(fields)
  statusExtras.set(app, list)
}

function statusValue(app: ApplianceApi) {
  const s = app.status()
  const e = s.engine
  const extra: StatusFields = {}
  for (const f of statusExtras.get(app) ?? []) Object.assign(extra, f())
  return {
    state: s.state,
    cause: s.cause,
    since: iso(s.since),
    relay: s.relay,
    mode: s.automationMode,
    uptime: Math.round(s.uptimeS),
    board: s.board,
    firmware: s.firmwareVersion,
    panel: s.panelVersion,
    processed: e.processed,
    blocks: e.blocks,
    xruns: e.xruns,
    overruns: e.overruns,
    block_us_p50: e.blockTimeUs.p50,
    block_us_p99: e.blockTimeUs.p99,
    block_period_us: e.blockPeriodUs,
    ...extra,
  }
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

/** The built-in command specs, in help order. */
// biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
export function builtinCommands(): CommandSpec<any>[] {
  // biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
  const cmds: CommandSpec<any>[] = []
  const add = <V>(c: CommandSpec<V>): void => {
    // biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
    cmds.push(c as CommandSpec<any>)
  }

  add({
    name: 'help',
    summary: 'list the commands, or show one command with its arguments and examples',
    examples: ['help', 'help beam steer'],
    permission: 'observe',
    mutates: false,
    args: [
      { name: 'topic', type: 'string', optional: true, help: 'a command or command group, e.g. beam' },
      { name: 'sub', type: 'string', optional: true, help: 'a subcommand, e.g. steer' },
    ],
    handler: (args, ctx) => {
      // What this caller's transport has: every shared command, then (the console) its session commands.
      const all = ctx.registry.list({ transport: ctx.principal.transport })
      if (args.topic === undefined) {
        return all.map((s) => ({
          command: s.name,
          usage: usage(s),
          permission: s.permission,
          summary: s.summary,
          ...(s.unavailable !== undefined ? { unavailable: `${s.unavailable} is not running` } : {}),
          ...(s.transports !== undefined ? { scope: s.transports.join(',') } : {}),
        }))
      }
      const topic = [args.topic, args.sub]
        .filter((x) => x !== undefined)
        .join(' ')
        .toLowerCase()
      const one = all.find((s) => s.name === topic)
      const specs = one ? [one] : all.filter((s) => s.name.startsWith(`${topic} `))
      if (specs.length === 0) throw new FirmwareError('FW_ERR_UNKNOWN_COMMAND', `no command "${topic}"; type help for the list`)
      return specs.map((s) => ({
        command: s.name,
        usage: usage(s),
        summary: s.summary,
        permission: s.permission,
        destructive: s.destructive ?? false,
        args: s.args.map((a) => ({ name: a.name, help: a.help, optional: a.optional ?? false })),
        examples: [...s.examples],
        ...(s.unavailable !== undefined ? { unavailable: `${s.unavailable} is not running` } : {}),
      }))
    },
    human: (
      v: Array<{
        command: string
        usage: string
        permission: string
        summary: string
        unavailable?: string
        scope?: string
        examples?: string[]
        destructive?: boolean
        args?: Array<{ name: string; help: string; optional: boolean }>
      }>,
    ) => {
      if (v.every((c) => c.examples === undefined)) {
        const shared = v.filter((c) => c.scope === undefined)
        const session = v.filter((c) => c.scope !== undefined)
        const w = Math.max(...shared.map((c) => c.command.length)) + 2
        return [
          ...shared.map(
            (c) =>
              `  ${c.command.padEnd(w)}${c.summary}${c.permission === 'observe' ? '' : ` (${c.permission})`}${c.unavailable ? ` [not available: ${c.unavailable}]` : ''}`,
          ),
          '',
          // The transport's own session commands, from their specs (the console: mode, events, login).
          ...(session.length > 0 ? [`Console: ${session.map((c) => c.usage).join(', ')}.`] : []),
          'Type "help <command>" for its arguments and examples.',
        ].join('\n')
      }
      return v
        .map((c) =>
          [
            `${c.usage}`,
            `  ${c.summary}. Needs ${c.permission} rights${c.destructive ? '; destructive: asks for a confirm token' : ''}.`,
            ...(c.unavailable ? [`  Not available: ${c.unavailable} on this unit.`] : []),
            ...(c.args ?? []).map((a) => `    ${a.optional ? `[${a.name}]` : `<${a.name}>`}  ${a.help}`),
            ...(c.examples ?? []).map((e) => `  e.g. ${e}`),
          ].join('\n'),
        )
        .join('\n\n')
    },
  })

  add({
    name: 'status',
    summary: 'watchdog state and cause, relay, automation mode, engine counters',
    examples: ['status'],
    permission: 'observe',
    args: [],
    handler: (_a, { app }) => statusValue(app),
    human: (v) =>
      [
        `state     ${v.state}  (${v.cause}, since ${v.since})`,
        `relay     ${v.relay}    audio ${v.processed ? 'processed' : 'dry'}    mode ${v.mode}`,
        `board     ${v.board}  firmware ${v.firmware}  panel ${v.panel ?? 'none'}  up ${v.uptime} s`,
        `engine    ${v.blocks} blocks, ${v.xruns} xruns, ${v.overruns} overruns, block ${v.block_us_p50}/${v.block_us_p99} us (p50/p99) of ${Math.round(v.block_period_us)} us`,
        ...((x: StatusFields) => [
          ...('boots_into' in x
            ? [`boot      into ${String(x.boots_into)}${x.differs_from_boot ? ' (the running mix differs from it)' : ''}    settings ${String(x.settings)}`]
            : []),
          ...('last_run' in x ? [`last run  ${String(x.last_run)}`] : []),
        ])(v as unknown as StatusFields),
      ].join('\n'),
  })

  add({
    name: 'version',
    summary: 'firmware, board, front-panel controller and Node versions',
    examples: ['version'],
    permission: 'observe',
    args: [],
    handler: (_a, { app }) => {
      const s = app.status()
      return { firmware: s.firmwareVersion, board: s.board, panel: s.panelVersion, node: process.versions.node }
    },
  })

  add({
    name: 'bypass',
    summary: 'manual bypass on (latched until someone turns it off) or off',
    examples: ['bypass on', 'bypass off'],
    permission: 'operate',
    args: [{ name: 'state', type: 'bool', help: 'on or off' }],
    handler: async (args, { app, principal }) => {
      const on = args.state as boolean
      app.setManualBypass(on, principal.name)
      // The runtime moves the relay on its next tick; report the relay as it ends up, not as it was.
      const want = on ? 'bypass' : 'processed'
      for (let i = 0; i < 10 && app.status().relay !== want; i++) await new Promise((r) => setTimeout(r, 10))
      const s = app.status()
      return { bypass: on, state: s.state, relay: s.relay }
    },
  })

  add({
    name: 'automation show',
    summary: 'the automation mode (a read: `mode <m>` sets it)',
    examples: ['automation show'],
    permission: 'observe',
    args: [],
    handler: (_a, { app }) => ({ mode: app.status().automationMode }),
    human: (v: { mode: string }) => `automation mode ${v.mode}`,
  })

  add({
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

  const needBeams = (app: ApplianceApi): void => {
    if (app.beams().length === 0) throw new FirmwareError('FW_ERR_NOT_AVAILABLE', 'this board has no microphone array, so there are no beams')
  }
  add({
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

  add({
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

  add({
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

  add({
    name: 'trim',
    summary: 'set an input trim in dB',
    examples: ['trim 3 4.5'],
    permission: 'operate',
    args: [
      { name: 'input', type: 'int', min: 1, max: inputs, help: 'input number, from 1' },
      { name: 'db', type: 'number', min: -24, max: 24, unit: 'dB', help: 'trim in dB, -24 to +24' },
    ],
    handler: (args, { app, principal }) => {
      app.setInputTrim(num(args, 'input') - 1, num(args, 'db'), principal.name)
      return { input: args.input, trim: args.db }
    },
  })

  add({
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

  add({
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

  add({
    name: 'output show',
    summary: 'gain, EQ bands and compressor of one output, or of all',
    examples: ['output show', 'output show 2'],
    permission: 'observe',
    args: [{ ...outputArg, optional: true, help: 'output number, from 1 (default: all)' }],
    handler: (args, { app }) =>
      args.output === undefined ? app.outputSettings().map((_, k) => outputValue(app, k)) : outputValue(app, num(args, 'output') - 1),
  })

  add({
    name: 'input show',
    summary: 'input trims in dB, of one input or of all',
    examples: ['input show', 'input show 3'],
    permission: 'observe',
    args: [{ name: 'input', type: 'int', min: 1, max: inputs, optional: true, help: 'input number, from 1 (default: all)' }],
    handler: (args, { app }) => {
      const trims = app.inputTrims().map((db, k) => ({ input: k + 1, trim: db }))
      return args.input === undefined ? trims : trims[num(args, 'input') - 1]
    },
  })

  add({
    name: 'faults',
    summary: 'recent watchdog transitions with their causes and evidence, newest last',
    examples: ['faults', 'faults 50'],
    permission: 'observe',
    args: [countArg(10, 200, 'transitions')],
    handler: (args, { app }) => app.faults(num(args, 'count')).map((r) => ({ at: iso(r.at), from: r.from, to: r.to, cause: r.cause, evidence: r.evidence })),
    human: (v: Array<{ at: string; from: string; to: string; cause: string; evidence: string }>) =>
      v.length === 0 ? 'no transitions recorded' : v.map((r) => `${r.at}  ${r.from} -> ${r.to}  ${r.cause}: ${r.evidence}`).join('\n'),
  })

  add({
    name: 'log tail',
    summary: 'the last lines of the firmware log',
    examples: ['log tail', 'log tail 50'],
    permission: 'observe',
    args: [countArg(20, 500, 'lines')],
    handler: (args, { app }) => app.logTail(num(args, 'count')).map((l) => ({ at: iso(l.at), level: l.level, source: l.source, message: l.message })),
    human: (v: Array<{ at: string; level: string; source: string; message: string }>) =>
      v.length === 0 ? 'log is empty' : v.map((l) => `${l.at} ${l.level.padEnd(5)} ${l.source}: ${l.message}`).join('\n'),
  })

  add({
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

  add({
    name: 'net show',
    summary: 'network addresses and the API and OSC ports',
    examples: ['net show'],
    permission: 'observe',
    args: [],
    handler: (_a, { app }) => {
      const ifs = networkInterfaces()
      const addrs: Array<{ iface: string; address: string; family: string }> = []
      for (const [name, list] of Object.entries(ifs)) {
        for (const a of list ?? []) addrs.push({ iface: name, address: a.cidr ?? a.address, family: a.family })
      }
      return { api_port: app.profile.api.port, osc_port: app.profile.api.oscPort, addresses: addrs }
    },
  })

  add({
    name: 'reboot',
    summary: 'restart the firmware (audio passes dry through the relay meanwhile)',
    examples: ['reboot'],
    permission: 'admin',
    destructive: true,
    args: [],
    handler: async (_a, { app, principal }) => {
      if (!app.reboot) notAvailable('reboot', 'the runtime restart hook')
      // Answer first, then restart: the reply must reach the caller before the process goes.
      setTimeout(() => void app.reboot!(principal.name).catch(() => {}), 100).unref()
      return { rebooting: true }
    },
  })

  add({
    name: 'factory-reset',
    summary: 'erase presets and settings (keeps the device identity), then restart',
    examples: ['factory-reset'],
    permission: 'admin',
    destructive: true,
    args: [],
    timeoutMs: 30_000,
    handler: async (_a, { app, principal }) => {
      if (!app.factoryReset) notAvailable('factory-reset', 'the runtime reset hook')
      await app.factoryReset!(principal.name)
      return { reset: true }
    },
  })

  return cmds
}

/** Registers every built-in command on `registry`. */
export function registerBuiltins(registry: CommandRegistry): void {
  for (const c of builtinCommands()) registry.register(c)
}
