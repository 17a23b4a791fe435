// The operator's decisions over automation: accept, reject, approve, undo, rollback.
import { type CommandSpec, spec } from '../../commands/types.ts'
import type { AutomationController } from '../controller.ts'

export function decisionCommands(automation: AutomationController): CommandSpec[] {
  return [
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
  ]
}
