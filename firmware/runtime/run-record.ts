// How the previous run ended, recorded at every start. A run marker, <dataDir>/run.json, says
// "running" from start until a clean stop rewrites it as "stopped"; so at the next start:
//   stopped                         -> the previous run stopped cleanly
//   running, same boot id           -> the process died under a running system (kill -9, abort, OOM)
//   running, another boot id        -> the unit lost power or rebooted without stopping the firmware
//   no marker                       -> first start on this data directory
// with what that run last knew: its last watchdog state and cause (the transition log, which is
// fsynced record by record) and the digest of the settings it last committed. The verdict goes to
// the appliance log, to the transition log (so `faults` shows it) and to `status`.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { TransitionRecord, WatchdogStateName } from '../contract/appliance.ts'
import { fsyncDir } from '../store/atomic.ts'
import { readTransitionFileCounted } from '../watchdog/log.ts'
import { type ProcFacts, procFacts } from './instance-lock.ts'

export type RunEnd = 'clean-stop' | 'crash' | 'power-loss' | 'first-start'

/** <dataDir>/run.json */
export interface RunMarker {
  format: 'run/1'
  state: 'running' | 'stopped'
  pid: number
  bootId: string | null
  board: string
  startedAt: number
  stoppedAt: number | null
}

/** How the previous run ended and what it last knew. */
export interface PreviousRun {
  ended: RunEnd
  pid: number | null
  startedAt: number | null
  stoppedAt: number | null
  lastState: WatchdogStateName | null
  lastCause: string | null
  /** When the last transition was recorded (ms since the epoch). */
  lastAt: number | null
  /** Digest of the settings the previous run last committed (settings.json at this start), or null. */
  settingsDigest: string | null
  /** Transition-log lines that did not parse (torn by a power cut). */
  skippedLines: number
}

export function runMarkerPath(dataDir: string): string {
  return join(dataDir, 'run.json')
}

function writeMarker(path: string, m: RunMarker): void {
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, `${JSON.stringify(m)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  // The directory fsync makes the rename itself durable; async is fine (the next start reads it).
  void fsyncDir(dirname(path)).catch(() => {})
}

function readMarker(path: string): RunMarker | null {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as RunMarker
    return m && m.format === 'run/1' ? m : null
  } catch {
    return null
  }
}

/** The last transition a log directory holds (the live file, else its newest rotation). */
function lastTransition(logFile: string | null): { last: TransitionRecord | null; skipped: number } {
  if (!logFile) return { last: null, skipped: 0 }
  let skipped = 0
  for (const f of [logFile, `${logFile}.1`]) {
    const r = readTransitionFileCounted(f)
    skipped += r.skipped
    const last = r.records[r.records.length - 1]
    if (last) return { last, skipped }
  }
  return { last: null, skipped }
}

export interface RunStartOptions {
  dataDir: string
  board: string
  /** transitions.jsonl of this data directory, or null when the log is in memory only. */
  logFile: string | null
  settingsDigest: string | null
  facts?: ProcFacts
  now?: number
}

/** Reads how the previous run ended, then marks this one as running (fsynced). */
export function beginRun(o: RunStartOptions): PreviousRun {
  const facts = o.facts ?? procFacts
  const path = runMarkerPath(o.dataDir)
  const prev = readMarker(path)
  const boot = facts.bootId()
  const { last, skipped } = lastTransition(o.logFile)
  let ended: RunEnd = 'first-start'
  if (prev?.state === 'stopped') ended = 'clean-stop'
  else if (prev?.state === 'running') ended = prev.bootId !== null && boot !== null && prev.bootId !== boot ? 'power-loss' : 'crash'
  writeMarker(path, { format: 'run/1', state: 'running', pid: process.pid, bootId: boot, board: o.board, startedAt: o.now ?? Date.now(), stoppedAt: null })
  return {
    ended,
    pid: prev?.pid ?? null,
    startedAt: prev?.startedAt ?? null,
    stoppedAt: prev?.stoppedAt ?? null,
    lastState: last?.to ?? null,
    lastCause: last?.cause ?? null,
    lastAt: last?.at ?? null,
    settingsDigest: o.settingsDigest,
    skippedLines: skipped,
  }
}

/** Marks this run as stopped cleanly (fsynced). */
export function endRun(dataDir: string, board: string, facts: ProcFacts = procFacts): void {
  const path = runMarkerPath(dataDir)
  const prev = readMarker(path)
  writeMarker(path, {
    format: 'run/1',
    state: 'stopped',
    pid: process.pid,
    bootId: facts.bootId(),
    board,
    startedAt: prev?.startedAt ?? Date.now(),
    stoppedAt: Date.now(),
  })
}

const ENDED_TEXT: Record<RunEnd, string> = {
  'clean-stop': 'stopped cleanly',
  crash: 'crashed (the process died: kill -9, abort or out of memory; same boot)',
  'power-loss': 'ended by a power loss or reboot (another boot id; the firmware did not stop)',
  'first-start': 'none (first start on this data directory)',
}

/** One line for the log and the status screen. */
export function describePreviousRun(p: PreviousRun): string {
  const knew = p.lastState ? `; it last knew ${p.lastState} (${p.lastCause})${p.lastAt ? ` at ${new Date(p.lastAt).toISOString()}` : ''}` : ''
  const digest = p.settingsDigest ? `, settings ${p.settingsDigest}` : ', no saved settings'
  const torn = p.skippedLines > 0 ? `; ${p.skippedLines} unreadable transition-log lines skipped` : ''
  return `previous run ${ENDED_TEXT[p.ended]}${p.pid ? ` (pid ${p.pid})` : ''}${knew}${digest}${torn}`
}

/** The record `faults` shows for the previous run's end: from its last state to this BOOT. */
export function previousRunRecord(p: PreviousRun, at = Date.now()): TransitionRecord {
  return { at, from: p.lastState ?? 'BOOT', to: 'BOOT', cause: `previous-run-${p.ended}`, evidence: describePreviousRun(p) }
}
