// `mix list|show|set|publish|unpublish`, over MixControl. Each is defined here once and
// registered by the composition root when the mixes run (declared in firmware/commands/owned.ts
// until then). `set` changes or creates a profile from what it is given over what is stored;
// publishing and unpublishing are operator actions. `tracking on|off` and `tracks` drive the live
// tracks (live.ts).
import { nameArg } from '../commands/name-rule.ts'
import type { ArgSpec, CommandSpec, ParsedArgs } from '../commands/types.ts'
import { spec } from '../commands/types.ts'
import { FirmwareError } from '../errors.ts'
import type { MixControl, StoredMix } from './control.ts'
import type { LiveTrack, LiveTracking, TrackingStatus } from './live.ts'
import { MIX_OFF_DB, MIX_SOURCES, type MixProfile, type MixTrackSource, parseTracks, trackKey } from './profile.ts'

const nameA = nameArg('name', 'mix profile name', { maxLength: 32, symbols: ['-', '_'] })

const sourceArgs: ArgSpec[] = Array.from({ length: MIX_SOURCES }, (_, k) => ({
  name: `out${k}`,
  type: 'number' as const,
  help: `gain of engine output ${k} (a beam or a line feed) in this mix, dB; -60 leaves it out`,
  min: -60,
  max: 12,
  optional: true,
  unit: 'dB',
}))

const shown = (m: StoredMix) => ({
  name: m.profile.name,
  description: m.profile.description,
  revision: m.revision,
  changedAt: new Date(m.changedAt).toISOString(),
  sources: m.profile.sources,
  bedDb: m.profile.bedDb,
  compressor: m.profile.compressor,
  tracks: (m.profile.tracks ?? []).map((t) => ({ input: trackKey(t), gainDb: t.gainDb, pan: t.pan })),
  published: m.published,
})

/** The profile `mix set` asks for: the given fields over the stored profile (or a new one). */
function merged(args: ParsedArgs, old: MixProfile | null): Record<string, unknown> {
  const sources = new Map((old?.sources ?? []).map((s) => [s.output, { ...s }]))
  for (let k = 0; k < MIX_SOURCES; k++) {
    const g = args[`out${k}`]
    if (g === undefined) continue
    if (Number(g) <= MIX_OFF_DB) sources.delete(k)
    else sources.set(k, { output: k, gainDb: Number(g), pan: sources.get(k)?.pan ?? 0 })
  }
  const compress = args.compress ?? (old ? old.compressor !== null : true)
  const tracks = args.tracks !== undefined ? parseTracks(String(args.tracks)) : (old?.tracks ?? [])
  return {
    ...(tracks.length ? { tracks } : {}),
    name: String(args.name),
    description: args.description === undefined ? (old?.description ?? '') : String(args.description),
    sources: [...sources.values()].sort((a, b) => a.output - b.output),
    bedDb: args.bed === undefined ? (old?.bedDb ?? MIX_OFF_DB) : Number(args.bed),
    compressor: compress
      ? {
          thresholdDb: args.threshold === undefined ? (old?.compressor?.thresholdDb ?? -18) : Number(args.threshold),
          ratio: args.ratio === undefined ? (old?.compressor?.ratio ?? 2) : Number(args.ratio),
          makeupDb: old?.compressor?.makeupDb ?? 0,
        }
      : null,
  }
}

/** live: the unit's live tracking, which a `tracks=track:...` is checked against (none: refused). */
export function mixCommands(control: MixControl, live?: LiveTracking): CommandSpec[] {
  const list: CommandSpec<Array<{ name: string; revision: number; published: string | null }>> = {
    name: 'mix list',
    summary: 'the personal-mix profiles, their revision, and where each published one streams',
    examples: ['mix list'],
    permission: 'observe',
    args: [],
    handler: () =>
      control.list().map((m) => ({ name: m.profile.name, revision: m.revision, published: m.published ? `${m.published.host}:${m.published.port}` : null })),
    human: (v) =>
      v.length
        ? v.map((m) => `${m.name.padEnd(32)} rev ${m.revision}  ${m.published ? `published to ${m.published}` : 'not published'}`).join('\n')
        : '(no mix profiles)',
  }
  const show: CommandSpec<ReturnType<typeof shown> & { stream: unknown }> = {
    name: 'mix show',
    summary: 'one mix profile: sources, bed, compressor, revision, and its stream counters when published',
    examples: ['mix show vocal-forward'],
    permission: 'observe',
    args: [nameA],
    handler: (args) => {
      const m = control.get(String(args.name))
      return { ...shown(m), stream: control.stats()?.streams.find((s) => s.name === m.profile.name) ?? null }
    },
  }
  const set: CommandSpec<ReturnType<typeof shown>> = {
    name: 'mix set',
    summary: 'create or change a mix profile: per-output gains (dB), the bed, a gentle compressor',
    details: 'Fields not given keep their stored value. A published mix streams the change at once.',
    examples: [
      'mix set vocal-forward out0=9 bed=-6 compress=true',
      'mix set vip out0=0 out1=0 bed=-60 compress=false',
      'mix set talker tracks=track:2@9 bed=-12',
    ],
    permission: 'operate',
    args: [
      nameA,
      ...sourceArgs,
      {
        name: 'bed',
        type: 'number',
        help: 'gain of the bed (the mean of the inputs: the room and the band), dB; -60 leaves it out',
        min: -60,
        max: 6,
        optional: true,
        unit: 'dB',
      },
      { name: 'compress', type: 'bool', help: 'a gentle compressor on the mix (ratio at most 4)', optional: true },
      {
        name: 'tracks',
        type: 'string',
        help: "tracked talkers lifted in this mix, each a post-filtered stem separated by the mix streamer (never an engine beam): track:N@DB (the track's id, see tracks) or track:nearest:AZ@DB (the confirmed track nearest AZ degrees), comma-separated, up to 4; none removes them",
        maxLength: 120,
        pattern:
          /^(none|track:([0-9]{1,9}|nearest:[0-9]{1,3}(\.[0-9]+)?)@[+-]?[0-9]{1,2}(\.[0-9]+)?(,track:([0-9]{1,9}|nearest:[0-9]{1,3}(\.[0-9]+)?)@[+-]?[0-9]{1,2}(\.[0-9]+)?){0,3})$/,
        rule: 'track:N@DB or track:nearest:AZ@DB, comma-separated (up to 4), or none',
        optional: true,
      },
      { name: 'threshold', type: 'number', help: 'compressor threshold, dBFS', min: -40, max: 0, optional: true, unit: 'dB' },
      { name: 'ratio', type: 'number', help: 'compressor ratio, 1..4', min: 1, max: 4, optional: true },
      {
        name: 'description',
        type: 'string',
        help: 'what a listener reads when choosing (up to 120 characters)',
        maxLength: 120,
        pattern: /^[A-Za-z0-9 ,.:;!?()'+-]{1,120}$/,
        rule: 'up to 120 letters, digits, spaces and punctuation',
        optional: true,
      },
    ],
    handler: async (args) => {
      let old: MixProfile | null = null
      try {
        old = control.get(String(args.name)).profile
      } catch {}
      const next = merged(args, old)
      // New tracked sources name tracks (or directions) that live tracking must be able to follow now.
      if (args.tracks !== undefined) {
        for (const t of (next.tracks as MixTrackSource[] | undefined) ?? []) {
          if (!live) throw new FirmwareError('FW_ERR_TRACKING', 'this unit does not track sources, so none can be mixed in; nothing changed')
          live.checkTrack(t)
        }
      }
      return shown(await control.set(next))
    },
  }
  const publish: CommandSpec<ReturnType<typeof shown>> = {
    name: 'mix publish',
    summary: "publish a mix profile: stream it as Opus over RTP to a media server's ingest (Janus)",
    examples: ['mix publish vocal-forward host=192.0.2.10 port=5002'],
    permission: 'operate',
    args: [
      nameA,
      { name: 'host', type: 'string', help: "the media server's IPv4 address", maxLength: 15, pattern: /^[0-9.]{7,15}$/, rule: 'an IPv4 address' },
      { name: 'port', type: 'int', help: "the mountpoint's RTP port on the media server", min: 1, max: 65535 },
      { name: 'bitrate', type: 'int', help: 'Opus bitrate, bit/s', min: 16000, max: 256000, optional: true, default: 96000 },
    ],
    handler: async (args) =>
      shown(await control.publish(String(args.name), { host: String(args.host), port: Number(args.port), bitrate: Number(args.bitrate) })),
  }
  const unpublish: CommandSpec<ReturnType<typeof shown>> = {
    name: 'mix unpublish',
    summary: 'stop streaming a mix profile (it stays stored)',
    examples: ['mix unpublish vocal-forward'],
    permission: 'operate',
    args: [nameA],
    handler: async (args) => shown(await control.unpublish(String(args.name))),
  }
  return [spec(list), spec(show), spec(set), spec(publish), spec(unpublish)]
}

/** `tracking on|off` (operate, stored: it survives a restart) and `tracks` (observe), over LiveTracking. */
export function trackingCommands(live: LiveTracking): CommandSpec[] {
  const tracking: CommandSpec<TrackingStatus> = {
    name: 'tracking',
    summary: 'source tracking on or off: the DOA thread localises up to four sources and the tracker follows them (stored)',
    details: 'Off by default. While on, the tracks are published as inference events of kind tracks and listed by "tracks".',
    examples: ['tracking on', 'tracking off'],
    permission: 'operate',
    args: [{ name: 'state', type: 'enum', values: ['on', 'off'], help: 'on or off' }],
    handler: async (args) => live.set(args.state === 'on'),
    human: (v) => `tracking ${v.on ? 'on' : 'off'} (${v.frames} localiser frames, ${v.dropped} dropped)`,
  }
  const tracks: CommandSpec<{ on: boolean; tracks: LiveTrack[] }> = {
    name: 'tracks',
    summary: 'the tracked sources now: id, azimuth (degrees), confirmed, age (s); empty while tracking is off',
    examples: ['tracks'],
    permission: 'observe',
    args: [],
    handler: () => ({ on: live.status().on, tracks: live.tracks() }),
    human: (v) =>
      !v.on
        ? 'tracking is off ("tracking on")'
        : v.tracks.length
          ? v.tracks
              .map((t) => `track ${t.id}  ${t.azimuth.toFixed(1).padStart(5)} deg  ${t.confirmed ? 'confirmed' : 'tentative'}  ${t.age.toFixed(1)} s`)
              .join('\n')
          : '(no tracks)',
  }
  return [spec(tracking), spec(tracks)]
}
