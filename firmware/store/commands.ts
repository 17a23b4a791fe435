// `preset list|save|load|delete`, over the store. They replace the registry's "not available"
// stand-ins of the same names (declared in firmware/commands/owned.ts): the runtime calls registerPresetCommands(registry, store.presets) once the store is
// open. Loading applies the preset through ApplianceApi only.

import { presetNameArg as nameArg } from '../commands/name-rule.ts'
import type { CommandRegistry } from '../commands/registry.ts'
import type { CommandSpec } from '../commands/types.ts'
import { applyPreset, type PresetStore, presetFromAppliance } from './presets.ts'

export interface PresetCommandOptions {
  /** The current input trims (dB), which ApplianceApi does not report; saved with the preset. */
  inputTrims?: () => number[]
}

// biome-ignore lint/suspicious/noExplicitAny: one table holds specs of different value types
export function presetCommands(store: PresetStore, options: PresetCommandOptions = {}): CommandSpec<any>[] {
  const list: CommandSpec<Array<{ name: string; savedAt: string | null; corrupt: boolean; problem?: string }>> = {
    name: 'preset list',
    summary: 'the saved presets (a preset neither of whose copies loads is marked CORRUPT)',
    examples: ['preset list'],
    permission: 'observe',
    args: [],
    handler: async () =>
      (await store.list()).map((p) => ({
        name: p.name,
        savedAt: p.savedAt === null ? null : new Date(p.savedAt).toISOString(),
        corrupt: p.problem !== null,
        ...(p.problem !== null ? { problem: p.problem.replace(/^\S*\//, '').replace(/; (delete|this data).*$/, '') } : {}),
      })),
    human: (v) =>
      v.length
        ? v.map((p) => `${p.name.padEnd(32)} ${p.corrupt ? `CORRUPT (${p.problem})` : p.savedAt ? `saved ${p.savedAt}` : 'saved (time unknown)'}`).join('\n')
        : '(no presets saved)',
  }
  const save: CommandSpec<{ saved: string; outputs: number; beams: number }> = {
    name: 'preset save',
    summary: 'save outputs and beams as a named preset',
    examples: ['preset save main-show'],
    permission: 'operate',
    args: [nameArg],
    handler: async (args, { app, principal }) => {
      const p = await store.save(presetFromAppliance(String(args.name), app, options.inputTrims?.() ?? app.inputTrims()))
      app.publish?.({
        type: 'change',
        change: { what: 'preset', target: { name: p.name, action: 'save' }, value: { savedAt: new Date(p.savedAt).toISOString() }, who: principal.name },
      })
      return { saved: p.name, outputs: p.outputs.length, beams: p.beams.length }
    },
    human: (v) => `saved preset "${v.saved}" (${v.outputs} outputs, ${v.beams} beams)`,
  }
  const load: CommandSpec<{ loaded: string; savedAt: string }> = {
    name: 'preset load',
    summary: 'load a named preset',
    examples: ['preset load main-show'],
    permission: 'operate',
    args: [nameArg],
    handler: async (args, { app, principal }) => {
      const p = await store.load(String(args.name))
      applyPreset(app, p, principal.name)
      app.publish?.({
        type: 'change',
        change: { what: 'preset', target: { name: p.name, action: 'load' }, value: { savedAt: new Date(p.savedAt).toISOString() }, who: principal.name },
      })
      return { loaded: p.name, savedAt: new Date(p.savedAt).toISOString() }
    },
    human: (v) => `loaded preset "${v.loaded}" (saved ${v.savedAt})`,
  }
  const del: CommandSpec<{ deleted: string }> = {
    name: 'preset delete',
    summary: 'delete a named preset',
    examples: ['preset delete old-show'],
    permission: 'operate',
    args: [nameArg],
    handler: async (args, { app, principal }) => {
      await store.delete(String(args.name))
      app.publish?.({ type: 'change', change: { what: 'preset', target: { name: String(args.name), action: 'delete' }, value: null, who: principal.name } })
      return { deleted: String(args.name) }
    },
    human: (v) => `deleted preset "${v.deleted}"`,
  }
  return [list, save, load, del]
}

/** Registers the preset commands (replacing their "not available" stand-ins). */
export function registerPresetCommands(registry: CommandRegistry, store: PresetStore, options: PresetCommandOptions = {}): void {
  for (const spec of presetCommands(store, options)) registry.register(spec)
}
