// One firmware per board: a second `firmware run` on the same data directory is refused with a
// clear error; a lock left by a crashed process does not keep the unit from starting.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { acquireInstanceLock } from '../../firmware/runtime/instance-lock.ts'

const root = join(import.meta.dirname, '..', '..')

t.test('a second firmware run on the same board is refused; the first runs on', async (t) => {
  const dir = t.testdir()
  const profile = JSON.parse(readFileSync(join(root, 'board', 'sim', 'profile.json'), 'utf8'))
  profile.dataDir = join(dir, 'data')
  mkdirSync(join(dir, 'b'))
  const file = join(dir, 'b', 'profile.json')
  writeFileSync(file, JSON.stringify(profile))
  const first = spawn(process.execPath, ['bin/firmware.js', 'run', '--board', file, '--seconds', '30'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { first.kill('SIGKILL') })
  let out = ''
  first.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  for (let i = 0; i < 300 && !/state ACTIVE/.test(out); i++) await new Promise((r) => setTimeout(r, 50))
  t.match(out, /state ACTIVE/, 'the first one is running')
  const second = spawnSync(process.execPath, ['bin/firmware.js', 'run', '--board', file, '--seconds', '2'], { cwd: root, encoding: 'utf8', timeout: 20000 })
  t.equal(second.status, 1, 'the second exits 1')
  t.match(second.stderr, new RegExp(`already running on board sim \\(pid ${first.pid}\\); stop it first.*\\[FW_ERR_BUSY\\]`))
  t.notMatch(second.stdout, /state /, 'and started nothing')
  first.kill('SIGTERM')
  const code = await new Promise((r) => first.once('exit', r))
  t.equal(code, 0, 'the first stops cleanly')
  t.notOk(existsSync(join(profile.dataDir, 'firmware.lock')), 'and takes its lock away')
})

t.test('a lock left by a process that is gone is taken over', async (t) => {
  const dir = t.testdir()
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  writeFileSync(join(dir, 'firmware.lock'), `${dead.stdout}\n`)
  const lock = acquireInstanceLock(dir, 'sim')
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid))
  t.throws(() => acquireInstanceLock(dir, 'sim'), { code: 'FW_ERR_BUSY' }, 'a live owner (this process) keeps it')
  lock.release()
  t.notOk(existsSync(lock.path))
})
