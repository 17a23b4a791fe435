// One firmware per board: two `firmware run` on the same data directory would share the store,
// the presets and the health file recovery reads, and fight over the UARTs. The lock is a file
// holding the owner's pid, created exclusively; a lock left by a process that is gone (a crash, a
// power cut) is taken over.
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'

export interface InstanceLock {
  readonly path: string
  release(): void
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function acquireInstanceLock(dataDir: string, board: string): InstanceLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, 'firmware.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return {
        path,
        release: () => {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true })
          } catch { /* already gone */ }
        },
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let owner = NaN
      try { owner = Number(readFileSync(path, 'utf8').trim()) } catch { /* vanished meanwhile: retry */ }
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw new FirmwareError('FW_ERR_BUSY', `the firmware is already running on board ${board} (pid ${owner}); stop it first, or use another board profile`)
      }
      rmSync(path, { force: true }) // left by a process that is gone
    }
  }
  throw new FirmwareError('FW_ERR_BUSY', `could not take ${path}; another firmware is starting on board ${board}`)
}
