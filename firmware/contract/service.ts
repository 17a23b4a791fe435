// A service: a part that attaches to the running appliance (store, inference, console, API, OSC)
// and is stopped in reverse order. The composition root (firmware/runtime/services.ts) starts them;
// each is handed the ServiceHost below, never the concrete Appliance, so no part imports runtime/.
import type { FeatureFrames } from '../engine/types.ts'
import type { InferenceHealthEvent } from '../watchdog/inference-health.ts'
import type { ApplianceApi, ApplianceEvent, LogLine } from './appliance.ts'

/** What a service may use: the appliance as transports see it, plus the hooks parts attach by. */
export interface ServiceHost extends ApplianceApi {
  logLine(level: LogLine['level'], source: string, message: string): void
  publish(ev: ApplianceEvent): void
  /** Inference health (runs, hangs, errors) for the watchdog's inference monitor. */
  reportInference(ev: InferenceHealthEvent): void
  /** Whether the watchdog allows inference now (off in BYPASS). */
  readonly inferenceEnabled: boolean
  onInferencePermission(listener: (enabled: boolean) => void): () => void
  /** The automation mode shown in status. */
  automationMode: 'advisory' | 'supervised' | 'auto'
  /** Feature frames the audio thread produced since the last call (log-mel, VAD, spectra). */
  pollFeatures(): FeatureFrames | null
}

export interface ServiceHandle {
  stop(): Promise<void>
}

export type Service = (host: ServiceHost) => Promise<ServiceHandle>
