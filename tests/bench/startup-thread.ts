// Starts the offline inference thread with the shipped models and the timed backend, then stops it
// (show.bench.ts's start-up split). Prints the thread's steps on stderr (startup-backend.ts).
import { OfflineInference } from '../../firmware/inference/offline.ts'

const inf = await OfflineInference.start({ backendModule: new URL('./startup-backend.ts', import.meta.url).href })
// The thread's stderr reaches this process's asynchronously: let it arrive before the thread ends.
await new Promise((r) => setTimeout(r, 200))
await inf.stop()
