// The real onnxruntime backend, timed from inside the offline inference thread for the start-up
// split (show.bench.ts): the thread's own CPU (process.threadCpuUsage) when the backend module is
// created (the thread's boot and the inference modules), after onnxruntime-node is loaded, and
// after each session. Printed as one line on stderr at each step: `startup-thread {"step","cpuMs"}`.
import type { InferenceBackend } from '../../firmware/inference/backend.ts'
import { createBackend as realBackend } from '../../firmware/inference/backend.ts'

const cpuMs = () => {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}
const say = (step: string) => process.stderr.write(`startup-thread ${JSON.stringify({ step, cpuMs: cpuMs() })}\n`)

export function createBackend(): InferenceBackend {
  say('thread boot and inference modules')
  const real = realBackend()
  say('onnxruntime-node loaded')
  let n = 0
  return {
    async load(bytes) {
      const s = await real.load(bytes)
      say(`session ${++n} (${s.inputs.map((i) => i.name).join(', ')})`)
      return s
    },
  }
}
