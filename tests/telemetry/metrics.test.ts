// GET /metrics on the unit's API (mTLS, an observer certificate is enough), scraped by Prometheus
// from Debian with the scrape configuration docs/telemetry.md documents; a query over Prometheus'
// HTTP API returns what the unit reported.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import t from 'tap'
import { startApi } from '../../firmware/api/server.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry } from '../../firmware/commands/index.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { provision } from '../../provisioning/provision.ts'
import { bounded, cleanup, freePort, scratch } from './helpers.ts'

async function getJson(url: string): Promise<any> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return r.json()
}

t.test('prometheus scrapes /metrics over mTLS and a query returns what the unit reported', async (t) => {
  const dir = scratch(t)
  const dataDir = join(dir, 'data')
  const r = await bounded(provision({ dataDir, bundlesOut: join(dir, 'crew') }), 60000, 'provisioning the unit')
  const observer = r.bundles.find((b) => b.role === 'observer')!
  let registry: CommandRegistry | null = null
  let apiPort = 0
  const starting = startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      services: [
        applianceStack({ api: false, console: false, inference: false, onRegistry: (reg) => (registry = reg), log: () => {} }),
        async (app) => {
          const api = await startApi(app, registry!, app.profile, { port: 0, host: '127.0.0.1' })
          apiPort = api.port
          return api
        },
      ],
    },
  )
  cleanup(t, 'stopping the unit', async () => (await starting).stop(), 30000)
  const run = await bounded(starting, 60000, 'the unit to start with its API')
  run.app.setSimTemperature('cpu', 61.5)

  // What a client with an observer certificate reads.
  const reading = new Promise<{ status: number; type: string; body: string }>((res, rej) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: apiPort,
        path: '/metrics',
        cert: readFileSync(observer.certFile),
        key: readFileSync(observer.keyFile),
        ca: readFileSync(r.caFile),
      },
      (resp) => {
        let body = ''
        resp.on('data', (d: Buffer) => {
          body += d.toString()
        })
        resp.on('end', () => res({ status: resp.statusCode ?? 0, type: String(resp.headers['content-type']), body }))
      },
    )
    req.on('error', rej)
    req.setTimeout(10000, () => req.destroy(new Error('no answer within 10 s')))
    req.end()
  })
  const text = await bounded(reading, 15000, 'GET /metrics')
  t.equal(text.status, 200)
  t.match(text.type, /^application\/openmetrics-text; version=1\.0\.0/)
  t.match(text.body, /\nstage_temperature_celsius\{zone="cpu"\} 61\.5\n/)
  t.match(text.body, /# EOF\n$/)

  const promPort = await freePort()
  const config = join(dir, 'prometheus.yml')
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: stage',
      '    scheme: https',
      '    metrics_path: /metrics',
      '    tls_config:',
      `      ca_file: ${r.caFile}`,
      `      cert_file: ${observer.certFile}`,
      `      key_file: ${observer.keyFile}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${apiPort}']`,
      '',
    ].join('\n'),
  )
  let log = ''
  const prom: ChildProcess = spawn(
    '/usr/bin/prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  prom.stderr?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  cleanup(t, 'killing prometheus', async () => {
    if (prom.exitCode !== null || prom.signalCode !== null) return
    prom.kill('SIGKILL')
    await new Promise((r) => prom.once('exit', r))
  })
  const q = (expr: string) => getJson(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`).catch(() => null)
  let temp: any = null
  const deadline = Date.now() + 40000
  while (Date.now() < deadline) {
    temp = await q('stage_temperature_celsius{zone="cpu"}')
    if (temp?.data?.result?.length) break
    await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(temp?.data?.result?.[0]?.value?.[1], '61.5', `prometheus has the temperature (log: ${log.slice(-400)})`)
  const up = await q('up{job="stage"}')
  t.equal(up?.data?.result?.[0]?.value?.[1], '1', 'the target is up')
  // The state Prometheus holds is the one the unit reported at the last scrape (1 s): asked until
  // the two agree (the unit may still be leaving DEGRADED after its start).
  let held = ''
  const until = Date.now() + 15000
  while (Date.now() < until) {
    const st = await q('stage_watchdog_state == 1')
    held = st?.data?.result?.[0]?.metric?.stage_watchdog_state ?? ''
    if (held === run.app.status().state) break
    await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(held, run.app.status().state, 'the watchdog state the unit reports')
})
