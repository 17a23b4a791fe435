// Builds the appliance image into a temp dir (once; it takes a while) and starts the single binary
// from there: help, the native packages it loads from beside itself, and the appliance on the sim
// board for a couple of seconds.

import { spawn, spawnSync } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const repo = join(import.meta.dirname, '..', '..')
const dir = t.testdir({})
const image = join(dir, 'image')
const recoveryDir = join(dir, 'recovery')
const build = spawnSync('bash', [join(repo, 'scripts', 'build-image.sh'), '--out', image, '--version', '9.8.7', '--recovery-out', recoveryDir], {
  encoding: 'utf8',
  timeout: 170_000,
})
const binary = join(image, 'firmware')
const recovery = join(recoveryDir, 'recovery')

t.test('npm run build:image produces the binary, addons, models, profiles, unit and manifest', { timeout: 180_000 }, async (t) => {
  if (build.status !== 0) t.comment(build.stdout + build.stderr)
  t.equal(build.status, 0, 'the image builds')
  t.notMatch(build.stdout + build.stderr, /\[WARNING\]/, 'the bundles build without esbuild warnings')
  for (const f of [
    'firmware',
    'lib/addons/build/Release/engine.node',
    'lib/board/sim/profile.json',
    'lib/web/dist/foh/index.html',
    'lib/web/dist/foh/manifest.json',
    'lib/board/jetson-agx-rack/profile.json',
    'lib/models/crowd_state.onnx',
    'lib/node_modules/onnxruntime-node/package.json',
    'lib/node_modules/serialport/package.json',
    'stage-firmware.service',
    'manifest.json',
  ]) {
    t.ok(existsSync(join(image, f)), f)
  }
  t.ok(statSync(binary).mode & 0o111, 'the binary is executable')
  const m = JSON.parse(readFileSync(join(image, 'manifest.json'), 'utf8')) as { version: string; node: string; boards: string[]; binary: { sha256: string } }
  t.equal(m.version, '9.8.7')
  t.equal(m.node, 'v24.21.0')
  // Every board profile in the repository ships (the sim boards too: the image runs on a laptop).
  const boards = readdirSync(join(repo, 'board'))
    .filter((b) => existsSync(join(repo, 'board', b, 'profile.json')))
    .sort()
  t.ok(boards.includes('jetson-agx-rack') && boards.includes('sim'), `boards in the repository: ${boards.join(', ')}`)
  t.same(m.boards, boards)
  t.equal(m.binary.sha256, createHash('sha256').update(readFileSync(binary)).digest('hex'), 'manifest hash matches the binary')
  const unit = readFileSync(join(image, 'stage-firmware.service'), 'utf8')
  t.match(unit, /^Type=notify$/m)
  t.match(unit, /^WatchdogSec=\d+s?$/m)
  t.match(unit, /^Restart=always$/m)
  // Boot counting, health confirmation and the pending timeout are on the boot path itself.
  t.match(unit, /^ExecStart=\/opt\/stage\/recovery\/recovery --profile \S+ start$/m)
  t.match(unit, /^NotifyAccess=all$/m, "the firmware (recovery's child) may notify")
  t.notMatch(readFileSync(join(recoveryDir, 'stage-recovery.service'), 'utf8'), /marks a new slot good/)
})

t.test('the binary runs "firmware help" with only the image (no Node on PATH)', { timeout: 30_000 }, async (t) => {
  const r = spawnSync(binary, ['help'], { encoding: 'utf8', cwd: dir, env: { PATH: '/usr/bin:/bin' } })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /usage: firmware <command>/)
  t.equal(r.stderr, '', 'no warnings')
  const bad = spawnSync(binary, ['frobnicate'], { encoding: 'utf8', cwd: dir })
  t.equal(bad.status, 1)
  t.match(bad.stderr, /unknown command "frobnicate".*\[FW_ERR_USAGE\]/)
})

t.test('onnxruntime-node loads from beside the binary and runs a shipped model', { timeout: 30_000 }, async (t) => {
  const script = join(dir, 'ort-check.mjs')
  writeFileSync(
    script,
    `
    import { createRequire } from 'node:module'
    import { join, dirname } from 'node:path'
    const lib = join(dirname(process.execPath), 'lib')
    const ort = createRequire(lib + '/')('onnxruntime-node')
    const s = await ort.InferenceSession.create(join(lib, 'models', 'crowd_state.onnx'))
    console.log(JSON.stringify({ resolved: createRequire(lib + '/').resolve('onnxruntime-node'), inputs: s.inputNames }))
  `,
  )
  const r = spawnSync(binary, [script], { encoding: 'utf8', cwd: dir })
  t.equal(r.status, 0, r.stderr)
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { resolved: string; inputs: string[] }
  t.ok(o.resolved.startsWith(join(image, 'lib', 'node_modules')), `resolved ${o.resolved}`)
  t.ok(o.inputs.length > 0)
})

t.test('"firmware run --board sim" starts from the image, processes audio and stops cleanly', { timeout: 60_000 }, async (t) => {
  const child = spawn(binary, ['run', '--board', 'sim', '--seconds', '2.5'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  // While it runs: which native files did it map? They must come from the image.
  const mapped = new Set<string>()
  const poll = setInterval(() => {
    try {
      for (const line of readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n')) {
        const p = line.split(/\s+/)[5]
        if (p?.endsWith('.node')) mapped.add(p)
      }
    } catch {
      /* exited */
    }
  }, 100)
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
  clearInterval(poll)
  t.equal(code, 0, err)
  // Processing: ACTIVE, or DEGRADED (a busy machine's xruns or late inference) with the relay on.
  t.match(out, /state (ACTIVE|DEGRADED) +cause \S+ +relay processed/)
  t.notMatch(out, /state (BYPASS|MANUAL_BYPASS) (?!\(shutdown\))/, 'never bypassed while running')
  const blocks = [...out.matchAll(/block (\d+)/g)].map((m) => Number(m[1]))
  t.ok(Math.max(...blocks) > 100, `processed ${Math.max(...blocks)} blocks`)
  const engine = [...mapped].find((p) => p.endsWith('engine.node'))
  t.equal(engine, join(image, 'lib', 'addons', 'build', 'Release', 'engine.node'), 'engine addon from the image')
  t.ok(
    [...mapped].every((p) => p.startsWith(image)),
    `all addons from the image: ${[...mapped].join(', ')}`,
  )
})

t.test('the image packs into a signed bundle that the recovery binary verifies and installs', { timeout: 60_000 }, async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(join(dir, 'update.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
  writeFileSync(join(dir, 'update.pub'), publicKey.export({ type: 'spki', format: 'pem' }))
  const profile = join(dir, 'unit', 'board', 'sim', 'profile.json')
  const sim = JSON.parse(readFileSync(join(repo, 'board', 'sim', 'profile.json'), 'utf8')) as Record<string, unknown>
  mkdirSync(join(dir, 'unit', 'board', 'sim'), { recursive: true })
  writeFileSync(
    profile,
    JSON.stringify({
      ...sim,
      dataDir: join(dir, 'unit', 'data'),
      recovery: {
        slots: { a: join(dir, 'unit', 'slot-a'), b: join(dir, 'unit', 'slot-b') },
        stateDir: join(dir, 'unit', 'recovery'),
        bootTries: 3,
        healthyPeriodS: 5,
        publicKey: join(dir, 'update.pub'),
      },
    }),
  )
  const rec = (...a: string[]) => spawnSync(recovery, a, { encoding: 'utf8', cwd: dir })
  const made = rec('bundle', 'create', '--image', image, '--board', 'sim', '--key', join(dir, 'update.pem'), '--out', join(dir, 'b.sbundle'))
  t.equal(made.status, 0, made.stderr)
  t.match(made.stdout, /bundle 9\.8\.7 for sim/)
  const installed = rec('--profile', profile, 'install', join(dir, 'b.sbundle'))
  t.equal(installed.status, 0, installed.stderr)
  t.match(installed.stdout, /installed 9\.8\.7 to slot a/)
  const help = spawnSync(join(dir, 'unit', 'recovery', 'current', 'firmware'), ['help'], { encoding: 'utf8' })
  t.equal(help.status, 0, 'the installed binary runs from the slot')
  // A bundle that claims another version than the image's manifest is refused: it could never be confirmed.
  const mislabelled = rec(
    'bundle',
    'create',
    '--image',
    image,
    '--board',
    'sim',
    '--version',
    '9.8.8',
    '--key',
    join(dir, 'update.pem'),
    '--out',
    join(dir, 'c.sbundle'),
  )
  t.equal(mislabelled.status, 1)
  t.match(mislabelled.stderr, /manifest\.json says 9\.8\.7.*\[REC_ERR_USAGE\]/)
  t.match(
    rec('bundle', 'create', '--image', image, '--board', 'rack-a', '--key', join(dir, 'update.pem'), '--out', join(dir, 'c.sbundle')).stderr,
    /board "rack-a" is not one this image supports \(jetson-agx-rack, sim, sim-aes67\)/,
  )
  // A tampered copy of a newer bundle is refused (the image relabelled 9.8.8 for the occasion).
  const manifestFile = join(image, 'manifest.json')
  const manifest = readFileSync(manifestFile, 'utf8')
  writeFileSync(manifestFile, manifest.replace('"version": "9.8.7"', '"version": "9.8.8"'))
  const newer = rec('bundle', 'create', '--image', image, '--board', 'sim', '--key', join(dir, 'update.pem'), '--out', join(dir, 'c.sbundle'))
  writeFileSync(manifestFile, manifest)
  t.equal(newer.status, 0, newer.stderr)
  const buf = readFileSync(join(dir, 'c.sbundle'))
  buf[Math.floor(buf.length / 2)] = buf[Math.floor(buf.length / 2)]! ^ 1
  writeFileSync(join(dir, 'c.sbundle'), buf)
  const refused = rec('--profile', profile, 'install', join(dir, 'c.sbundle'))
  t.equal(refused.status, 1)
  t.match(refused.stderr, /does not match its signed hash.*\[REC_ERR_BUNDLE_TAMPERED\]/)
  t.match(rec('--profile', profile, 'slots').stdout, /slot a \* good\s+9\.8\.7/)
})
