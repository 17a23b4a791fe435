// `firmware run` as a child process on a copy of the sim profile whose data lives in a test's temp
// dir: for the store's tests that must go through a real start, a real kill -9, a real restart.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const root = join(import.meta.dirname, '..', '..')

/** Writes a sim profile with its data (and recovery state) under `dir`; returns its path and dataDir. */
export function simProfileIn(dir: string): { file: string; dataDir: string } {
  const profile = JSON.parse(readFileSync(join(root, 'board', 'sim', 'profile.json'), 'utf8'))
  profile.dataDir = join(dir, 'data')
  profile.recovery.stateDir = join(dir, 'recovery')
  profile.recovery.slots = { a: join(dir, 'slot-a'), b: join(dir, 'slot-b') }
  profile.recovery.publicKey = join(dir, 'recovery', 'update-signing.pub')
  const board = join(dir, 'board', 'sim-copy')
  mkdirSync(board, { recursive: true })
  const file = join(board, 'profile.json')
  writeFileSync(file, JSON.stringify(profile))
  return { file, dataDir: profile.dataDir }
}

export interface RunChild {
  child: ChildProcess
  out(): string
  waitOut(re: RegExp, ms?: number): Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

/** Starts `firmware run --board <file> --seconds N`; stdout and stderr both go to out(). */
export function startRun(profileFile: string, seconds = 120): RunChild {
  const child = spawn(process.execPath, ['bin/firmware.js', 'run', '--board', profileFile, '--seconds', String(seconds)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const waitOut = async (re: RegExp, ms = 30000) => {
    const t0 = Date.now()
    for (;;) {
      const m = re.exec(out)
      if (m) return m
      if (Date.now() - t0 > ms || child.exitCode !== null || child.signalCode !== null) throw new Error(`no ${re} in output:\n${out.slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return { child, out: () => out, waitOut, exited }
}
