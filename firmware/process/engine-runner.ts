// The real engine behind `firmware process`: the file backend, run to the end of the input.
// (Wired to firmware/engine/engine.ts as soon as that face lands; until then it says so.)
import { FirmwareError } from '../errors.ts'
import type { OfflineJob, OfflineResult } from './process.ts'

export async function runOffline(job: OfflineJob): Promise<OfflineResult> {
  void job
  throw new FirmwareError('FW_ERR_ENGINE', 'the audio engine face (firmware/engine/engine.ts) is not available in this build')
}
