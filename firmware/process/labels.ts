// The engineer's loop (issue 13): `firmware process` writes its class timeline and its alarms as an
// Audacity label track (one label a line: start TAB end TAB label, seconds) beside the JSON report.
// The engineer opens it over the recording in Audacity (File > Import > Labels), corrects it, and
// exports it again; `models/train.py --labels REC.wav LABELS.txt` then fine-tunes on it. The same
// format is read back here (and by models/train.py): a bad line is refused with FW_ERR_LABELS
// naming the file and the line, and nothing is imported.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { FirmwareError } from '../errors.ts'
import type { ClassRecord } from './report.ts'

export interface Label {
  start: number
  end: number
  label: string
}

/** The labels a track may carry: the crowd states, and alarms ("alarm feedback"). */
export const LABEL_CLASSES = ['silence', 'speech', 'music', 'applause', 'feedback'] as const
export const ALARM_PREFIX = 'alarm '

/** REPORT.json -> REPORT.labels.txt (beside it). */
export function labelTrackPath(reportPath: string): string {
  return `${reportPath.replace(/\.json$/i, '')}.labels.txt`
}

/**
 * The class timeline as regions: each entry (stamped at its patch's centre, `hopS` apart) stands
 * for hopS around its time; consecutive entries of one class become one region. Every run of
 * feedback also gives an alarm region, "alarm feedback".
 */
export function classLabels(classes: readonly ClassRecord[], hopS = 0.25): Label[] {
  const out: Label[] = []
  const alarms: Label[] = []
  let cur: Label | null = null
  for (const c of classes) {
    const start = Math.max(0, c.t - hopS / 2)
    const end = c.t + hopS / 2
    if (cur && cur.label === c.label && start <= cur.end + 1e-6) cur.end = end
    else {
      if (cur) out.push(cur)
      cur = { start, end, label: c.label }
    }
  }
  if (cur) out.push(cur)
  for (const l of out) if (l.label === 'feedback') alarms.push({ start: l.start, end: l.end, label: `${ALARM_PREFIX}feedback` })
  return [...out, ...alarms].sort((a, b) => a.start - b.start || a.label.localeCompare(b.label))
}

/** Audacity's text: start TAB end TAB label, times with 6 decimals. */
export function formatLabelTrack(labels: readonly Label[]): string {
  return labels.map((l) => `${l.start.toFixed(6)}\t${l.end.toFixed(6)}\t${l.label}`).join('\n') + (labels.length ? '\n' : '')
}

/** Writes the track atomically (a partial file never stands under the final name). */
export function writeLabelTrack(path: string, labels: readonly Label[]): void {
  const tmp = `${path}.${process.pid}.partial`
  try {
    writeFileSync(tmp, formatLabelTrack(labels))
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw new FirmwareError('FW_ERR_IO', `${path}: cannot write the label track (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

function refuse(where: string, msg: string): never {
  throw new FirmwareError('FW_ERR_LABELS', `${where}: ${msg}; nothing was imported`)
}

/**
 * Parses a label track. Accepts what Audacity exports: TAB-separated start, end, label; a line
 * starting with a backslash is a spectral selection of the label before it and is skipped; empty
 * lines are skipped. A label is a crowd state or "alarm <what>". Refuses (FW_ERR_LABELS, naming
 * the line) anything else: missing fields, times that are not numbers, negative, or end before start.
 */
export function parseLabelTrack(text: string, file = 'label track'): Label[] {
  const out: Label[] = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const where = `${file} line ${i + 1}`
    if (raw.trim() === '' || raw.startsWith('\\')) return
    const f = raw.split('\t')
    if (f.length < 3) refuse(where, `expected start<TAB>end<TAB>label, got ${JSON.stringify(raw.slice(0, 60))}`)
    const num = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/
    if (!num.test(f[0]!) || !num.test(f[1]!)) refuse(where, `start and end must be numbers of seconds, got ${JSON.stringify(f[0])} and ${JSON.stringify(f[1])}`)
    const start = Number(f[0])
    const end = Number(f[1])
    if (start < 0) refuse(where, `start ${start} is before the recording`)
    if (end < start) refuse(where, `end ${end} is before start ${start}`)
    const label = f.slice(2).join('\t').trim()
    if (!(LABEL_CLASSES as readonly string[]).includes(label) && !label.startsWith(ALARM_PREFIX)) {
      refuse(where, `unknown label ${JSON.stringify(label)} (one of ${LABEL_CLASSES.join(', ')}, or "alarm ...")`)
    }
    out.push({ start, end, label })
  })
  return out
}

/** Reads and parses a label track file. */
export function readLabelTrack(path: string): Label[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new FirmwareError('FW_ERR_IO', `${path}: cannot read the label track (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  return parseLabelTrack(text, path)
}
