// The classifier's second opinion for the simulated loop (`firmware process --loop-gain`, the
// feedback benchmark): the crowd-state model (models/crowd_state.onnx) in the inference service,
// fed log-mel patches of the loudspeaker feed as live inference feeds it on the unit
// (firmware/inference/live.ts), answering with its feedback probability.

import { loadNative } from '../engine/native.ts'
import { CROWD_STATE, classifyPatches, MEL_BANDS, PATCH_FRAMES } from '../inference/models.ts'
import { startWithBuiltinModels } from '../inference/service.ts'
import type { LoopClassifier } from './feedback-loop.ts'

export interface FeedbackClassifier {
  classify: LoopClassifier
  stop(): Promise<void>
}

/** Starts an inference service with the built-in models; classify() answers p(feedback) of the last 0.5 s of x. */
export async function startFeedbackClassifier(): Promise<FeedbackClassifier> {
  const svc = await startWithBuiltinModels()
  const fb = svc.active(CROWD_STATE)?.manifest.classes.indexOf('feedback') ?? -1
  const f = loadNative().features as { decimate48to16(x: Float32Array): Float32Array; logMel(x: Float32Array): Float32Array }
  return {
    async classify(x: Float32Array): Promise<number> {
      if (fb < 0) return 0
      const mel = f.logMel(f.decimate48to16(x))
      const frames = mel.length / MEL_BANDS
      if (frames < PATCH_FRAMES) return 0
      const r = await classifyPatches(svc, mel.slice((frames - PATCH_FRAMES) * MEL_BANDS, frames * MEL_BANDS))
      return r?.[0]?.probs[fb] ?? 0
    },
    stop: () => svc.stop(),
  }
}
