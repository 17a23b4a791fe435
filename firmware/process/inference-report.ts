// Adds the inference sections (classes, vad, recommendations) to `firmware process` reports, in
// the engine's one pass: the classifier, the VAD and the EQ recommender run on the features the
// engine computes while it processes (StreamingAnalysis), so nothing re-reads the recording.
// Importing this module registers the contributor; firmware/process imports it.
//
// The models run on a thread of this process (OfflineInference), started as the engine starts:
// offline there is no live sound for a hung model to stop, so the live appliance's separate
// inference process (and its start-up) is not needed; a model that does not answer in time is a
// clear error instead. Where the thread cannot start, the inference process stands in.

import { StreamingAnalysis } from '../inference/analyse.ts'
import type { ModelRunner } from '../inference/models.ts'
import { OfflineInference } from '../inference/offline.ts'
import { registerStreamingContributor } from './report.ts'

/** The shipped models on a thread of this process; if the thread cannot start, in the inference process. */
async function startModels(): Promise<ModelRunner & { stop(): Promise<void> }> {
  try {
    return await OfflineInference.start()
  } catch (e) {
    if ((e as { code?: string }).code === 'FW_ERR_MODEL') throw e
    const { startWithBuiltinModels } = await import('../inference/service.ts')
    return startWithBuiltinModels()
  }
}

registerStreamingContributor('inference', async ({ input }) => {
  const svc = await startModels()
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
