// Adds the inference sections (classes, vad, recommendations) to `firmware process` reports.
// Importing this module registers the contributor; firmware/process imports it.

import { analyseFiles } from '../inference/analyse.ts'
import { BUILTIN_MANIFESTS } from '../inference/manifest.ts'
import { InferenceService } from '../inference/service.ts'
import { registerReportContributor } from './report.ts'

registerReportContributor('inference', async (ctx) => {
  const svc = new InferenceService()
  await svc.start()
  try {
    for (const m of BUILTIN_MANIFESTS) await svc.activate(m)
    // Without an array the inputs are line feeds; with one, the mics' mix is an omni. Either way
    // the classifier and the VAD hear the mix; the EQ recommender looks at each output.
    return await analyseFiles(svc, ctx.inPath, ctx.outPath)
  } finally {
    await svc.stop()
  }
})
