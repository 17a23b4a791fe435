// The `process` subcommand as the CLI runs it: parse, process, print one summary line.
import { parseProcessArgs, processUsage } from './options.ts'
import { processRecording } from './process.ts'

export async function runProcessCommand(argv: string[]): Promise<number> {
  const opts = parseProcessArgs(argv)
  if (!opts) {
    console.log(processUsage)
    return 0
  }
  const { summary } = await processRecording(opts)
  console.log(summary)
  return 0
}
