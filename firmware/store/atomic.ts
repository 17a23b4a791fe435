// Crash-safe file replacement. A reader sees either the old bytes or the new bytes of a file,
// never a mix: the new bytes go to a temp file in the same directory, are fsynced, renamed over
// the target (rename is atomic within a filesystem), and the directory is fsynced so the rename
// itself survives a power cut.
import { open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

let tempCounter = 0

/** Temp files are hidden, named after their target, and carry the writer's pid. */
export function tempPathFor(target: string): string {
  tempCounter = (tempCounter + 1) % 1_000_000
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${tempCounter}`)
}

export function isTempName(name: string): boolean {
  return /^\..+\.tmp-\d+-\d+$/.test(name)
}

/** fsync a directory so renames and unlinks in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Writes `data` to a new temp file beside `target` and fsyncs it; returns the temp path. */
export async function writeTempSynced(target: string, data: string | Uint8Array): Promise<string> {
  const tmp = tempPathFor(target)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (e) {
    await fh.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fh.close()
  return tmp
}

/** Replaces `target` with `data` atomically and durably (temp file, fsync, rename, fsync dir). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTempSynced(target, data)
  try {
    await rename(tmp, target)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fsyncDir(dirname(target))
}

/** Removes temp files a killed writer left behind. Call once when a store opens a directory. */
export async function removeStaleTemps(dir: string): Promise<number> {
  let n = 0
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  for (const name of names) {
    if (!isTempName(name)) continue
    // Only temps from other processes: our own may be in flight.
    const pid = Number(/\.tmp-(\d+)-/.exec(name)?.[1])
    if (pid === process.pid) continue
    await unlink(join(dir, name)).then(
      () => {
        n++
      },
      () => {},
    )
  }
  return n
}
