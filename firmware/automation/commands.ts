// The inference and automation commands, registered into the one command registry by their
// owner: mode, recommendations, accept, reject, approve, undo, rollback, and model list|activate|
// rollback (replacing the registry's "not available" stand-ins declared in commands/owned.ts).
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { CommandRegistry } from '../commands/registry.ts'
import type { CommandSpec } from '../commands/types.ts'
import { FirmwareError } from '../errors.ts'
import { loadManifest, type ModelRecord, modelsDir } from '../inference/manifest.ts'
import type { InferenceService } from '../inference/service.ts'
import type { RecordingConsent, SnippetStore } from '../inference/snippets.ts'
import type { AutomationController } from './controller.ts'
import type { AutomationMode } from './machine.ts'

export interface InferenceCommandDeps {
  service: InferenceService
  automation: AutomationController
  /** Directories holding *.manifest.json files. Defaults to the firmware's models/ folder. */
  modelDirs?: string[]
  /** The recording consent setting; with it a `consent` command is registered. */
  consent?: RecordingConsent
  /** Snippets to delete when consent is turned off. */
  snippets?: SnippetStore
}

/** Every model manifest installed in the given directories (unreadable ones are skipped and listed). */
export function installedModels(dirs: string[]): { models: ModelRecord[]; broken: Array<{ path: string; message: string }> } {
  const models: ModelRecord[] = []
  const broken: Array<{ path: string; message: string }> = []
  for (const d of dirs) {
    if (!existsSync(d)) continue
    for (const f of readdirSync(d)
      .filter((n) => n.endsWith('.manifest.json'))
      .sort()) {
      try {
        models.push(loadManifest(join(d, f)))
      } catch (e) {
        broken.push({ path: join(d, f), message: (e as Error).message })
      }
    }
  }
  return { models, broken }
}

/** Keeps each command's value type for its human() while listing them together. */
const spec = <V>(s: CommandSpec<V>): CommandSpec => s as unknown as CommandSpec

const fmtGains = (g: number[]) => g.map((v) => (v >= 0 ? '+' : '') + v.toFixed(1)).join(' ')

export function inferenceCommands(deps: InferenceCommandDeps): CommandSpec[] {
  const dirs = deps.modelDirs ?? [modelsDir]
  const { service, automation } = deps
  // Model names in the order they were last activated, so "model rollback" without a name means the latest.
  const recent: string[] = []

  const consentCommands: CommandSpec[] = []
  const consent = deps.consent
  if (consent) {
    consentCommands.push(
      spec({
        name: 'consent',
        summary: 'recording consent: with it off (the default) no audio is stored or leaves the unit',
        details: 'Turning it off deletes every stored snippet at once.',
        examples: ['consent', 'consent off'],
        permission: 'admin',
        args: [{ name: 'state', type: 'bool', optional: true, help: 'on or off; omit to show it' }],
        handler: (args, { principal }) => {
          let deleted = 0
          if (args.state !== undefined) {
            consent.set(args.state as boolean, principal.name)
            if (!consent.on && deps.snippets) deleted = deps.snippets.purgeAll()
          }
          return { consent: consent.on, snippets: deps.snippets?.list().length ?? 0, deleted }
        },
        human: (v: { consent: boolean; snippets: number; deleted: number }) =>
          `recording consent ${v.consent ? 'ON: snippets are kept encrypted and expire' : 'off: no audio is stored or sent'}${v.deleted ? ` (${v.deleted} snippets deleted)` : ''}`,
      }),
    )
  }

  return [
    ...consentCommands,
    spec({
      name: 'mode',
      summary: 'automation mode: advisory (suggest), supervised (operator accepts), auto (applied within bounds)',
      examples: ['mode supervised', 'mode'],
      permission: 'operate',
      args: [
        { name: 'mode', type: 'enum', values: ['advisory', 'supervised', 'auto'], optional: true, help: 'advisory, supervised or auto; omit to show the mode' },
      ],
      handler: (args, { app, principal }) => {
        if (args.mode !== undefined && args.mode !== automation.mode) {
          automation.setMode(args.mode as AutomationMode, principal.name)
          app.publish?.({ type: 'change', change: { what: 'mode', target: {}, value: automation.mode, who: principal.name } })
        }
        const l = automation.state.limits
        return {
          mode: automation.mode,
          minConfidence: l.minConfidence,
          maxStepDbPerS: l.maxStepDbPerS,
          maxRangeDb: l.maxRangeDb,
          paused: !automation.state.enabled,
        }
      },
      human: (v: { mode: string; paused: boolean }) => `automation mode ${v.mode}${v.paused ? ' (paused: inference disabled by the watchdog)' : ''}`,
    }),
    spec({
      name: 'recommendations',
      summary: 'EQ recommendations waiting for an operator (supervised) or shown (advisory)',
      examples: ['recommendations'],
      permission: 'observe',
      mutates: false,
      args: [],
      handler: () =>
        automation.state.pending.map((r) => ({
          id: r.id,
          output: r.output + 1,
          confidence: Math.round(r.confidence * 100) / 100,
          bandsHz: automation.bandsHz,
          proposedDb: r.proposed,
          deltaDb: r.deltaDb.map((d) => Math.round(d * 10) / 10),
        })),
      human: (v: Array<{ id: number; output: number; confidence: number; bandsHz: number[]; proposedDb: number[] }>) =>
        v.length === 0
          ? 'no recommendations pending'
          : [
              `bands Hz: ${v[0]!.bandsHz.join(' ')}`,
              ...v.map((r) => `#${r.id} output ${r.output} confidence ${r.confidence.toFixed(2)}: ${fmtGains(r.proposedDb)} dB`),
            ].join('\n'),
    }),
    spec({
      name: 'accept',
      summary: 'apply a pending recommendation (supervised mode); the result becomes the approved EQ',
      examples: ['accept 3'],
      permission: 'operate',
      args: [{ name: 'id', type: 'int', min: 1, max: 2 ** 31, help: 'recommendation number, as listed by recommendations' }],
      handler: (args, { principal }) => {
        automation.accept(args.id as number, principal.name)
        return { accepted: args.id, approved: automation.state.approved }
      },
    }),
    spec({
      name: 'reject',
      summary: 'discard a pending recommendation (supervised mode)',
      examples: ['reject 3'],
      permission: 'operate',
      args: [{ name: 'id', type: 'int', min: 1, max: 2 ** 31, help: 'recommendation number, as listed by recommendations' }],
      handler: (args, { principal }) => {
        automation.reject(args.id as number, principal.name)
        return { rejected: args.id }
      },
    }),
    spec({
      name: 'approve',
      summary: 'make the EQ applied now the operator-approved state that rollback returns to',
      examples: ['approve'],
      permission: 'operate',
      args: [],
      handler: (_a, { principal }) => {
        automation.approve(principal.name)
        return { approved: automation.state.approved }
      },
    }),
    spec({
      name: 'undo',
      summary: 'undo the last automation change',
      examples: ['undo'],
      permission: 'operate',
      args: [],
      handler: (_a, { principal }) => {
        automation.undo(principal.name)
        return { current: automation.state.current }
      },
    }),
    spec({
      name: 'rollback',
      summary: 'return the automated EQ exactly to the last operator-approved state',
      examples: ['rollback'],
      permission: 'operate',
      args: [],
      handler: (_a, { principal }) => {
        automation.rollback(principal.name)
        return { current: automation.state.current }
      },
    }),
    spec({
      name: 'model list',
      summary: 'the installed models and which is active',
      examples: ['model list'],
      permission: 'observe',
      args: [],
      handler: () => {
        const { models, broken } = installedModels(dirs)
        const slots = new Map(service.models().map((s) => [s.name, s]))
        return {
          models: models.map((m) => {
            const s = slots.get(m.manifest.name)
            const held = m.manifest.heldout as Record<string, unknown> | undefined
            return {
              id: m.id,
              name: m.manifest.name,
              version: m.manifest.version,
              state: s?.active?.id === m.id ? 'active' : s?.previous?.id === m.id ? 'previous' : 'installed',
              classes: m.manifest.classes,
              latencyBudgetMs: m.manifest.latencyBudgetMs,
              heldout: held ? Object.fromEntries(Object.entries(held).filter(([k]) => k !== 'confusion' && k !== 'set')) : null,
            }
          }),
          broken,
        }
      },
      human: (v: { models: Array<{ id: string; state: string; latencyBudgetMs: number }>; broken: Array<{ path: string }> }) =>
        [
          ...v.models.map(
            (m) => `${m.state === 'active' ? '*' : m.state === 'previous' ? '-' : ' '} ${m.id.padEnd(32)} ${m.state.padEnd(9)} budget ${m.latencyBudgetMs} ms`,
          ),
          ...v.broken.map((b) => `! ${b.path} unreadable`),
        ].join('\n'),
    }),
    spec({
      name: 'model activate',
      summary: 'activate an installed model by id; it is checked (sha256, shapes) first and refused if wrong',
      examples: ['model activate crowd-state-1.0.0'],
      permission: 'admin',
      args: [{ name: 'name', type: 'string', maxLength: 80, help: 'model id, as shown by model list' }],
      handler: async (args) => {
        const { models } = installedModels(dirs)
        const rec = models.find((m) => m.id === args.name) ?? models.find((m) => m.manifest.name === args.name)
        if (!rec) throw new FirmwareError('FW_ERR_MODEL', `no installed model ${String(args.name)}; see model list`)
        await service.activate(rec)
        recent.splice(0, recent.length, ...recent.filter((n) => n !== rec.manifest.name), rec.manifest.name)
        return { active: rec.id, models: service.models() }
      },
    }),
    spec({
      name: 'model rollback',
      summary: 'go back to the previously active version of a model (the latest activated one by default)',
      examples: ['model rollback', 'model rollback crowd-state'],
      permission: 'admin',
      destructive: true,
      args: [{ name: 'name', type: 'string', maxLength: 80, optional: true, help: 'model name, e.g. crowd-state' }],
      handler: async (args) => {
        const name = (args.name as string | undefined) ?? recent.at(-1) ?? service.models().find((m) => m.previous)?.name
        if (!name) throw new FirmwareError('FW_ERR_MODEL', 'no model has a previous version to roll back to')
        const rec = await service.rollback(name)
        return { active: rec.id, models: service.models() }
      },
    }),
  ]
}

/** Registers the inference and automation commands (replacing their "not available" stand-ins). */
export function registerInferenceCommands(registry: CommandRegistry, deps: InferenceCommandDeps): void {
  for (const c of inferenceCommands(deps)) registry.register(c)
}
