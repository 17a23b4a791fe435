// The feedback frequency shifter on a running unit (docs/feedback.md, "Fourth round: stable gain"):
// one shift per output, applied through the engine's command ring (Engine.setShift: 0 to 20 Hz, 0
// is an exact bypass, changes glide) and kept in the store (config.subsystems.feedback) so it
// survives a reboot. `feedback shift OUT HZ` sets one, `feedback show` lists them; both on the one
// registry, so the console, the API and OSC share them.
import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { FirmwareError } from '../errors.ts'
import type { ConfigStore } from '../store/config.ts'

/** The largest shift (Hz), as the engine takes it (Engine.setShift, MAX_FEEDBACK_SHIFT_HZ). */
const MAX_SHIFT_HZ = 20

/** Reads the stored shifts, one per output; anything malformed counts as 0 (off). */
export function shiftsFrom(subsystems: Record<string, unknown>, outputs: number): number[] {
  const v = (subsystems.feedback as { shiftHz?: unknown } | undefined)?.shiftHz
  const list = Array.isArray(v) ? v : []
  return Array.from({ length: outputs }, (_, k) => {
    const hz = list[k]
    return typeof hz === 'number' && Number.isFinite(hz) && hz >= 0 && hz <= MAX_SHIFT_HZ ? hz : 0
  })
}

export interface FeedbackShiftDeps {
  /** The engine's setter (checks and sends; throws FW_ERR_FEEDBACK_SETTINGS on a bad value). */
  setShift: (output: number, hz: number) => void
  outputs: number
  /** Where the setting is kept. */
  config: ConfigStore
  /** Told every shift put on the engine (output from 0): the live fusion follows a shifted howl (LiveInference.setShift). */
  onShift?: (output: number, hz: number) => void
}

export class FeedbackShiftControl {
  #shifts: number[]
  readonly #deps: FeedbackShiftDeps

  constructor(deps: FeedbackShiftDeps) {
    this.#deps = deps
    this.#shifts = Array.from({ length: deps.outputs }, () => 0)
  }

  /** The shift of every output, Hz (0: off). */
  shifts(): number[] {
    return [...this.#shifts]
  }

  /** Puts the stored shifts on the engine (nothing stored: all off). */
  async startFromStore(): Promise<void> {
    const cfg = await this.#deps.config.load()
    shiftsFrom(cfg.subsystems, this.#deps.outputs).forEach((hz, k) => {
      if (hz > 0) {
        this.#deps.setShift(k, hz)
        this.#deps.onShift?.(k, hz)
      }
      this.#shifts[k] = hz
    })
  }

  /** Sets one output's shift (output from 0) on the engine, then stores every output's. A bad value changes nothing. */
  async set(output: number, hz: number): Promise<void> {
    if (!Number.isInteger(output) || output < 0 || output >= this.#deps.outputs) {
      throw new FirmwareError('FW_ERR_FEEDBACK_SETTINGS', `feedback shift: output ${output + 1} does not exist; this unit has ${this.#deps.outputs} outputs`)
    }
    this.#deps.setShift(output, hz)
    this.#deps.onShift?.(output, hz)
    this.#shifts[output] = hz
    const cfg = await this.#deps.config.load()
    await this.#deps.config.update({ subsystems: { ...cfg.subsystems, feedback: { shiftHz: [...this.#shifts] } } })
  }
}

const describe = (control: FeedbackShiftControl) => control.shifts().map((hz, k) => ({ output: k + 1, shiftHz: hz }))

/** `feedback show` and `feedback shift OUT HZ` on the one registry. */
export function registerFeedbackShiftCommands(registry: CommandRegistry, control: FeedbackShiftControl): void {
  registry.register({
    name: 'feedback show',
    summary: 'the feedback frequency shift of every output (Hz; 0 is off)',
    examples: ['feedback show'],
    permission: 'observe',
    args: [],
    handler: () => describe(control),
  })
  registry.register({
    name: 'feedback shift',
    summary: 'shift an output up by 0 to 20 Hz against feedback (0: off; glides, no click; detunes music: docs/feedback.md); stored',
    examples: ['feedback shift 1 5', 'feedback shift output=2 hz=0'],
    permission: 'operate',
    args: [
      { name: 'output', type: 'int', min: 1, max: (app: ApplianceApi) => app.profile.audio.outputs, help: 'output number, from 1' },
      { name: 'hz', type: 'number', min: 0, max: MAX_SHIFT_HZ, unit: 'Hz', help: `shift in Hz, 0 to ${MAX_SHIFT_HZ} (0: off)` },
    ],
    handler: async (args, { app, principal }) => {
      const output = (args.output as number) - 1
      const hz = args.hz as number
      await control.set(output, hz)
      app.publish?.({ type: 'change', change: { what: 'feedback', target: { output }, value: hz, who: principal.name } })
      return { output: output + 1, shiftHz: hz }
    },
  })
}
