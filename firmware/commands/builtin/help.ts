// help: every command this caller's transport has, or one command with its arguments and examples.
import { FirmwareError } from '../../errors.ts'
import { usage } from '../registry.ts'
import { spec } from '../types.ts'

export const help = spec({
  name: 'help',
  summary: 'list the commands, or show one command with its arguments and examples',
  examples: ['help', 'help beam steer'],
  permission: 'observe',
  mutates: false,
  args: [
    { name: 'topic', type: 'string', optional: true, help: 'a command or command group, e.g. beam' },
    { name: 'sub', type: 'string', optional: true, help: 'a subcommand, e.g. steer' },
  ],
  handler: (args, ctx) => {
    // What this caller's transport has: every shared command, then (the console) its session commands.
    const all = ctx.registry.list({ transport: ctx.principal.transport })
    if (args.topic === undefined) {
      return all.map((s) => ({
        command: s.name,
        usage: usage(s),
        permission: s.permission,
        summary: s.summary,
        ...(s.unavailable !== undefined ? { unavailable: `${s.unavailable} is not running` } : {}),
        ...(s.transports !== undefined ? { scope: s.transports.join(',') } : {}),
      }))
    }
    const topic = [args.topic, args.sub]
      .filter((x) => x !== undefined)
      .join(' ')
      .toLowerCase()
    const one = all.find((s) => s.name === topic)
    const specs = one ? [one] : all.filter((s) => s.name.startsWith(`${topic} `))
    if (specs.length === 0) throw new FirmwareError('FW_ERR_UNKNOWN_COMMAND', `no command "${topic}"; type help for the list`)
    return specs.map((s) => ({
      command: s.name,
      usage: usage(s),
      summary: s.summary,
      permission: s.permission,
      destructive: s.destructive ?? false,
      args: s.args.map((a) => ({ name: a.name, help: a.help, optional: a.optional ?? false })),
      examples: [...s.examples],
      ...(s.unavailable !== undefined ? { unavailable: `${s.unavailable} is not running` } : {}),
    }))
  },
  human: (
    v: Array<{
      command: string
      usage: string
      permission: string
      summary: string
      unavailable?: string
      scope?: string
      examples?: string[]
      destructive?: boolean
      args?: Array<{ name: string; help: string; optional: boolean }>
    }>,
  ) => {
    if (v.every((c) => c.examples === undefined)) {
      const shared = v.filter((c) => c.scope === undefined)
      const session = v.filter((c) => c.scope !== undefined)
      const w = Math.max(...shared.map((c) => c.command.length)) + 2
      return [
        ...shared.map(
          (c) =>
            `  ${c.command.padEnd(w)}${c.summary}${c.permission === 'observe' ? '' : ` (${c.permission})`}${c.unavailable ? ` [not available: ${c.unavailable}]` : ''}`,
        ),
        '',
        // The transport's own session commands, from their specs (the console: mode, events, login).
        ...(session.length > 0 ? [`Console: ${session.map((c) => c.usage).join(', ')}.`] : []),
        'Type "help <command>" for its arguments and examples.',
      ].join('\n')
    }
    return v
      .map((c) =>
        [
          `${c.usage}`,
          `  ${c.summary}. Needs ${c.permission} rights${c.destructive ? '; destructive: asks for a confirm token' : ''}.`,
          ...(c.unavailable ? [`  Not available: ${c.unavailable} on this unit.`] : []),
          ...(c.args ?? []).map((a) => `    ${a.optional ? `[${a.name}]` : `<${a.name}>`}  ${a.help}`),
          ...(c.examples ?? []).map((e) => `  e.g. ${e}`),
        ].join('\n'),
      )
      .join('\n\n')
  },
})
