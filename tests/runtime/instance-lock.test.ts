// One firmware per board: a second `firmware run` on the same data directory is refused with a
// clear error; a lock left by a crashed process does not keep the unit from starting.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
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
  t.teardown(() => {
    first.kill('SIGKILL')
  })
  let out = ''
  first.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
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
  t.equal(readFileSync(lock.path, 'utf8').split('\n')[0], String(process.pid))
  t.throws(() => acquireInstanceLock(dir, 'sim'), { code: 'FW_ERR_BUSY' }, 'a live owner (this process) keeps it')
  lock.release()
  t.notOk(existsSync(lock.path))
})

/** A live process that is not a firmware: the pid a stale lock may name after a reboot. */
function liveStranger(t: { teardown(fn: () => void): void }): number {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    p.kill('SIGKILL')
  })
  return p.pid!
}

t.test('a lock written before this boot does not block start-up, even when its pid runs again', async (t) => {
  const dir = t.testdir()
  const pid = liveStranger(t)
  const file = join(dir, 'firmware.lock')
  writeFileSync(file, `${pid}\n`)
  const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1])
  utimesSync(file, btime - 3600, btime - 3600) // written an hour before this boot
  const lock = acquireInstanceLock(dir, 'sim')
  t.equal(lock.stale?.pid, pid, 'taken over; the stale owner is reported')
  t.equal(readFileSync(lock.path, 'utf8').split('\n')[0], String(process.pid))
  lock.release()
})

t.test('a lock from another boot id is stale; one from this boot with another start time is stale too', async (t) => {
  const dir = t.testdir()
  const pid = liveStranger(t)
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  writeFileSync(
    join(dir, 'firmware.lock'),
    `${pid}\nboot_id=00000000-0000-4000-8000-000000000000\nstart_time=1\nboard=sim\nstarted_at=2026-01-01T00:00:00.000Z\n`,
  )
  let lock = acquireInstanceLock(dir, 'sim')
  t.equal(lock.stale?.bootId, '00000000-0000-4000-8000-000000000000', 'other boot: taken over')
  lock.release()
  writeFileSync(join(dir, 'firmware.lock'), `${pid}\nboot_id=${boot}\nstart_time=1\nboard=sim\nstarted_at=2026-01-01T00:00:00.000Z\n`)
  lock = acquireInstanceLock(dir, 'sim')
  t.equal(lock.stale?.pid, pid, 'same boot, pid reused by a later process: taken over')
  lock.release()
})

t.test('the lock names pid, boot id and start time; a live owner keeps it', async (t) => {
  const dir = t.testdir()
  const lock = acquireInstanceLock(dir, 'sim')
  t.teardown(() => lock.release())
  const text = readFileSync(lock.path, 'utf8')
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8')
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  t.equal(text, `${process.pid}\nboot_id=${boot}\nstart_time=${startTime}\nboard=sim\nstarted_at=${/started_at=(.*)/.exec(text)![1]}\n`)
  t.equal(statSync(lock.path).mode & 0o777, 0o600)
  t.throws(() => acquireInstanceLock(dir, 'sim'), { code: 'FW_ERR_BUSY' })
})
