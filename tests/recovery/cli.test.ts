// The recovery command line as a stage tech or systemd runs it: the real CLI in a child process,
// on a board profile file in a temp dir.

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { cli, cliAsync, makeBundle, makeFixture, makeImage, writeProfile } from './helpers.ts'

const repo = resolve(import.meta.dirname, '..', '..')

/** What is wrong between slots.json and the slot directories (empty when each names what it holds). */
function inconsistencies(stateFile: string): string[] {
  const s = JSON.parse(readFileSync(stateFile, 'utf8')) as { active: 'a' | 'b'; slots: Record<string, { version: string | null }> }
  const wrong: string[] = []
  for (const k of ['a', 'b'] as const) {
    const v = s.slots[k]!.version
    if (v === null) continue
    const manifest = join(stateFile, '..', '..', 'slots', k, 'manifest.json')
    if (!existsSync(manifest)) wrong.push(`slot ${k} (${v}) does not exist on disk`)
    else if (JSON.parse(readFileSync(manifest, 'utf8')).version !== v) wrong.push(`slot ${k} does not hold ${v}`)
  }
  return wrong
}

t.test('a second install while the first is pending is refused and the good slot survives', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  t.equal(cli(p, ['install', makeBundle(f, '1.0.0')]).code, 0)
  t.equal(cli(p, ['install', makeBundle(f, '2.0.0')]).code, 0)
  t.equal(cli(p, ['boot']).code, 0)
  const third = cli(p, ['install', makeBundle(f, '3.0.0')])
  t.equal(third.code, 1)
  t.match(third.stderr, /recovery: .*2\.0\.0.* pending.*\[REC_ERR_SLOT\]/)
  t.notMatch(third.stderr, /internal error| {4}at /, 'no stack trace')
  const slots = cli(p, ['slots']).stdout
  t.match(slots, /slot a\s+good\s+1\.0\.0/, 'the good slot is still there')
  t.match(slots, /slot b \* pending 2\.0\.0/)
  t.match(cli(p, ['rollback']).stdout, /rolled back from slot b to slot a \(firmware 1\.0\.0\)/)
  // After a rollback nothing is pending, so the next update goes in.
  t.equal(cli(p, ['install', makeBundle(f, '3.0.0')]).code, 0)
})

t.test('two installs at once: one goes in, the other is refused cleanly, slots.json stays true', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  t.equal(cli(p, ['install', makeBundle(f, '1.0.0')]).code, 0)
  const b1 = makeBundle(f, '2.0.0', { weightBytes: 40_000_000 })
  const b2 = makeBundle(f, '2.1.0', { weightBytes: 40_000_000 })
  const [r1, r2] = await Promise.all([cliAsync(p, ['install', b1]), cliAsync(p, ['install', b2])])
  const ok = [r1, r2].filter((r) => r.code === 0)
  const failed = [r1, r2].filter((r) => r.code !== 0)
  t.equal(ok.length, 1, `exactly one install went in:\n${r1.stderr}\n${r2.stderr}`)
  for (const r of failed) {
    t.match(r.stderr, /\[REC_ERR_(BUSY|SLOT)\]/, 'refused with a code')
    t.notMatch(r.stderr, /internal error| {4}at /, 'no stack trace')
  }
  t.same(inconsistencies(join(f.cfg.stateDir, 'slots.json')), [], 'slots.json names what the slots hold')
  t.match(cli(p, ['slots']).stdout, /slot a\s+good\s+1\.0\.0/)
  t.same(readdirSync(join(f.root, 'slots')).sort(), ['a', 'b'], 'no staging directory left behind')
})

t.test('a corrupt slots.json: boot still starts a slot, and status, slots, install and rollback work', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  const state = join(f.cfg.stateDir, 'slots.json')
  t.equal(cli(p, ['install', makeBundle(f, '1.0.0')]).code, 0)
  t.equal(cli(p, ['install', makeBundle(f, '2.0.0')]).code, 0)
  writeFileSync(state, '{"format":"stage-slots/1","active":"b","slo')
  const boot = cli(p, ['boot'])
  t.equal(boot.code, 0, boot.stderr)
  t.equal(boot.stdout.trim(), f.cfg.slots.b, 'boots the slot the last-known-good copy names')
  t.match(boot.stderr, /last-known-good/, 'says where the state came from')
  t.match(cli(p, ['status']).stdout, /active: slot b, firmware 2\.0\.0, pending \(boot 1 of 3\)/)
  t.match(cli(p, ['rollback']).stdout, /rolled back from slot b to slot a/)

  // Both the file and its copy gone bad: the state is rebuilt from the slots on disk.
  writeFileSync(state, 'garbage')
  writeFileSync(`${state}.lkg`, 'garbage too')
  const boot2 = cli(p, ['boot'])
  t.equal(boot2.code, 0, boot2.stderr)
  t.equal(boot2.stdout.trim(), f.cfg.slots.a, 'boots the slot "current" points at')
  t.match(cli(p, ['slots']).stdout, /slot a \* good\s+1\.0\.0/)
  t.equal(cli(p, ['install', makeBundle(f, '3.0.0')]).code, 0, 'an update can be installed again')
  t.match(cli(p, ['status']).stdout, /active: slot b, firmware 3\.0\.0, pending/)
})

t.test('a corrupt slots.json with nothing to go on still boots a slot that holds firmware', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  t.equal(cli(p, ['install', makeBundle(f, '1.0.0')]).code, 0)
  writeFileSync(join(f.cfg.stateDir, 'slots.json'), '\0\0\0\0')
  writeFileSync(join(f.cfg.stateDir, 'slots.json.lkg'), '')
  const boot = cli(p, ['boot'])
  t.equal(boot.code, 0, boot.stderr)
  t.equal(boot.stdout.trim(), f.cfg.slots.a)
})

t.test('boot starts the other good slot when the active slot directory is gone', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  t.equal(cli(p, ['install', makeBundle(f, '1.0.0')]).code, 0)
  t.equal(cli(p, ['install', makeBundle(f, '2.0.0')]).code, 0)
  rmSync(f.cfg.slots.b, { recursive: true })
  const boot = cli(p, ['boot'])
  t.equal(boot.code, 0, boot.stderr)
  t.equal(boot.stdout.trim(), f.cfg.slots.a)
  t.match(cli(p, ['slots']).stdout, /slot b\s+bad\s+2\.0\.0\s+its directory .* is missing/)
})

t.test('factory-reset refuses while a firmware holds its lock, and goes ahead once it is gone', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  const d = f.cfg.dataDir
  mkdirSync(join(d, 'presets'), { recursive: true })
  mkdirSync(join(d, 'run'), { recursive: true })
  writeFileSync(join(d, 'presets', 'verse.json'), '{}')
  // A live process takes the lock the way the firmware does (its own code, whatever its format).
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { acquireInstanceLock } from ${JSON.stringify(join(repo, 'firmware', 'runtime', 'instance-lock.ts'))}
     acquireInstanceLock(${JSON.stringify(d)}, 'sim'); console.log('locked'); setInterval(() => {}, 1000)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    holder.kill('SIGKILL')
  })
  await new Promise<void>((r) => holder.stdout.once('data', () => r()))
  const r = cli(p, ['factory-reset', '--yes'])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`firmware is running .*pid ${holder.pid}.*\\[REC_ERR_BUSY\\]`))
  t.same(readdirSync(d).sort(), ['firmware.lock', 'presets', 'run'], 'nothing removed')
  holder.kill('SIGKILL')
  await new Promise((r) => holder.once('exit', r))
  const r2 = cli(p, ['factory-reset', '--yes'])
  t.equal(r2.code, 0, r2.stderr)
  t.match(r2.stdout, /removed: firmware\.lock, presets, run/)
})

t.test('factory-reset without --yes says to add --yes', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  mkdirSync(join(f.cfg.dataDir, 'presets'), { recursive: true })
  const r = cli(p, ['factory-reset'])
  t.equal(r.code, 1)
  t.match(r.stderr, /recovery factory-reset --yes/)
  t.notMatch(r.stderr, /factory-reset yes/)
  t.ok(existsSync(join(f.cfg.dataDir, 'presets')))
})

t.test('install prints its result once', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  const r = cli(p, ['install', makeBundle(f, '1.0.0')])
  t.equal(r.code, 0)
  t.match(r.stdout, /installed 1\.0\.0 to slot a/)
  t.notMatch(r.stderr, /installed/, 'not repeated on stderr')
})

t.test('bundle create refuses a version the image does not carry, and an unknown board', async (t) => {
  const f = makeFixture(t.testdir({}))
  const img = makeImage(join(f.root, 'img'), '1.0.0')
  const out = join(f.root, 'x.sbundle')
  const r = cli(null, ['bundle', 'create', '--image', img, '--board', 'sim', '--version', '2.0.0', '--key', f.privateKey, '--out', out])
  t.equal(r.code, 1)
  t.match(r.stderr, /--version 2\.0\.0 .*manifest\.json says 1\.0\.0.*\[REC_ERR_USAGE\]/)
  t.notOk(existsSync(out), 'no bundle written')
  const r2 = cli(null, ['bundle', 'create', '--image', img, '--board', 'jetson-agx-rak', '--key', f.privateKey, '--out', out])
  t.equal(r2.code, 1)
  t.match(r2.stderr, /board "jetson-agx-rak".*sim, jetson-agx-rack.*\[REC_ERR_USAGE\]/)
  t.notOk(existsSync(out), 'no bundle written')
  const ok = cli(null, ['bundle', 'create', '--image', img, '--board', 'sim', '--key', f.privateKey, '--out', out])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /bundle 1\.0\.0 for sim/)
})

t.test('confirm always says why a slot is not confirmed', async (t) => {
  const f = makeFixture(t.testdir({}))
  const p = writeProfile(f)
  cli(p, ['install', makeBundle(f, '1.0.0')])
  t.match(cli(p, ['confirm']).stdout, /^not confirmed: slot a \(1\.0\.0\) is good; nothing to confirm/)
  cli(p, ['install', makeBundle(f, '2.0.0')])
  t.match(cli(p, ['confirm']).stdout, /^not confirmed: slot b \(2\.0\.0\) has not booted since it was installed/)
  cli(p, ['boot'])
  t.match(cli(p, ['confirm']).stdout, /^not confirmed: no health report/)
  mkdirSync(f.cfg.dataDir, { recursive: true })
  writeFileSync(
    f.cfg.healthFile,
    JSON.stringify({ format: 'stage-health/1', state: 'ACTIVE', activeSince: Date.now(), at: Date.now(), version: '1.9.0', pid: process.pid }),
  )
  t.match(cli(p, ['confirm']).stdout, /^not confirmed: the firmware reports version 1\.9\.0, but slot b holds 2\.0\.0/)
})
