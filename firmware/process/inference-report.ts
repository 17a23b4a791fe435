// Adds the inference sections (classes, vad, recommendations) to `firmware process` reports, in
// the engine's one pass: the classifier, the VAD and the EQ recommender run on the features the
// engine computes while it processes (StreamingAnalysis), so nothing re-reads the recording.
// Importing this module registers the contributor; firmware/process imports it.

import { StreamingAnalysis } from '../inference/analyse.ts'
import { startWithBuiltinModels } from '../inference/service.ts'
import { registerStreamingContributor } from './report.ts'

registerStreamingContributor('inference', async ({ input }) => {
  const svc = await startWithBuiltinModels()
  // Without an array the inputs are line feeds; with one, the mics' mix is an omni. Either way
  // the classifier and the VAD hear the mix; the EQ recommender looks at each output.
  const analysis = new StreamingAnalysis(svc, { seconds: input.frames / input.sampleRate })
  return {
    feed: (f) => analysis.feed(f),
    finish: async () => {
      try {
        return await analysis.finish()
      } finally {
        await svc.stop()
      }
    },
    close: () => svc.stop(),
  }
})
