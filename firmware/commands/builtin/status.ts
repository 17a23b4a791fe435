// What the unit is and how it runs: status, version, the automation mode, the network.
import { networkInterfaces } from 'node:os'
import type { ApplianceApi } from '../../contract/appliance.ts'
import { type SlotReport, slotReport } from '../../self.ts'
import { spec } from '../types.ts'
import { iso } from './args.ts'

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

export const status = spec({
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

export const version = spec({
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

export const updateStatus = spec({
  name: 'update status',
  summary: 'the running image and A/B slot, whether recovery still has it on trial, the other slot (a read)',
  examples: ['update status'],
  permission: 'observe',
  args: [],
  handler: () => slotReport(),
  human: (v: SlotReport) =>
    [
      `image     ${v.version}  slot ${v.slot ?? 'none (not started by recovery)'}`,
      `state     ${v.slotState === null ? 'unknown' : v.pending ? `on trial (pending, boot ${v.boots ?? '?'})` : v.slotState}`,
      `other     ${v.other ? `slot ${v.other.slot}: ${v.other.version ?? 'empty'} (${v.other.state})` : 'unknown'}`,
    ].join('\n'),
})

export const automationShow = spec({
  name: 'automation show',
  summary: 'the automation mode (a read: `mode <m>` sets it)',
  examples: ['automation show'],
  permission: 'observe',
  args: [],
  handler: (_a, { app }) => ({ mode: app.status().automationMode }),
  human: (v: { mode: string }) => `automation mode ${v.mode}`,
})

export const netShow = spec({
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
