// The feedback suppressor under the automation's modes: advisory proposes only, supervised waits
// for accept, auto places notches at once; rollback takes every notch back to flat; bad limits
// change nothing.

import t from 'tap'
import { FeedbackSuppressor } from '../../firmware/automation/feedback.ts'
import type { FeedbackAlarm, Notch } from '../../firmware/inference/feedback.ts'

const alarm = (t: number, hz: number, output = 0): FeedbackAlarm => ({ t, output, hz, levelDb: -12, growthDbPerS: 30, reason: 'growing', classifier: 0 })

function rig(mode: 'advisory' | 'supervised' | 'auto') {
  const sent: Notch[] = []
  const s = new FeedbackSuppressor({ outputs: 2, sink: { setNotch: (n) => sent.push(n) }, mode })
  return { s, sent }
}

t.test('advisory: an alarm is a proposal, nothing reaches the engine', async (t) => {
  const { s, sent } = rig('advisory')
  t.ok(s.alarm(alarm(0, 1250)), 'a proposal')
  t.equal(s.pending().length, 1)
  t.same(sent, [], 'no notch sent')
  t.throws(() => s.accept(1, 'op'), { code: 'FW_ERR_AUTOMATION' }, 'accept is for supervised mode')
})

t.test('supervised: accept places the notch, reject discards', async (t) => {
  const { s, sent } = rig('supervised')
  const a = s.alarm(alarm(0, 1250))!
  const b = s.alarm(alarm(0, 3100, 1))!
  t.same(sent, [], 'nothing before an operator acts')
  s.accept(a.id, 'op')
  t.equal(sent.length, 1)
  t.match(sent[0], { output: 0, hz: 1250, gainDb: -9, q: 40, enabled: true })
  s.reject(b.id, 'op')
  t.same(s.pending(), [])
  t.throws(() => s.accept(99, 'op'), { code: 'FW_ERR_AUTOMATION' }, 'an unknown proposal')
})

t.test('auto: notches at once, deeper while the howl persists, rollback to flat', async (t) => {
  const { s, sent } = rig('auto')
  s.alarm(alarm(0, 1250))
  s.alarm(alarm(0, 2500, 1))
  t.equal(sent.length, 2, 'two notches placed')
  s.observe(0.5, 0, [
    {
      hz: 1250.5,
      levelDb: -10,
      growthDbPerS: 2,
      paprDb: 25,
      phprDb: 30,
      pnprDb: 30,
      ipmp: 1,
      ageFrames: 30,
      fitR2: 0,
      maxStepDb: 0,
      harmonicGrowthDbPerS: 0,
      lineHowl: 0,
      lineGrowthDbPerS: 0,
      lineResidualDb: 0,
      lineBend: 0,
      lineHzStd: 0,
    },
  ])
  t.equal(sent[sent.length - 1]!.gainDb, -12, 'a howl still there deepens its notch')
  const back = s.rollback('op')
  t.equal(back.length, 2, 'both notches rolled back')
  t.ok(
    sent.slice(-2).every((n) => !n.enabled && n.gainDb === 0),
    'sent as flat, disabled',
  )
  t.same(s.notches(), [])
})

t.test('bad limits and modes are refused and change nothing', async (t) => {
  const { s } = rig('auto')
  const before = s.limits
  t.throws(() => s.setLimits({ maxDepthDb: -60 }), { code: 'FW_ERR_FEEDBACK_SETTINGS' })
  t.throws(() => s.setMode('wild' as never), { code: 'FW_ERR_FEEDBACK_SETTINGS' })
  t.same(s.limits, before, 'limits unchanged')
  t.equal(s.mode, 'auto', 'mode unchanged')
})
