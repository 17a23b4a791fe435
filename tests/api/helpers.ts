// Shared fixtures for the API tests: a provisioned data directory with the certificates a test needs
// (operator, observer, expired, revoked, and one from another device's CA), and a small https client.

import { readFileSync } from 'node:fs'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { join } from 'node:path'
import { type ApiHandle, type ApiOptions, startApi } from '../../firmware/api/server.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry } from '../../firmware/commands/index.ts'
import { createRegistry } from '../../firmware/commands/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { type Bundle, issueClient, provision, revokeClient } from '../../provisioning/provision.ts'

export interface SimRig {
  app: ApplianceApi
  registry: CommandRegistry
  api: ApiHandle
}

/**
 * The real Appliance on the sim board (engine, watchdog, simulated front panel) with the real command
 * registry and the API attached as a service, the way the integrator starts it. Stopped with the test.
 */
export async function bootSim(t: { teardown(fn: () => unknown): void }, dataDir: string, opts: ApiOptions = {}): Promise<SimRig> {
  let rig: SimRig | null = null
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      services: [
        async (app) => {
          const registry = createRegistry(app)
          const api = await startApi(app, registry, app.profile, { port: 0, host: '127.0.0.1', ...opts })
          rig = { app, registry, api }
          return api
        },
      ],
    },
  )
  t.teardown(() => run.stop())
  return rig!
}

export interface Creds {
  cert: string
  key: string
  ca: string
}

export interface Fixture {
  dataDir: string
  /** Where the crew's bundles were handed out to (outside the data directory, like removable media). */
  crew: string
  caFile: string
  pin: string
  operator: Bundle
  observer: Bundle
  expired: Bundle
  revoked: Bundle
  foreign: Bundle
  creds(b: Bundle): Creds
}

export async function makeFixture(root: string): Promise<Fixture> {
  const dataDir = join(root, 'data')
  const crew = join(root, 'crew')
  const r = await provision({ dataDir, bundlesOut: crew })
  const operator = r.bundles.find((b) => b.role === 'operator')!
  const observer = r.bundles.find((b) => b.role === 'observer')!
  const expired = issueClient(dataDir, {
    outParent: crew,
    name: 'expired-tech',
    role: 'operator',
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2020-02-01T00:00:00Z'),
  })
  const revoked = issueClient(dataDir, { outParent: crew, name: 'lost-tablet', role: 'operator' })
  revokeClient(dataDir, { serial: revoked.serial })
  const other = await provision({ dataDir: join(root, 'other-device'), bundlesOut: join(root, 'other-crew') })
  const foreign = other.bundles.find((b) => b.role === 'operator')!
  const caFile = r.caFile
  return {
    dataDir,
    crew,
    caFile,
    pin: r.pin,
    operator,
    observer,
    expired,
    revoked,
    foreign,
    creds: (b) => ({ cert: readFileSync(b.certFile, 'utf8'), key: readFileSync(b.keyFile, 'utf8'), ca: readFileSync(caFile, 'utf8') }),
  }
}

export interface Reply {
  status: number
  json: any
  text: string
  headers: Record<string, string | string[] | undefined>
}

/** One HTTPS request with client credentials (or none). Resolves on the reply; rejects on TLS refusal. */
export function call(
  port: number,
  creds: Partial<Creds> & { ca: string },
  method: string,
  path: string,
  body?: string | object,
  extra: Partial<RequestOptions> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    const headers: Record<string, string | number> = {}
    if (data !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(data)
    }
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        servername: 'localhost',
        agent: false,
        ca: creds.ca,
        ...(creds.cert ? { cert: creds.cert, key: creds.key } : {}),
        headers: { ...headers, ...(extra.headers as Record<string, string> | undefined) },
        ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'headers')),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown = null
          try {
            json = JSON.parse(text)
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    if (data !== undefined) req.write(data)
    req.end()
  })
}
