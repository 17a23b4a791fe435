// The sim board's light telemetry-only mode: for fleet scale runs (tests/bench/telemetry.bench.ts),
// where 100 full `firmware run` processes (each an audio engine at 48 kHz, a front-panel controller
// process and two socat) would not fit the 2 cores of a build machine. One process runs one or more
// units, each the REAL telemetry publisher (firmware/telemetry/publisher.ts: its own TLS client and
// certificate, its own disk buffer with fsync, health on a timer, rate limit, last will) in front of
// a stand-in appliance that reports what the sim board reports when idle: ACTIVE, the relay
// processed, the sim profile's thermal zones at a fixed temperature, no engine and no events. What
// is left out is the audio work, which a real unit does on its own cores whatever telemetry does.
//
//   node board/sim/telemetry-unit.ts <spec.json>
//   spec: {url, ca, site, healthS, keepaliveS?, maxRate?, units: [{name, stage, cert, key, caCert, queueDir}]}
//
// Prints "ready <n>" once every publisher started (connecting happens in the background), then
// "connected <n>" each time the count of connected units changes; SIGTERM stops them (each publishes
// `online: false, stopped`) and exits.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { Telemetry } from '../../firmware/telemetry/publisher.ts'

interface Spec {
  url: string
  ca: string
  site: string
  healthS: number
  keepaliveS?: number
  maxRate?: number
  units: Array<{ name: string; stage: string; cert: string; key: string; caCert: string; queueDir: string }>
}

const profile = JSON.parse(readFileSync(join(import.meta.dirname, 'profile.json'), 'utf8')) as { thermalZones: Array<{ name: string }> }
const startedAt = Date.now()

function standIn(): ApplianceApi {
  const engine = {
    blocks: 0,
    xruns: 0,
    overruns: 0,
    droppedCommands: 0,
    droppedEvents: 0,
    processed: true,
    blockTimeUs: { last: 20, p50: 18, p99: 60, max: 90 },
    blockPeriodUs: 1333,
  }
  const status = () => ({
    board: 'sim',
    firmwareVersion: 'sim-telemetry-only',
    state: 'ACTIVE',
    cause: 'boot-complete',
    since: startedAt,
    uptimeS: (Date.now() - startedAt) / 1000,
    relay: 'processed',
    panelVersion: null,
    automationMode: 'advisory',
    engine,
  })
  return { status, subscribe: () => () => {} } as unknown as ApplianceApi
}

const specFile = process.argv[2]
if (!specFile) throw new Error('usage: telemetry-unit.ts <spec.json>')
const spec = JSON.parse(readFileSync(specFile, 'utf8')) as Spec
const temperatures = () => Object.fromEntries(profile.thermalZones.map((z) => [z.name, 45]))
const pubs: Telemetry[] = []
for (const u of spec.units) {
  pubs.push(
    await Telemetry.start(
      standIn(),
      {
        enabled: true,
        url: spec.url,
        site: spec.site,
        stage: u.stage,
        ca: spec.ca,
        healthS: spec.healthS,
        maxRate: spec.maxRate ?? 50,
        keepaliveS: spec.keepaliveS ?? 30,
        bufferBytes: 1 << 20,
        bufferAgeS: 600,
      },
      {
        identity: {
          serial: u.name,
          caCertPem: readFileSync(u.caCert, 'utf8'),
          deviceCertPem: readFileSync(u.cert, 'utf8'),
          deviceKeyPem: readFileSync(u.key),
          crlPath: '',
        },
        queueDir: u.queueDir,
        temperatures,
        versions: () => ({ firmware: 'sim-telemetry-only', panel: null, board: 'sim' }),
      },
    ),
  )
}
process.stdout.write(`ready ${pubs.length}\n`)
let connected = -1
const watch = setInterval(() => {
  const n = pubs.filter((p) => p.stats.connected).length
  if (n !== connected) process.stdout.write(`connected ${n}\n`)
  connected = n
}, 200)
process.on('SIGTERM', () => {
  clearInterval(watch)
  void Promise.all(pubs.map((p) => p.stop())).then(() => process.exit(0))
})
