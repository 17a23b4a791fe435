// Durable file operations for recovery (its own copy: recovery may not import firmware/ code).
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomicSync(target: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`)
  const fd = openSync(tmp, 'w', mode)
  try {
    writeFileSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, target)
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      /* already gone */
    }
    throw e
  }
  fsyncPath(dirname(target))
}

/** fsyncs every file and directory under `dir` (after an extraction). */
export function fsyncTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) fsyncTree(p)
    else fsyncPath(p)
  }
  fsyncPath(dir)
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true })
}
