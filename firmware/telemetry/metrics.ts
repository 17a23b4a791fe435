// The same figures as the telemetry, as OpenMetrics text for a time-series database to scrape:
// GET /metrics on the unit's API (mTLS; an observer certificate is enough), and the `metrics`
// command on every transport. Names and types are listed in docs/telemetry.md.
import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceApi, WatchdogStateName } from '../contract/appliance.ts'
import type { TelemetryStats } from './publisher.ts'

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

const STATES: readonly WatchdogStateName[] = ['BOOT', 'ACTIVE', 'DEGRADED', 'BYPASS', 'MANUAL_BYPASS']

export interface MetricsSources {
  /** °C per zone. */
  temperatures?: () => Record<string, number>
  /** The MQTT publisher's figures, when it runs. */
  telemetry?: () => TelemetryStats | null
}

/** Label values escaped as OpenMetrics wants (backslash, quote, newline). */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : 'NaN'
}

/** The unit's figures now, as one OpenMetrics exposition ending in "# EOF". */
export function openMetrics(app: ApplianceApi, src: MetricsSources = {}): string {
  const s = app.status()
  const e = s.engine
  const out: string[] = []
  const family = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
    out.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${help}`)
    for (const [suffix, v] of samples) out.push(`${name}${suffix} ${num(v)}`)
  }
  family('stage_unit', 'info', 'what the unit runs', [
    [`_info{board="${esc(s.board)}",firmware="${esc(s.firmwareVersion)}",panel="${esc(s.panelVersion ?? '')}"}`, 1],
  ])
  family(
    'stage_watchdog_state',
    'stateset',
    'the watchdog state (1 for the current one)',
    STATES.map((st) => [`{stage_watchdog_state="${st}"}`, st === s.state ? 1 : 0]),
  )
  family('stage_relay_processed', 'gauge', '1 while the relay passes the processed signal, 0 in bypass', [['', s.relay === 'processed' ? 1 : 0]])
  family('stage_uptime_seconds', 'gauge', 'seconds since the firmware started', [['', Math.round(s.uptimeS * 1000) / 1000]])
  family('stage_engine_blocks', 'counter', 'audio blocks processed', [['_total', e.blocks]])
  family('stage_engine_xruns', 'counter', 'audio device under- and overruns', [['_total', e.xruns]])
  family('stage_engine_overruns', 'counter', 'blocks whose DSP took longer than the block period', [['_total', e.overruns]])
  family('stage_engine_dropped_commands', 'counter', 'parameter commands dropped by a full ring', [['_total', e.droppedCommands]])
  family('stage_engine_dropped_events', 'counter', 'engine events dropped by a full ring', [['_total', e.droppedEvents]])
  family('stage_engine_block_time_microseconds', 'gauge', 'DSP time per block', [
    ['{quantile="0.5"}', e.blockTimeUs.p50],
    ['{quantile="0.99"}', e.blockTimeUs.p99],
    ['{quantile="1"}', e.blockTimeUs.max],
  ])
  const temps = src.temperatures?.() ?? {}
  family(
    'stage_temperature_celsius',
    'gauge',
    'temperature per thermal zone',
    Object.entries(temps).map(([zone, c]) => [`{zone="${esc(zone)}"}`, c]),
  )
  const cpu = process.cpuUsage()
  family('stage_process_cpu_seconds', 'counter', 'CPU time of the firmware process', [['_total', (cpu.user + cpu.system) / 1e6]])
  family('stage_process_resident_memory_bytes', 'gauge', 'resident memory of the firmware process', [['', process.memoryUsage.rss()]])
  const t = src.telemetry?.() ?? null
  if (t) {
    family('stage_telemetry_connected', 'gauge', '1 while the MQTT broker is connected', [['', t.connected ? 1 : 0]])
    family('stage_telemetry_queued_messages', 'gauge', 'telemetry messages waiting in the disk buffer', [['', t.queuedMessages]])
    family('stage_telemetry_dropped_messages', 'counter', 'telemetry messages dropped past the buffer bounds', [['_total', t.dropped]])
    family('stage_telemetry_sent_messages', 'counter', 'telemetry messages the broker acknowledged (this start)', [['_total', t.sent]])
  }
  out.push('# EOF', '')
  return out.join('\n')
}

/** `metrics`: the OpenMetrics text (the API also serves it as text at GET /metrics). */
export function registerMetricsCommand(registry: CommandRegistry, app: ApplianceApi, src: MetricsSources): void {
  registry.register({
    name: 'metrics',
    summary: 'the unit figures as OpenMetrics text (what GET /metrics serves to Prometheus)',
    examples: ['metrics'],
    permission: 'observe',
    args: [],
    handler: () => openMetrics(app, src),
  })
}
