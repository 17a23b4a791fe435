// The models: what is installed, activating one, going back to the previous version.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { type CommandSpec, spec } from '../../commands/types.ts'
import { FirmwareError } from '../../errors.ts'
import { loadManifest, type ModelRecord } from '../../inference/manifest.ts'
import type { InferenceService } from '../../inference/service.ts'

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

export function modelList(service: InferenceService, dirs: string[]): CommandSpec {
  return spec({
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
  })
}

/** model activate and model rollback, which share the order models were activated in. */
export function modelSwitching(service: InferenceService, dirs: string[]): CommandSpec[] {
  // Model names in the order they were last activated, so "model rollback" without a name means the latest.
  const recent: string[] = []
  return [
    spec({
      name: 'model activate',
      summary: 'activate an installed model by id; it is checked (sha256, shapes) first and refused if wrong',
      examples: ['model activate crowd-state-2.0.0'],
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
