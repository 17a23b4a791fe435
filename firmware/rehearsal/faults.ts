// The fault classes a crew can rehearse on a live unit, as data: what each injects, through which
// hook, for how long by default, and how it is undone. Each injector is self-limiting (the engine
// hooks count blocks or milliseconds) or returns a restore function the rehearsal always calls, so
// a rehearsal can never leave a fault behind.
import { performance } from 'node:perf_hooks'
import { FirmwareError } from '../errors.ts'
import type { FaultCause, TransitionCause } from '../watchdog/causes.ts'

export const FAULT_CLASSES = ['overrun', 'control-stall', 'inference-hang', 'audio-stall', 'non-finite', 'panel-silent'] as const
export type FaultClass = (typeof FAULT_CLASSES)[number]

/** Engine test hooks, feature-detected: `injectDspSpin` exists; `injectAudioStall(ms)` and
 *  `injectNonFinite(blocks)` are being added to the Engine face (firmware/engine/engine.ts). */
export interface EngineFaultHooks {
  injectDspSpin?(us: number, blocks: number): void
  injectAudioStall?(ms: number): void
  injectNonFinite?(blocks: number): void
  readonly options: { blockSize: number; sampleRate: number }
}

/**
 * What `rehearse inference-hang` needs from the inference service (InferenceService.injectStall):
 * block the inference process for `ms`, as a model stuck in a run would; the service finds it hung,
 * kills it and starts a fresh one.
 */
export interface InferenceStallHook {
  injectStall(ms: number): void
}

/** The simulated front-panel controller's process (sim board only): stopped, it stops answering. */
export interface PanelControllerHook {
  readonly pid: number
}

/** Where the injectors reach the unit. Hooks that this unit does not have are null. */
export interface FaultTargets {
  engine: EngineFaultHooks
  inference: InferenceStallHook | null
  panelController: PanelControllerHook | null
}

export interface FaultSpec {
  name: FaultClass
  /** One line for help and the report. */
  what: string
  /** What the watchdog should do about it: 'bypass' or 'degrade'. */
  expect: 'bypass' | 'degrade'
  /** The transition causes that count as detecting this fault (anything else during the
   *  rehearsal, e.g. a late inference result on a loaded machine, is reported as unrelated). */
  causes: CauseSet
  /** Duration when none is given, ms. */
  defaultMs: number
  /** Why this unit cannot inject it (the hook it lacks), or null when it can. */
  unavailable(targets: FaultTargets): string | null
  /** Starts the fault and returns what undoes it early (called at the end of the rehearsal
   *  whatever happened). Throws FW_ERR_NOT_AVAILABLE when the hook went away meanwhile. */
  inject(targets: FaultTargets, ms: number): () => void
}

/** The watchdog causes that count as detecting one fault class (firmware/watchdog/causes.ts). */
export interface CauseSet {
  readonly list: readonly FaultCause[]
  /** Whether a transition's cause is one of them. */
  test(cause: TransitionCause): boolean
}

function causeSet(...list: FaultCause[]): CauseSet {
  const set: ReadonlySet<TransitionCause> = new Set(list)
  return { list, test: (cause) => set.has(cause) }
}

const none = (): void => {}

function notAvailable(fault: FaultClass, why: string): never {
  throw new FirmwareError('FW_ERR_NOT_AVAILABLE', `rehearse ${fault}: not available on this unit: ${why}`)
}

function blockMs(e: EngineFaultHooks): number {
  return (1000 * e.options.blockSize) / e.options.sampleRate
}

export const FAULTS: Readonly<Record<FaultClass, FaultSpec>> = {
  overrun: {
    name: 'overrun',
    what: 'the DSP chain spins twice the block period per block (engine injectDspSpin)',
    expect: 'bypass',
    causes: causeSet('native-dsp-overrun', 'dsp-overrun-rate'),
    unavailable: (t) => (typeof t.engine.injectDspSpin === 'function' ? null : 'the engine has no injectDspSpin hook'),
    defaultMs: 200,
    inject(t, ms) {
      const e = t.engine
      if (typeof e.injectDspSpin !== 'function') notAvailable('overrun', 'the engine has no injectDspSpin hook')
      const period = blockMs(e)
      e.injectDspSpin(Math.round(2000 * period), Math.max(1, Math.ceil(ms / (2 * period))))
      return () => e.injectDspSpin!(0, 0)
    },
  },
  'control-stall': {
    name: 'control-stall',
    what: 'the control event loop is blocked (heartbeat, tick, console and API all wait); the sound must not change',
    expect: 'degrade',
    causes: causeSet('event-loop-lag', 'native-heartbeat-stale', 'panel-heartbeat-timeout', 'engine-stall'),
    unavailable: () => null,
    defaultMs: 400,
    inject(_t, ms) {
      // Synchronous on purpose: this IS the fault. Nothing else in this process runs meanwhile.
      const end = performance.now() + ms
      while (performance.now() < end) {
        /* blocked */
      }
      return none
    },
  },
  'inference-hang': {
    name: 'inference-hang',
    what: 'the inference service stalls its runs (and its heartbeat)',
    expect: 'degrade',
    causes: causeSet('inference-hung', 'inference-exit', 'inference-error', 'inference-garbage', 'inference-latency'),
    unavailable: (t) =>
      !t.inference
        ? 'inference is not running on this unit'
        : typeof t.inference.injectStall === 'function'
          ? null
          : 'the inference service has no injectStall(ms) hook',
    defaultMs: 3000,
    inject(t, ms) {
      const h = t.inference
      if (!h || typeof h.injectStall !== 'function')
        notAvailable('inference-hang', 'the inference service has no injectStall(ms) hook yet (see docs/watchdog.md, Rehearsal)')
      h.injectStall(ms)
      return none
    },
  },
  'audio-stall': {
    name: 'audio-stall',
    what: 'the audio thread stops producing blocks (engine injectAudioStall)',
    expect: 'bypass',
    causes: causeSet(
      'audio-stall',
      'engine-stall',
      'native-heartbeat-stale',
      'native-dsp-overrun',
      'native-non-finite-output',
      'native-runaway-output',
      'backend-error',
    ),
    unavailable: (t) => (typeof t.engine.injectAudioStall === 'function' ? null : 'the engine has no injectAudioStall(ms) hook yet'),
    defaultMs: 400,
    inject(t, ms) {
      const e = t.engine
      if (typeof e.injectAudioStall !== 'function') notAvailable('audio-stall', 'the engine has no injectAudioStall(ms) hook yet')
      e.injectAudioStall(ms)
      return none
    },
  },
  'non-finite': {
    name: 'non-finite',
    what: 'the DSP chain produces NaN/Inf samples (engine injectNonFinite)',
    expect: 'bypass',
    causes: causeSet('native-non-finite-output', 'native-dsp-overrun', 'native-runaway-output', 'native-heartbeat-stale', 'dsp-overrun-rate'),
    unavailable: (t) => (typeof t.engine.injectNonFinite === 'function' ? null : 'the engine has no injectNonFinite(blocks) hook yet'),
    defaultMs: 100,
    inject(t, ms) {
      const e = t.engine
      if (typeof e.injectNonFinite !== 'function') notAvailable('non-finite', 'the engine has no injectNonFinite(blocks) hook yet')
      e.injectNonFinite(Math.max(1, Math.ceil(ms / blockMs(e))))
      return none
    },
  },
  'panel-silent': {
    name: 'panel-silent',
    what: 'the front-panel controller stops answering (the simulated controller process is stopped)',
    expect: 'bypass',
    causes: causeSet('panel-link-lost', 'panel-controller-silent', 'panel-heartbeat-timeout', 'relay-not-confirmed'),
    unavailable: (t) => (t.panelController ? null : 'only the simulated board can silence its front-panel controller'),
    defaultMs: 1000,
    inject(t, _ms) {
      const c = t.panelController
      if (!c) notAvailable('panel-silent', 'only the simulated board can silence its front-panel controller')
      try {
        process.kill(c.pid, 'SIGSTOP')
      } catch (e) {
        notAvailable('panel-silent', `the simulated controller (pid ${c.pid}) is not running: ${(e as Error).message}`)
      }
      let done = false
      return () => {
        if (done) return
        done = true
        try {
          process.kill(c.pid, 'SIGCONT')
        } catch {
          /* gone: nothing to resume */
        }
      }
    },
  },
}

const panelControllers = new WeakMap<object, PanelControllerHook>()

/** Whoever spawned the simulated controller for `app` (firmware/runtime/start.ts) says so here. */
export function setPanelController(app: object, controller: PanelControllerHook | null): void {
  if (controller) panelControllers.set(app, controller)
  else panelControllers.delete(app)
}

/** The simulated front-panel controller of `app`, if it has one (sim board). */
export function panelControllerOf(app: object): PanelControllerHook | null {
  return panelControllers.get(app) ?? null
}
