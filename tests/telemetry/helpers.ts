// The real peers for the telemetry tests: a broker PKI made with openssl, Mosquitto from Debian
// started on a free port with TLS, client certificates required and an ACL (each unit may write only
// under +/+/<its CN>/#), and a provisioned unit running as its own process.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { ConfigStore } from '../../firmware/store/config.ts'
import { provision } from '../../provisioning/provision.ts'
import { until } from '../helpers/until.ts'

const root = join(import.meta.dirname, '..', '..')

/** Resolves as `p` does, or rejects after `ms` saying what was awaited: no wait in these tests is open-ended. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/**
 * Runs `fn` when `t` ends, bounded by `ms`; a teardown that throws or times out is reported on stderr
 * and the others still run. (tap skips every later teardown once one throws: a unit, a broker or a
 * client left running then keeps the test process alive until tap's 300 s timeout.)
 */
export function cleanup(t: Test, what: string, fn: () => unknown, ms = 15000): void {
  t.teardown(async () => {
    try {
      await bounded(Promise.resolve().then(fn), ms, what)
    } catch (e) {
      process.stderr.write(`teardown: ${what}: ${(e as Error).message}\n`)
    }
  })
}

/**
 * A fresh folder in the system's temp dir, removed after every teardown registered later (tap runs
 * teardowns last-in first-out). Not `t.testdir()`: tap removes that folder BEFORE the teardowns run,
 * while the unit, its publisher and the broker still write into it; a write racing the removal fails
 * it with ENOTEMPTY, tap then skips the teardowns and the test hangs on the processes left running.
 */
export function scratch(t: Test, name = 'fw-telemetry'): string {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`))
  cleanup(t, `removing ${dir}`, () => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }))
  return dir
}

const ossl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' })

export interface BrokerPki {
  dir: string
  /** The broker's CA, which units trust for the broker. */
  brokerCa: string
  /** A fleet client (the consumer side), its own CA and cert. */
  fleet: { cert: string; key: string; ca: string }
}

/** A CA, a server cert for 127.0.0.1/localhost, and a fleet client certificate (CN fleet). */
export function makeBrokerPki(dir: string): BrokerPki {
  const ext = join(dir, 'ext.cnf')
  writeFileSync(ext, '[srv]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n[cli]\nextendedKeyUsage=clientAuth\n')
  ossl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=test broker CA',
      '-days',
      '2',
    ],
    dir,
  )
  for (const [name, cn, sect] of [
    ['broker', 'localhost', 'srv'],
    ['fleet', 'fleet', 'cli'],
  ] as const) {
    ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir)
    ossl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        'ext.cnf',
        '-extensions',
        sect,
      ],
      dir,
    )
  }
  return { dir, brokerCa: join(dir, 'ca.crt'), fleet: { cert: join(dir, 'fleet.crt'), key: join(dir, 'fleet.key'), ca: join(dir, 'ca.crt') } }
}

export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export class Broker {
  readonly port: number
  readonly #conf: string
  #proc: ChildProcess | null = null
  log = ''

  constructor(pki: BrokerPki, clientCas: string[], port: number) {
    this.port = port
    const bundle = join(pki.dir, 'client-cas.pem')
    execFileSync('sh', ['-c', `cat ${clientCas.map((c) => `'${c}'`).join(' ')} > '${bundle}'`])
    writeFileSync(join(pki.dir, 'acl'), 'user fleet\ntopic read #\ntopic write +/+/+/cmd/request\n\npattern write +/+/%u/#\npattern read +/+/%u/cmd/request\n')
    // A fresh broker: nothing retained or queued from an earlier run in the same folder.
    rmSync(join(pki.dir, 'mosquitto.db'), { force: true })
    this.#conf = join(pki.dir, 'mosquitto.conf')
    writeFileSync(
      this.#conf,
      [
        // Run as whoever runs the tests (as root, mosquitto would switch to its own user and lose the files).
        `user ${userInfo().username}`,
        'per_listener_settings false',
        'persistence true',
        `persistence_location ${pki.dir}/`,
        'autosave_interval 1',
        'max_queued_messages 100000',
        `acl_file ${join(pki.dir, 'acl')}`,
        `listener ${port} 127.0.0.1`,
        `cafile ${bundle}`,
        `certfile ${join(pki.dir, 'broker.crt')}`,
        `keyfile ${join(pki.dir, 'broker.key')}`,
        'require_certificate true',
        'use_identity_as_username true',
        '',
      ].join('\n'),
    )
  }

  /** The broker's process id (null when stopped). */
  get pid(): number | null {
    return this.#proc && this.#proc.exitCode === null ? (this.#proc.pid ?? null) : null
  }

  /** Starts mosquitto and waits until it takes TLS connections. */
  async start(): Promise<void> {
    const p = spawn('/usr/sbin/mosquitto', ['-c', this.#conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#proc = p
    p.stdout?.on('data', (d: Buffer) => {
      this.log += d.toString()
    })
    p.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString()
    })
    try {
      await until(() => /mosquitto version .* running/.test(this.log) || p.exitCode !== null, 10000, 'mosquitto to start')
    } catch (e) {
      p.kill('SIGKILL') // not left running behind a failed start
      throw e
    }
    if (p.exitCode !== null) throw new Error(`mosquitto exited: ${this.log}`)
  }

  async stop(): Promise<void> {
    const p = this.#proc
    if (!p || p.exitCode !== null) return
    this.log = ''
    p.kill('SIGTERM')
    // A broker that does not stop within 10 s is killed: a test never leaves one behind.
    const hard = setTimeout(() => p.kill('SIGKILL'), 10000)
    await new Promise((r) => p.once('exit', r))
    clearTimeout(hard)
  }
}

/** An MQTT 5 client with a certificate, connected. */
export async function client(
  port: number,
  creds: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer },
  opts: IClientOptions = {},
): Promise<MqttClient> {
  const c = connect(`mqtts://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 500, connectTimeout: 5000, ...creds, ...opts })
  try {
    await bounded(
      new Promise<void>((res, rej) => {
        c.once('connect', () => res())
        c.once('error', rej)
      }),
      20000,
      `an MQTT connection to 127.0.0.1:${port} (${opts.clientId ?? 'a test client'})`,
    )
  } catch (e) {
    // A client that never connected must not keep reconnecting (and the test process alive).
    c.end(true)
    throw e
  }
  return c
}

/** Turns telemetry on in a unit's stored config, as `telemetry on` would. */
export async function configureTelemetry(dataDir: string, setting: Record<string, unknown>): Promise<void> {
  const store = new ConfigStore(dataDir, { log: () => {} })
  const cfg = await store.load()
  await store.update({ subsystems: { ...cfg.subsystems, telemetry: { enabled: true, ...setting } } })
}

export interface UnitProc {
  proc: ChildProcess
  out: string
}

/** Starts tests/telemetry/unit.ts on `dataDir` and waits for "ready". */
export async function startUnit(dataDir: string, startMs = 30000): Promise<UnitProc> {
  const proc = spawn(process.execPath, [join(root, 'tests', 'telemetry', 'unit.ts'), dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const u: UnitProc = { proc, out: '' }
  proc.stdout?.on('data', (d: Buffer) => {
    u.out += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    u.out += d.toString()
  })
  try {
    await until(() => u.out.includes('ready') || proc.exitCode !== null, startMs, 'the unit to start')
  } catch (e) {
    proc.kill('SIGKILL') // not left running behind a failed start
    throw e
  }
  if (proc.exitCode !== null) throw new Error(`unit exited: ${u.out}`)
  return u
}

/** A message as the fleet's consumer got it. */
export interface Seen {
  topic: string
  body: Record<string, unknown>
  retain: boolean
  /** The broker redelivering to this consumer (its own at-least-once), not the unit sending twice. */
  dup: boolean
  at: number
}

/**
 * What the consumer got of one start (`boot`) of the unit under `root`: the broker's own DUP
 * redeliveries set aside (a consumer drops them by (boot, seq)), the rest must hold each message once,
 * in order, from seq 1 (retained copies, seen on subscribing, are not counted).
 */
export function deliveryCheck(seen: Seen[], root: string, boot: number) {
  const all = seen.filter((s) => !s.retain && typeof s.body.seq === 'number' && s.body.boot === boot && s.topic.startsWith(`${root}/`))
  const key = (s: Seen) => `${s.body.seq}`
  const first = new Map<string, number>()
  all.forEach((s, i) => {
    if (!first.has(key(s))) first.set(key(s), i)
  })
  const redeliveredSet = new Set(all.filter((s, i) => s.dup && first.get(key(s))! < i))
  const unique = all.filter((s) => !redeliveredSet.has(s))
  const seqs = unique.map((s) => s.body.seq as number)
  const dupes = seqs.filter((v, i) => seqs.indexOf(v) !== i)
  const have = new Set(seqs)
  const max = Math.max(0, ...seqs)
  const gaps: number[] = []
  for (let n = 1; n <= max; n++) if (!have.has(n)) gaps.push(n)
  const outOfOrder = seqs.slice(1).filter((v, i) => v < seqs[i]!).length
  return { unique, seqs, redelivered: redeliveredSet.size, dupes, gaps, outOfOrder }
}

/** A started Mosquitto that trusts `dataDir`'s unit CA and the fleet's (TLS, client certificates,
 *  the ACL), stopped at the test's end. */
export async function brokerFor(t: Test, dir: string, dataDir: string): Promise<{ pki: BrokerPki; broker: Broker }> {
  const pki = makeBrokerPki(dir)
  const broker = new Broker(pki, [join(dataDir, 'ca', 'ca-cert.pem'), pki.brokerCa], await freePort())
  cleanup(t, 'stopping mosquitto', () => broker.stop())
  await broker.start()
  return { pki, broker }
}

/** A provisioned unit's data folder in a scratch folder, and a broker for it. */
export async function unitAndBroker(t: Test): Promise<{ dir: string; dataDir: string; serial: string; pki: BrokerPki; broker: Broker }> {
  const dir = scratch(t)
  const dataDir = join(dir, 'data')
  await bounded(provision({ dataDir, bundlesOut: join(dir, 'crew') }), 60000, 'provisioning the unit')
  const serial = readFileSync(join(dataDir, 'identity', 'serial'), 'utf8').trim()
  return { dir, dataDir, serial, ...(await brokerFor(t, dir, dataDir)) }
}
