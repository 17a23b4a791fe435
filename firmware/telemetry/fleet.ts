// `firmware fleet`: the units a broker knows, from their retained topics (online, state, versions),
// read with a fleet certificate the broker's ACL lets read them. Nothing is sent to the units.
import { readFileSync } from 'node:fs'
import { connect } from 'mqtt'
import { FirmwareError } from '../errors.ts'

export interface FleetRow {
  site: string
  stage: string
  unit: string
  online: boolean | null
  /** Why it is offline: lost (last will), stopped (clean stop). */
  reason: string
  state: string
  cause: string
  firmware: string
  /** The hottest thermal zone of the unit's last (retained) health message, e.g. `cpu 45 °C`. */
  hottest: string
}

export interface FleetOptions {
  url: string
  ca: string
  cert: string
  key: string
  /** Topic filter for the site (`+` for all). */
  site: string
  /** How long to collect retained messages, ms. */
  waitMs: number
}

const USAGE = 'usage: firmware fleet --url mqtts://HOST:PORT --ca FILE --cert FILE --key FILE [--site SITE] [--wait SECONDS]'

export function parseFleetArgs(argv: string[]): FleetOptions {
  const o: Record<string, string> = {}
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]
    const v = argv[i + 1]
    if (!k?.startsWith('--') || v === undefined) throw new FirmwareError('FW_ERR_USAGE', USAGE)
    o[k.slice(2)] = v
  }
  for (const k of Object.keys(o))
    if (!['url', 'ca', 'cert', 'key', 'site', 'wait'].includes(k)) throw new FirmwareError('FW_ERR_USAGE', `unknown option --${k}; ${USAGE}`)
  if (!o.url || !o.ca || !o.cert || !o.key) throw new FirmwareError('FW_ERR_USAGE', USAGE)
  if (!/^mqtts:\/\//.test(o.url)) throw new FirmwareError('FW_ERR_BAD_OPTION', `--url: must be mqtts://host:port, got ${o.url}`)
  const wait = o.wait === undefined ? 2 : Number(o.wait)
  if (!(wait > 0 && wait <= 60)) throw new FirmwareError('FW_ERR_BAD_OPTION', `--wait: must be a number of seconds from 0 to 60, got ${o.wait}`)
  const site = o.site ?? '+'
  if (!/^(\+|[A-Za-z0-9_.-]{1,64})$/.test(site))
    throw new FirmwareError('FW_ERR_BAD_OPTION', `--site: must be a topic level (letters, digits, _ . -), got ${site}`)
  return { url: o.url, ca: o.ca, cert: o.cert, key: o.key, site, waitMs: wait * 1000 }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (e) {
    throw new FirmwareError('FW_ERR_IO', `--${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

/** Connects, collects the retained topics for `waitMs`, disconnects. */
export async function listFleet(o: FleetOptions): Promise<FleetRow[]> {
  const c = connect(o.url, {
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: readPem(o.ca, 'ca'),
    cert: readPem(o.cert, 'cert'),
    key: readPem(o.key, 'key'),
  })
  const units = new Map<string, FleetRow>()
  c.on('message', (topic, payload) => {
    const [site, stage, unit, leaf] = topic.split('/')
    if (!site || !stage || !unit || !leaf) return
    let body: Record<string, unknown>
    try {
      body = JSON.parse(payload.toString()) as Record<string, unknown>
    } catch {
      return
    }
    const id = `${site}/${stage}/${unit}`
    const row = units.get(id) ?? { site, stage, unit, online: null, reason: '', state: '?', cause: '', hottest: '?', firmware: '?' }
    if (leaf === 'online') {
      row.online = body.online === true
      row.reason = String(body.reason ?? '')
    } else if (leaf === 'state') {
      row.state = String(body.state ?? '?')
      row.cause = String(body.cause ?? '')
    } else if (leaf === 'versions') row.firmware = String(body.firmware ?? '?')
    else if (leaf === 'health') {
      const zones = Object.entries((body.temperatures ?? {}) as Record<string, unknown>).filter((z): z is [string, number] => typeof z[1] === 'number')
      const hot = zones.sort((a, b) => b[1] - a[1])[0]
      row.hottest = hot ? `${hot[0]} ${Math.round(hot[1] * 10) / 10} °C` : '-'
    }
    units.set(id, row)
  })
  try {
    await new Promise<void>((res, rej) => {
      c.once('connect', () => res())
      c.once('error', (e) => rej(new FirmwareError('FW_ERR_IO', `cannot reach the broker ${o.url}: ${e.message}`)))
      c.once('close', () => rej(new FirmwareError('FW_ERR_IO', `the broker ${o.url} closed the connection (certificate refused?)`)))
    })
    const filters = ['online', 'state', 'health', 'versions'].map((leaf) => `${o.site}/+/+/${leaf}`)
    await c.subscribeAsync(filters, { qos: 1 })
    await new Promise((r) => setTimeout(r, o.waitMs))
  } finally {
    await c.endAsync(true).catch(() => {})
  }
  return [...units.values()].sort((a, b) => `${a.site}/${a.stage}/${a.unit}`.localeCompare(`${b.site}/${b.stage}/${b.unit}`))
}

export function formatFleet(rows: FleetRow[]): string {
  const head = ['site', 'stage', 'unit', 'online', 'state', 'cause', 'hottest', 'firmware']
  const lines = rows.map((r) => [
    r.site,
    r.stage,
    r.unit,
    r.online === null ? '?' : r.online ? 'online' : `offline (${r.reason})`,
    r.state,
    r.cause,
    r.hottest,
    r.firmware,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [fmt(head), ...lines.map(fmt), `${rows.length} unit(s)`].join('\n')
}

export async function runFleetCommand(argv: string[]): Promise<number> {
  const rows = await listFleet(parseFleetArgs(argv))
  console.log(formatFleet(rows))
  return 0
}
