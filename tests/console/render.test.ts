// The console's renderers on their own (firmware/console/events.ts + render.ts): every appliance
// event kind as its EV line, in machine mode and in human mode (the typed line cleared, the EV line
// above it, the prompt and the typed text, masked while a PIN is typed, put back), and replies in
// both modes. The lines are the ones docs/console-protocol.md §6 shows.
import t from 'tap'
import { eventFields, metersLine } from '../../firmware/console/events.ts'
import { eventLine, renderEvent, renderReply } from '../../firmware/console/render.ts'
import type { ApplianceEvent } from '../../firmware/contract/appliance.ts'

const AT = Date.UTC(2026, 10, 26, 19, 12, 3, 120)
const ISO = '2026-11-26T19:12:03.120Z'
const input = { prompt: 'sim> ', pending: 'gai', mask: null }

const line = (ev: ApplianceEvent): string => {
  const l = eventFields(ev)
  if (!l) throw new Error(`no line for ${ev.type}`)
  return eventLine(l.topic, l.fields, l.at ?? AT)
}

const cases: Array<[string, ApplianceEvent, string]> = [
  [
    'transition',
    {
      type: 'transition',
      record: { at: AT, from: 'ACTIVE', to: 'MANUAL_BYPASS', cause: 'manual', evidence: 'bypass on by console:/dev/ttyTHS0' },
    } as ApplianceEvent,
    `EV state from=ACTIVE to=MANUAL_BYPASS cause=manual evidence="bypass on by console:/dev/ttyTHS0" at=${ISO}`,
  ],
  [
    'doa',
    { type: 'doa', doa: { azimuth: 61.2, elevation: 0, confidence: 0.87 } } as ApplianceEvent,
    `EV doa azimuth=61.2 elevation=0 confidence=0.87 at=${ISO}`,
  ],
  ['panel', { type: 'panel', event: 'button SHORT' }, `EV panel event="button SHORT" at=${ISO}`],
  ['recommendation (object)', { type: 'recommendation', data: { output: 1, kind: 'eq' } }, `EV recommendation output=1 kind=eq at=${ISO}`],
  ['recommendation (scalar)', { type: 'recommendation', data: 3 }, `EV recommendation value=3 at=${ISO}`],
  [
    'change',
    { type: 'change', change: { what: 'gain', target: { output: 1 }, value: -4.5, who: 'console:/dev/ttyTHS0' } },
    `EV change what=gain output=2 value=-4.5 who=console:/dev/ttyTHS0 at=${ISO}`,
  ],
]

t.test('each event kind as its EV line, in machine mode and in human mode', async (t) => {
  for (const [kind, ev, want] of cases) {
    const l = line(ev)
    t.equal(l, want, `${kind}: the line`)
    t.equal(renderEvent('machine', l, input), `${want}\r\n`, `${kind}: machine mode, the line alone`)
    t.equal(renderEvent('human', l, input), `\r\x1b[K${want}\r\nsim> gai`, `${kind}: human mode, above the prompt and the typed text`)
  }
  t.equal(eventFields({ type: 'meters', meters: {} } as ApplianceEvent), null, 'meters events have no line of their own (the timer sends them)')
})

t.test('meters as their EV line (from the timer), both modes', async (t) => {
  const m = metersLine({ inputPeakDb: [-16.2], inputRmsDb: [-20], outputPeakDb: [-3], outputRmsDb: [-9], gainReductionDb: [0] } as never)
  const l = eventLine(m.topic, m.fields, AT)
  t.equal(l, `EV meters in_peak.1=-16.2 in_rms.1=-20 out_peak.1=-3 out_rms.1=-9 gr.1=0 at=${ISO}`)
  t.equal(renderEvent('machine', l, input), `${l}\r\n`)
  t.equal(renderEvent('human', l, input), `\r\x1b[K${l}\r\nsim> gai`)
})

t.test('human mode while a PIN is typed: the typed text is put back masked', async (t) => {
  const l = line(cases[2]![1])
  t.equal(renderEvent('human', l, { prompt: 'PIN: ', pending: '1234', mask: '*' }), `\r\x1b[K${l}\r\nPIN: ****`)
})

t.test('replies: one line in machine mode; text, CRLF and the prompt in human mode', async (t) => {
  const err = { ok: false, command: '', code: 'FW_ERR_BAD_ARG', message: 'gain takes <output> <db>' } as const
  t.equal(renderReply('machine', err, undefined, input), 'ERR FW_ERR_BAD_ARG gain takes <output> <db>\r\n')
  const human = renderReply('human', err, undefined, input)
  t.match(human, /FW_ERR_BAD_ARG/)
  t.ok(human.endsWith('\r\nsim> gai'), 'the prompt and the typed text follow the reply')
  t.notMatch(human.replace(/\r\n/g, ''), /\n/, 'every line end is CRLF')
})
