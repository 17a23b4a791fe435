// Builds the appliance image (npm run build:image): one executable (Node's single executable
// application: an esbuild CommonJS bundle of the firmware, injected with postject into a copy of
// the pinned Node 24) plus what it loads from beside itself.
//
//   image/
//     firmware                  the single binary
//     lib/                      the tree the bundled code sees as its repo root:
//       addons/build/Release/engine.node    the native engine
//       node_modules/...        native packages (onnxruntime-node, serialport) and their deps
//       models/                 ONNX models and manifests
//       board/                  board profiles and the simulated board
//       firmware/               sources that run outside the bundle (worker threads)
//     stage-firmware.service    systemd unit (Type=notify, WatchdogSec, Restart=always, ExecStart=recovery start)
//     manifest.json             the version manifest
//
// Usage: node scripts/image/build.ts [--out DIR] [--version X.Y.Z] [--no-strip]
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { buildWeb } from '../build-web.ts'

const repo = resolve(import.meta.dirname, '..', '..')
const args = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const k = args.indexOf(name)
  return k >= 0 ? args[k + 1] : undefined
}
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> }
const out = resolve(opt('--out') ?? join(repo, 'image'))
const version = opt('--version') ?? pkg.version
const strip = !args.includes('--no-strip')
const recoveryOut = opt('--recovery-out') ? resolve(opt('--recovery-out')!) : undefined
const lib = join(out, 'lib')
const work = join(out, '.build')
const t0 = performance.now()
const step = (msg: string): void => {
  process.stderr.write(`build-image: ${msg} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`)
}

function fail(msg: string): never {
  process.stderr.write(`build-image: ${msg}\n`)
  process.exit(1)
}

const addon = join(repo, 'addons', 'build', 'Release', 'engine.node')
if (!existsSync(addon)) fail('the native engine is not built; run "npm run build:addon" (or scripts/setup.sh) first')
if (Number(process.versions.node.split('.')[0]) !== 24) fail(`run with the pinned Node 24 (node_modules/.bin/node), not ${process.version}`)

rmSync(out, { recursive: true, force: true })
if (recoveryOut) rmSync(recoveryOut, { recursive: true, force: true })
mkdirSync(work, { recursive: true })

// --- 1. The bundle --------------------------------------------------------------------------
// Packages with native parts stay outside the bundle and load from lib/node_modules at run time.
const external = /^(serialport|@serialport\/.+|onnxruntime-node|onnxruntime-common|@jjhbw\/silero-vad)(\/.*)?$/
const imagePlugin: Plugin = {
  name: 'stage-image',
  setup(b) {
    b.onResolve({ filter: external }, (a) => ({ path: a.path, namespace: 'image-external' }))
    b.onLoad({ filter: /.*/, namespace: 'image-external' }, (a) => ({
      contents: `module.exports = require('node:module').createRequire(__stageImageLib + '/')(${JSON.stringify(a.path)})`,
      loader: 'js',
    }))
    // import.meta has no meaning in a CommonJS bundle: give each module the URL its source has
    // under lib/, so paths computed from it (addons, models, board, workers) land in the image.
    b.onLoad({ filter: /\.ts$/ }, (a) => {
      const rel = relative(repo, a.path).split(sep).join('/')
      const src = readFileSync(a.path, 'utf8')
        .replaceAll('import.meta.url', `__stageImageUrl(${JSON.stringify(rel)})`)
        .replaceAll('import.meta.dirname', `__stageImagePath(${JSON.stringify(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '.')})`)
        .replaceAll('import.meta.filename', `__stageImagePath(${JSON.stringify(rel)})`)
        // no bundled module is the process's main module (the entry calls main itself); saying so
        // keeps "run when started directly" guards off and esbuild quiet about an empty import.meta
        .replaceAll('import.meta.main', 'false')
      return { contents: src, loader: 'ts' }
    })
  },
}
const banner = [
  `var __stageImageLib = require('node:path').join(require('node:path').dirname(process.execPath), 'lib');`,
  `var __stageImagePath = (rel) => require('node:path').join(__stageImageLib, rel);`,
  `var __stageImageUrl = (rel) => require('node:url').pathToFileURL(__stageImagePath(rel)).href;`,
].join('\n')
/** Bundles `entry` and makes it a single executable at `binary`. */
async function singleExecutable(entry: string, binary: string): Promise<void> {
  const name = basename(binary)
  const bundle = join(work, `${name}.cjs`)
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    outfile: bundle,
    banner: { js: banner },
    plugins: [imagePlugin],
    // ws's optional native helpers: absent is fine, ws falls back to JS.
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'warning',
    legalComments: 'none',
  })
  step(`${name}: bundled ${(statSync(bundle).size / 1024).toFixed(0)} KiB`)
  const seaConfig = join(work, `${name}.sea-config.json`)
  const blob = join(work, `${name}.blob`)
  writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }))
  run(process.execPath, ['--experimental-sea-config', seaConfig])
  mkdirSync(dirname(binary), { recursive: true })
  copyFileSync(process.execPath, binary)
  chmodSync(binary, 0o755)
  // The pinned Node carries full debug info; the appliance does not need it.
  if (strip && spawnSync('strip', ['--version']).status === 0) run('strip', ['--strip-debug', binary])
  run(process.execPath, [
    join(repo, 'node_modules', 'postject', 'dist', 'cli.js'),
    binary,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ])
  step(`${name}: single binary ${(statSync(binary).size / 1048576).toFixed(1)} MiB`)
}

function run(cmd: string, argv: string[]): void {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' })
  if (r.status !== 0) fail(`${basename(cmd)} ${argv.join(' ')} failed:\n${r.stdout}${r.stderr}`)
}

// --- 2. The single executable -----------------------------------------------------------------
const binary = join(out, 'firmware')
await singleExecutable(join(repo, 'scripts', 'image', 'sea-entry.ts'), binary)

// --- 3. What the binary loads from beside it -----------------------------------------------------
mkdirSync(join(lib, 'addons', 'build', 'Release'), { recursive: true })
copyFileSync(addon, join(lib, 'addons', 'build', 'Release', 'engine.node'))
writeFileSync(join(lib, 'package.json'), `${JSON.stringify({ name: 'stage-firmware-image', version, private: true, type: 'module' }, null, 2)}\n`)

// Sources that run outside the bundle: worker threads and the simulated board's processes.
const copyTree = (from: string, to: string, keep: (p: string) => boolean): void => {
  cpSync(from, to, { recursive: true, filter: (p) => statSync(p).isDirectory() || keep(p) })
}
copyTree(join(repo, 'firmware'), join(lib, 'firmware'), (p) => p.endsWith('.ts'))
copyTree(join(repo, 'board'), join(lib, 'board'), (p) => /\.(ts|json)$/.test(p))
// The FOH page (issue 14, scripts/build-web.ts), where the API worker serves it from: lib/web/dist/foh.
await buildWeb(join(lib, 'web', 'dist', 'foh'))

// Models: the repo's ONNX files and manifests, and model files a manifest takes from a package.
mkdirSync(join(lib, 'models'), { recursive: true })
const modelsDir = join(repo, 'models')
const modelVersions: Record<string, unknown> = {}
for (const f of existsSync(modelsDir) ? readdirSync(modelsDir) : []) {
  if (!/\.(onnx|manifest\.json)$/.test(f)) continue
  copyFileSync(join(modelsDir, f), join(lib, 'models', f))
  if (f.endsWith('.manifest.json')) {
    const m = JSON.parse(readFileSync(join(modelsDir, f), 'utf8')) as { name?: string; version?: string; file?: string; sha256?: string }
    modelVersions[m.name ?? f] = m.version ?? null
    if (m.file?.startsWith('node_modules/')) {
      mkdirSync(dirname(join(lib, m.file)), { recursive: true })
      copyFileSync(join(repo, m.file), join(lib, m.file))
    }
  }
}

// Runtime packages and their dependency closure, without other platforms' binaries.
const platformDir = `${process.platform}-${process.arch}`
const skipInPackage = (name: string, rel: string): boolean => {
  if (/(^|\/)(test|tests|docs?|example|examples|\.github)(\/|$)/.test(rel) || /\.(md|map|d\.ts)$/.test(rel)) return true
  if (name === 'onnxruntime-node') {
    if (/^(lib|script)(\/|$)/.test(rel)) return true
    const m = /^bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/.exec(rel)
    if (m && (m[1] !== process.platform || (m[2] !== undefined && m[2] !== process.arch))) return true
  }
  if (name === '@serialport/bindings-cpp') {
    // C++ sources and build files: the prebuilt binding is what loads.
    if (/^src(\/|$)/.test(rel) || rel === 'binding.gyp') return true
    const m = /^prebuilds\/([^/]+)/.exec(rel)
    if (m && m[1] !== platformDir) return true
  }
  return false
}
// Only what the appliance runs; onnxruntime-node's install-time deps (adm-zip, global-agent) are not.
const installOnly = new Set(['adm-zip', 'global-agent'])
/** Copies packages `roots` and their dependency closure into `libDir`/node_modules; returns the names. */
function copyPackages(libDir: string, roots: string[]): Set<string> {
  const copied = new Set<string>()
  const copyPackage = (name: string, from: string): void => {
    if (copied.has(name) || installOnly.has(name)) return
    const dir = [join(from, 'node_modules', name), join(repo, 'node_modules', name)].find((d) => existsSync(join(d, 'package.json')))
    if (!dir) return // an optional dependency that is not installed
    copied.add(name)
    cpSync(dir, join(libDir, 'node_modules', name), {
      recursive: true,
      filter: (p) => {
        const rel = relative(dir, p).split(sep).join('/')
        return rel === '' || (!rel.startsWith('node_modules') && !skipInPackage(name, rel))
      },
    })
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) copyPackage(dep, dir)
  }
  for (const r of roots) copyPackage(r, repo)
  return copied
}
const copied = copyPackages(
  lib,
  Object.keys(pkg.dependencies).filter((d) => d !== 'node' && d !== 'node-addon-api'),
)
step(`runtime packages: ${[...copied].sort().join(', ')}`)

// --- 4. systemd unit and version manifest --------------------------------------------------------
writeFileSync(
  join(out, 'stage-firmware.service'),
  `# The appliance firmware. Installed by recovery into /etc/systemd/system; the binary runs from the
# active slot through recovery's "current" link. BOARD is set by the unit's drop-in (or edit here).
[Unit]
Description=Stage audio appliance firmware
After=network.target sound.target
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
Environment=BOARD=jetson-agx-rack
# "recovery start" is one boot: it counts the boot of a newly installed slot (rolling back after
# too many failed ones), runs <active slot>/firmware, marks a pending slot good once it has been
# healthy long enough (monotonic clock), and stops it when it is not healthy in time, so a hang
# counts as a failed boot. The firmware's sd_notify READY/WATCHDOG reach systemd (NotifyAccess=all).
ExecStart=/opt/stage/recovery/recovery --profile /opt/stage/recovery/lib/board/\${BOARD}/profile.json start
WatchdogSec=5s
Restart=always
RestartSec=1s
TimeoutStopSec=10s
KillMode=mixed
LimitMEMLOCK=infinity
LimitRTPRIO=95
Nice=-10

[Install]
WantedBy=multi-user.target
`,
)

const sha256 = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex')
const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' })
const manifest = {
  format: 'stage-image/1',
  name: 'stage-firmware',
  version,
  builtAt: new Date().toISOString(),
  commit: git.status === 0 ? git.stdout.trim() : null,
  node: process.version,
  boards: readdirSync(join(repo, 'board'))
    .filter((d) => existsSync(join(repo, 'board', d, 'profile.json')))
    .sort(),
  binary: { path: 'firmware', size: statSync(binary).size, sha256: sha256(binary) },
  engine: { path: 'lib/addons/build/Release/engine.node', sha256: sha256(join(lib, 'addons', 'build', 'Release', 'engine.node')) },
  models: modelVersions,
  packages: Object.fromEntries(
    [...copied].sort().map((n) => [n, (JSON.parse(readFileSync(join(lib, 'node_modules', n, 'package.json'), 'utf8')) as { version: string }).version]),
  ),
}
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
step(`image ${version} ready in ${out}`)

// --- 5. Optionally, recovery: its own binary, installed once per unit outside the A/B slots -------
if (recoveryOut) {
  const rlib = join(recoveryOut, 'lib')
  await singleExecutable(join(repo, 'recovery', 'cli.ts'), join(recoveryOut, 'recovery'))
  copyTree(join(repo, 'board'), join(rlib, 'board'), (p) => p.endsWith('profile.json'))
  writeFileSync(join(rlib, 'package.json'), `${JSON.stringify({ name: 'stage-recovery', version, private: true, type: 'module' }, null, 2)}\n`)
  copyPackages(rlib, ['serialport', '@serialport/parser-readline'])
  writeFileSync(
    join(recoveryOut, 'stage-recovery.service'),
    `# The recovery console on the board's recovery UART. Independent of the firmware it recovers;
# health confirmation does not depend on it (stage-firmware.service runs "recovery start").
[Unit]
Description=Stage appliance recovery console
After=local-fs.target

[Service]
Environment=BOARD=jetson-agx-rack
ExecStart=/opt/stage/recovery/recovery --profile /opt/stage/recovery/lib/board/\${BOARD}/profile.json console
Restart=always
RestartSec=2s

[Install]
WantedBy=multi-user.target
`,
  )
  step(`recovery ready in ${recoveryOut}`)
}
rmSync(work, { recursive: true, force: true })
