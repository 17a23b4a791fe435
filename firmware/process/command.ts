// The `process` subcommand as the CLI runs it: parse, process, print one summary line.
import { parseProcessArgs, processUsage } from './options.ts'
import { processRecording } from './process.ts'
import { registerReportContributor } from './report.ts'

/**
 * The analysers (classifier, VAD, EQ recommender) add their report sections by registering a
 * contributor when their module loads. Loaded only once the command line is known to be good; if
 * they cannot load, the audio is still processed and the report says why the sections are empty.
 */
async function loadAnalysers(): Promise<void> {
  try {
    await import('./inference-report.ts')
  } catch (e) {
    const why = ((e as Error)?.message ?? String(e)).split('\n')[0]!
    registerReportContributor('inference', async () => {
      throw new Error(`the analysers could not be loaded: ${why}`)
    })
  }
}

export async function runProcessCommand(argv: string[]): Promise<number> {
  const opts = parseProcessArgs(argv)
  if (!opts) {
    console.log(processUsage)
    return 0
  }
  if (opts.analysis) await loadAnalysers()
  const { summary } = await processRecording(opts)
  console.log(summary)
  return 0
}
