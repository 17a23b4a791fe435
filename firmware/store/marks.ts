// "Mark a moment": the engineer's word on what the unit just did ("that was feedback", "that was
// wrong", "that was right"), kept for the models. Each mark records who made it (the principal:
// for the API, the client certificate's CN and serial), when, and what the unit was doing then
// (watchdog state, automation mode, DOA, output peaks). Marks are append-only: a line per mark in
// <dataDir>/marks.jsonl (0600), fsync'ed before the command answers; no command deletes or edits
// one, so nobody can remove another person's mark. `mark list` exports them (JSON over the API).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { CommandSpec } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'

export const MARK_KINDS = ['feedback', 'wrong', 'right'] as const
export type MarkKind = (typeof MARK_KINDS)[number]

export interface Mark {
  id: number
  at: string
  kind: MarkKind
  note: string
  who: string
  /** What the unit was doing when the mark was made. */
  context: { state: string; mode: string; doaAzimuth: number | null; outputPeakDb: number[] | null }
}

/** The most marks `mark list` returns at once. */
const LIST_MAX = 1000

export class MarkLog {
  readonly file: string
  #marks: Mark[] = []

  constructor(dataDir: string) {
    this.file = join(dataDir, 'marks.jsonl')
    if (existsSync(this.file)) {
      // A torn last line (power lost mid-write) is cut off, so the next mark starts a line of its
      // own; every whole line before it is kept.
      const text = readFileSync(this.file, 'utf8')
      const whole = text.lastIndexOf('\n') + 1
      if (whole < Buffer.byteLength(text)) truncateSync(this.file, Buffer.byteLength(text.slice(0, whole)))
      for (const line of text.slice(0, whole).split('\n')) {
        if (!line.trim()) continue
        try {
          this.#marks.push(JSON.parse(line) as Mark)
        } catch {
          /* a torn line */
        }
      }
    }
  }

  /** Appends one mark durably (written and fsync'ed before it returns). */
  add(kind: MarkKind, note: string, who: string, app: ApplianceApi): Mark {
    const s = app.status()
    const doa = app.doa()
    const m = app.meters()
    const mark: Mark = {
      id: (this.#marks.at(-1)?.id ?? 0) + 1,
      at: new Date().toISOString(),
      kind,
      note,
      who,
      context: {
        state: s.state,
        mode: s.automationMode,
        doaAzimuth: doa ? Math.round(doa.azimuth * 10) / 10 : null,
        outputPeakDb: m ? m.outputPeakDb.map((v) => Math.round(v * 10) / 10) : null,
      },
    }
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 })
    const fd = openSync(this.file, 'a', 0o600)
    try {
      writeSync(fd, `${JSON.stringify(mark)}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.#marks.push(mark)
    return mark
  }

  /** The marks after `afterId`, oldest first, at most `limit`. */
  list(afterId = 0, limit = LIST_MAX): Mark[] {
    return this.#marks.filter((m) => m.id > afterId).slice(0, limit)
  }
}

export function markCommands(log: MarkLog): CommandSpec[] {
  return [
    {
      name: 'mark add',
      summary: 'mark this moment for the models: feedback (that was feedback), wrong (the unit got it wrong) or right; kept with your name',
      examples: ['mark add feedback', 'mark add wrong note=eq-too-bright'],
      permission: 'operate',
      args: [
        { name: 'kind', type: 'enum', values: [...MARK_KINDS], help: 'feedback, wrong or right' },
        { name: 'note', type: 'string', maxLength: 120, pattern: /^[A-Za-z0-9 .,:;'()_-]*$/, optional: true, help: 'a short note, up to 120 characters' },
      ],
      handler: (args, { app, principal }) => log.add(args.kind as MarkKind, (args.note as string | undefined) ?? '', principal.name, app),
      human: (v: Mark) => `marked #${v.id} ${v.kind} at ${v.at} by ${v.who}`,
    } satisfies CommandSpec<Mark>,
    {
      name: 'mark list',
      summary: 'the marked moments, oldest first, for the models (export: GET /api/mark/list)',
      examples: ['mark list', 'mark list after=10'],
      permission: 'observe',
      mutates: false,
      args: [
        { name: 'after', type: 'int', min: 0, max: 2 ** 31, optional: true, help: 'only marks after this id (default: all)' },
        { name: 'limit', type: 'int', min: 1, max: LIST_MAX, optional: true, help: `at most this many (default ${LIST_MAX})` },
      ],
      handler: (args) => log.list((args.after as number | undefined) ?? 0, (args.limit as number | undefined) ?? LIST_MAX),
      human: (v: Mark[]) => (v.length ? v.map((m) => `#${m.id} ${m.at} ${m.kind.padEnd(8)} ${m.who}${m.note ? ` "${m.note}"` : ''}`).join('\n') : '(no marks)'),
    } satisfies CommandSpec<Mark[]>,
  ] as CommandSpec[]
}
