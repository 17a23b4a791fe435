// Fixtures for the recovery tests: keys, a recovery config in a temp dir, fake firmware images and
// signed bundles. The fake firmware is a small Node script that behaves as told (healthy, crash,
// hang) and reports health the way the real firmware does (firmware/store/health.ts's format).
import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createBundle } from '../../recovery/bundle.ts'
import type { RecoveryConfig } from '../../recovery/config.ts'

export interface Fixture {
  root: string
  cfg: RecoveryConfig
  privateKey: string
  publicKey: string
  otherPrivateKey: string
}

export function makeFixture(root: string, overrides: Partial<RecoveryConfig> = {}): Fixture {
  const keys = join(root, 'keys')
  mkdirSync(keys, { recursive: true })
  const write = (name: string): [string, string] => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(join(keys, `${name}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    writeFileSync(join(keys, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }))
    return [join(keys, `${name}.pem`), join(keys, `${name}.pub`)]
  }
  const [privateKey, publicKey] = write('update')
  const [otherPrivateKey] = write('other')
  const dataDir = join(root, 'data')
  const cfg: RecoveryConfig = {
    board: 'sim',
    dataDir,
    slots: { a: join(root, 'slots', 'a'), b: join(root, 'slots', 'b') },
    stateDir: join(root, 'recovery'),
    healthFile: join(dataDir, 'health.json'),
    bootTries: 3,
    healthyPeriodS: 1,
    pendingTimeoutS: 121,
    publicKeyPath: publicKey,
    console: { path: 'none', baudRate: 115200 },
    keepOnReset: ['identity', 'ca', 'device.key', 'console-pin'],
    launch: [process.execPath, '{slot}/firmware.cjs', 'run', '--board', '{board}'],
    ...overrides,
  }
  return { root, cfg, privateKey, publicKey, otherPrivateKey }
}

const fakeFirmware = `// Fake firmware for recovery tests.
const fs = require('node:fs'); const path = require('node:path')
const behaviour = fs.readFileSync(path.join(__dirname, 'behaviour'), 'utf8').trim()
const version = JSON.parse(fs.readFileSync(path.join(__dirname, 'manifest.json'), 'utf8')).version
const file = process.env.STAGE_HEALTH_FILE
const report = (state, activeSince) => {
  const tmp = file + '.tmp-' + process.pid
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(tmp, JSON.stringify({ format: 'stage-health/1', state, activeSince, at: Date.now(), version, pid: process.pid }))
  fs.renameSync(tmp, file)
}
if (behaviour === 'crash') { report('BOOT', null); setTimeout(() => process.exit(1), 30) }
else if (behaviour === 'hang') { report('DEGRADED', null); setInterval(() => report('DEGRADED', null), 100) }
else { const since = Date.now(); report('ACTIVE', since); setInterval(() => report('ACTIVE', since), 100) }
process.on('SIGTERM', () => process.exit(0))
`

/** Writes a fake image directory: firmware.cjs, manifest.json, behaviour, a models/ file. */
export function makeImage(dir: string, version: string, behaviour: 'healthy' | 'crash' | 'hang' = 'healthy', weightBytes = 300_000): string {
  mkdirSync(join(dir, 'models'), { recursive: true })
  writeFileSync(join(dir, 'firmware.cjs'), fakeFirmware, { mode: 0o755 })
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'stage-image/1', version, boards: ['sim', 'jetson-agx-rack'] }))
  writeFileSync(join(dir, 'behaviour'), behaviour)
  writeFileSync(join(dir, 'models', 'weights.bin'), Buffer.alloc(weightBytes, 7))
  return dir
}

export function makeBundle(
  f: Fixture,
  version: string,
  o: { behaviour?: 'healthy' | 'crash' | 'hang'; board?: string; key?: string; weightBytes?: number } = {},
): string {
  const img = makeImage(join(f.root, 'images', `${version}-${o.behaviour ?? 'healthy'}-${o.board ?? 'sim'}`), version, o.behaviour, o.weightBytes)
  const out = join(f.root, 'bundles', `${version}-${o.behaviour ?? 'healthy'}-${o.board ?? 'sim'}.sbundle`)
  createBundle({ imageDir: img, board: o.board ?? 'sim', version, privateKeyPath: o.key ?? f.privateKey, out })
  return out
}

const repo = resolve(import.meta.dirname, '..', '..')

/** Writes the fixture's settings as a board profile file (absolute paths) for the real CLI. */
export function writeProfile(f: Fixture, file = join(f.root, 'rack-a.json')): string {
  const c = f.cfg
  writeFileSync(
    file,
    JSON.stringify(
      {
        name: c.board,
        dataDir: c.dataDir,
        recovery: {
          slots: c.slots,
          stateDir: c.stateDir,
          healthFile: c.healthFile,
          bootTries: c.bootTries,
          healthyPeriodS: c.healthyPeriodS,
          pendingTimeoutS: c.pendingTimeoutS,
          publicKey: c.publicKeyPath,
          console: c.console,
          keepOnReset: c.keepOnReset,
          launch: c.launch,
        },
      },
      null,
      2,
    ),
  )
  return file
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real recovery CLI (a child process) with `--profile profile`. */
export function cli(profile: string | null, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [join(repo, 'recovery', 'cli.ts'), ...(profile ? ['--profile', profile] : []), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The same, without waiting (for runs in parallel). */
export function cliAsync(profile: string, args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [join(repo, 'recovery', 'cli.ts'), '--profile', profile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}
