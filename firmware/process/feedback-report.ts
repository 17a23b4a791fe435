// Adds the `feedback` section to `firmware process` reports: the engine's howl detector runs in
// the feature tap on every output while it processes; its candidates are fused here into alarms
// (frequency, level, growth), in the same one pass as the other analysers. Importing this module
// registers the contributor.

import { decodeCandidates, type FeedbackAlarm, HowlFusion } from '../inference/feedback.ts'
import { registerStreamingContributor } from './report.ts'

registerStreamingContributor('feedback', async () => {
  const fusion = new HowlFusion()
  const alarms: FeedbackAlarm[] = []
  return {
    feed: async (f) => {
      for (const h of f.howl ?? []) alarms.push(...fusion.push(h.t, h.output, decodeCandidates(h.candidates)))
    },
    finish: async () => ({ feedback: { alarms } }),
    close: async () => {},
  }
})
