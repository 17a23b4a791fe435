// The single binary: its size, the image's size, the build time, and how long the appliance takes
// from process start to its first processed audio block on the sim board (the first status line
// `firmware run` prints comes right after the engine starts, and shows the block counter).
import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBundle, verifyBundle } from '../../recovery/bundle.ts'
import { SlotManager } from '../../recovery/slots.ts'
import type { BenchRow, BenchSection } from './lib.ts'

function dirSize(p: string): number {
  const st = statSync(p)
  if (!st.isDirectory()) return st.size
  return readdirSync(p).reduce((s, n) => s + dirSize(join(p, n)), 0)
}

/** Spawns `cmd`, resolves ms from spawn to the first stdout line showing block >= 1. */
function timeToFirstBlock(cmd: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let at: number | null = null
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (at === null && /block [1-9]\d*/.test(out)) {
        at = performance.now() - t0
        child.kill('SIGINT')
      }
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.on('close', () => (at === null ? reject(new Error(`no processed block: ${err.slice(-300)}`)) : resolve(at)))
  })
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const section: BenchSection = {
  name: 'image',
  async run(ctx) {
    const out = join(ctx.tmp, 'image')
    ctx.log('building the image ...')
    const t0 = performance.now()
    const b = spawnSync('bash', [join(ctx.repoRoot, 'scripts', 'build-image.sh'), '--out', out], { encoding: 'utf8' })
    if (b.status !== 0) throw new Error(`build-image failed: ${b.stderr.slice(-300)}`)
    const buildS = (performance.now() - t0) / 1000
    const binary = join(out, 'firmware')
    const rows: BenchRow[] = [
      {
        metric: 'single binary size',
        value: +(statSync(binary).size / 1048576).toFixed(1),
        unit: 'MiB',
        note: 'Node 24 (debug info stripped) + 0.1 MiB bundle',
      },
      { metric: 'image size (binary + lib/)', value: +(dirSize(out) / 1048576).toFixed(1), unit: 'MiB', note: 'onnxruntime for this platform only' },
      { metric: 'image build time', value: +buildS.toFixed(1), unit: 's' },
    ]
    const runs = ctx.quick ? 1 : 3
    const help: number[] = []
    for (let i = 0; i < runs; i++) {
      const h0 = performance.now()
      spawnSync(binary, ['help'])
      help.push(performance.now() - h0)
    }
    rows.push({ metric: '"firmware help" wall time (binary)', value: Math.round(median(help)), unit: 'ms', note: `median of ${runs}` })
    const bin: number[] = []
    const src: number[] = []
    for (let i = 0; i < runs; i++) {
      bin.push(await timeToFirstBlock(binary, ['run', '--board', 'sim'], ctx.tmp))
      src.push(
        await timeToFirstBlock(
          join(ctx.repoRoot, 'node_modules', '.bin', 'node'),
          [join(ctx.repoRoot, 'bin', 'firmware.js'), 'run', '--board', 'sim'],
          ctx.tmp,
        ),
      )
    }
    rows.push({
      metric: 'start to first processed block, sim (binary)',
      value: Math.round(median(bin)),
      unit: 'ms',
      note: `median of ${runs}; includes panel and console start`,
    })
    // An update of this image: sign, verify (signature + every hash, nothing written), install.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(join(ctx.tmp, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    writeFileSync(join(ctx.tmp, 'k.pub'), publicKey.export({ type: 'spki', format: 'pem' }))
    const bundlePath = join(ctx.tmp, 'update.sbundle')
    let u0 = performance.now()
    // The bundle carries the image's own version (the unit reports it; recovery refuses a mismatch).
    const version = (JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { version: string }).version
    createBundle({ imageDir: out, board: 'sim', version, privateKeyPath: join(ctx.tmp, 'k.pem'), out: bundlePath })
    rows.push({ metric: 'update bundle: size', value: +(statSync(bundlePath).size / 1048576).toFixed(1), unit: 'MiB' })
    rows.push({ metric: 'update bundle: create and sign', value: Math.round(performance.now() - u0), unit: 'ms' })
    u0 = performance.now()
    verifyBundle(bundlePath, { publicKeyPath: join(ctx.tmp, 'k.pub'), board: 'sim', installedVersion: null })
    rows.push({ metric: 'update bundle: verify (signature + all hashes)', value: Math.round(performance.now() - u0), unit: 'ms' })
    const unit = join(ctx.tmp, 'unit')
    const mgr = new SlotManager(
      {
        board: 'sim',
        dataDir: join(unit, 'data'),
        slots: { a: join(unit, 'a'), b: join(unit, 'b') },
        stateDir: join(unit, 'state'),
        healthFile: join(unit, 'data', 'health.json'),
        bootTries: 3,
        healthyPeriodS: 60,
        publicKeyPath: join(ctx.tmp, 'k.pub'),
        console: { path: 'none', baudRate: 115200 },
        keepOnReset: [],
        launch: [],
      },
      { log: () => {} },
    )
    u0 = performance.now()
    mgr.install(bundlePath)
    rows.push({ metric: 'update bundle: install to a slot (verify, write, fsync)', value: Math.round(performance.now() - u0), unit: 'ms' })
    rows.push({
      metric: 'start to first processed block, sim (from source)',
      value: Math.round(median(src)),
      unit: 'ms',
      note: 'same, node bin/firmware.js (type stripping)',
    })
    return rows
  },
}
export default section
