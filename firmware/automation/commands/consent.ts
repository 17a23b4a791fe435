// consent: the recording consent setting (registered only on a unit that has one).
import { type CommandSpec, spec } from '../../commands/types.ts'
import type { RecordingConsent, SnippetStore } from '../../inference/snippets.ts'

/** Shows or sets the consent; turning it off deletes every stored snippet at once. */
export function consentCommand(consent: RecordingConsent, snippets: SnippetStore | undefined): CommandSpec {
  return spec({
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
        if (!consent.on && snippets) deleted = snippets.purgeAll()
      }
      return { consent: consent.on, snippets: snippets?.list().length ?? 0, deleted }
    },
    human: (v: { consent: boolean; snippets: number; deleted: number }) =>
      `recording consent ${v.consent ? 'ON: snippets are kept encrypted and expire' : 'off: no audio is stored or sent'}${v.deleted ? ` (${v.deleted} snippets deleted)` : ''}`,
  })
}
