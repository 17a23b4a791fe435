// The frequency shifter (addons/src/dsp/freq_shift.h) as a user of the loop would check it: a sine
// at f comes out at f + df (its FFT peak), the image at f - df stays >= 40 dB down, the level moves
// by less than 0.1 dB from 50 Hz to 20 kHz, shift 0 is the input bit for bit, and changing the
// shift never steps the waveform. Then `firmware process --loop-gain --shift-hz` refuses a bad shift
// with FW_ERR_FEEDBACK_SETTINGS and writes nothing, and the engine's output chain shifts one output
// through the command ring (file backend) while the other stays as it was; `feedback shift OUT HZ`
// sets it on a running unit, a bad value changes nothing, and the shift comes back after a restart.

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { FeedbackShiftControl, registerFeedbackShiftCommands } from '../../firmware/automation/feedback-shift.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type CommandRegistry, createRegistry, type Principal } from '../../firmware/commands/index.ts'
import { Engine } from '../../firmware/engine/engine.ts'
import { loadNative } from '../../firmware/engine/native.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { openStore } from '../../firmware/store/index.ts'
import { readWav, writeWav } from '../../firmware/wav/wav.ts'
import { fft } from '../helpers/fft.ts'
import { rng } from '../helpers/rng.ts'
import { renderSpeech, TEXTS } from './programme.ts'

interface Shifter {
  setShiftHz(hz: number): void
  process(x: Float32Array): Float32Array
  readonly bypassed: boolean
}
const { FreqShift } = loadNative().features as { FreqShift: new () => Shifter }

const FS = 48000

function sine(hz: number, seconds: number, amp = 0.5): Float32Array {
  const x = new Float32Array(Math.round(seconds * FS))
  for (let i = 0; i < x.length; i++) x[i] = amp * Math.sin((2 * Math.PI * hz * i) / FS)
  return x
}

/** Frequency (Hz) of the largest bin of a Hann-windowed FFT zero-padded to 2^19 points (0.09 Hz bins). */
function peakHz(x: Float32Array): number {
  const n = 1 << 19
  const re = new Float64Array(n)
  const im = new Float64Array(n)
  for (let i = 0; i < x.length; i++) re[i] = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / x.length))
  fft(re, im)
  let best = 1
  for (let k = 1; k < n / 2; k++) if (re[k]! ** 2 + im[k]! ** 2 > re[best]! ** 2 + im[best]! ** 2) best = k
  return (best * FS) / n
}

/** Amplitude (dB re 1) of the component at hz: a Hann-windowed single-bin DFT. */
function levelDb(x: Float32Array, hz: number): number {
  let re = 0
  let im = 0
  const w = (2 * Math.PI * hz) / FS
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / x.length))
    re += v * Math.cos(w * i)
    im -= v * Math.sin(w * i)
  }
  return 20 * Math.log10((Math.hypot(re, im) * 4) / x.length)
}

t.test('a sine at f comes out at f + df: one peak, the image >= 40 dB down, the level within 0.1 dB', async (t) => {
  for (const df of [2, 5, 10])
    for (const f of df === 5 ? [50, 100, 440, 1000, 5000, 12000, 20000] : [50, 1000, 20000]) {
      const s = new FreqShift()
      s.setShiftHz(df)
      // 1.5 s; the first 0.25 s (the glide from 0 and the allpass chains settling) left out.
      const y = s.process(sine(f, 1.5)).subarray(FS / 4)
      if (df === 5) {
        const p = peakHz(y)
        t.ok(Math.abs(p - (f + df)) <= 0.5, `${f} Hz + ${df} Hz: FFT peak at ${p.toFixed(2)} Hz`)
      }
      const want = levelDb(y, f + df)
      const image = levelDb(y, f - df)
      t.ok(want - image >= 40, `${f} Hz + ${df} Hz: image at ${f - df} Hz ${(want - image).toFixed(1)} dB down`)
      const change = want - 20 * Math.log10(0.5)
      t.ok(Math.abs(change) <= 0.1, `${f} Hz + ${df} Hz: level ${change.toFixed(3)} dB`)
    }
})

/** Samples where a and b differ (bit for bit: Float32 values compared as numbers, NaN never equal). */
function differing(a: Float32Array, b: Float32Array): number {
  let n = Math.abs(a.length - b.length)
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (!Object.is(a[i], b[i])) n++
  return n
}

t.test('shift 0 is the input bit for bit, fresh and after a shift glided back to 0', async (t) => {
  const r = rng(7)
  const x = new Float32Array(FS)
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * 0.3
  const s = new FreqShift()
  t.ok(s.bypassed, 'a fresh shifter is bypassed')
  t.equal(differing(s.process(x), x), 0, 'fresh: identical')
  s.setShiftHz(5)
  t.ok(differing(s.process(x), x) > x.length / 2, 'at 5 Hz the output differs')
  t.notOk(s.bypassed, 'and it says so')
  s.setShiftHz(0)
  s.process(x) // the glide back: 50 ms to 0 Hz, 50 ms crossfade to the input
  t.ok(s.bypassed, 'bypassed again once the glide ended')
  t.equal(differing(s.process(x), x), 0, 'after the glide: identical')
})

t.test('changing the shift glides: no step in the waveform', async (t) => {
  // A sine of amplitude 0.5 at up to 1020 Hz (1 kHz shifted by up to 20 Hz) never moves more than
  // 2 * 0.5 * sin(pi 1020 / fs) between samples; a hard switch into the allpass chains' phase (or
  // a jump of the oscillator's phase) would.
  const f = 1000
  const bound = 2 * 0.5 * Math.sin((Math.PI * (f + 20)) / FS)
  const s = new FreqShift()
  let worst = 0
  let prev = 0
  const blocks = [0, 5, 10, 2, 0, 20, 0]
  let i0 = 0
  for (const df of blocks) {
    s.setShiftHz(df)
    const x = sine(f, 0.25).map((_, i) => 0.5 * Math.sin((2 * Math.PI * f * (i0 + i)) / FS))
    i0 += x.length
    const y = s.process(x)
    for (const v of y) {
      worst = Math.max(worst, Math.abs(v - prev))
      prev = v
    }
  }
  t.ok(worst <= bound * 1.02, `largest step ${worst.toFixed(5)} against ${bound.toFixed(5)} for the sine itself`)
})

const repo = join(import.meta.dirname, '..', '..')

function firmwareProcess(cwd: string, ...args: string[]) {
  return spawnSync(join(repo, 'node_modules', '.bin', 'node'), [join(repo, 'bin', 'firmware.js'), 'process', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  })
}

t.test('process --loop-gain 4 --room hall howls; with --shift-hz 10 the same loop stays stable', async (t) => {
  const dir = t.testdir()
  const speech = (await renderSpeech(dir, TEXTS.join(' '), 'awb')).subarray(0, 48000 * 6)
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'pcm24' }, speech)
  const common = ['--in', 'show.wav', '--loop-gain', '4', '--room', 'hall']
  const off = firmwareProcess(dir, ...common, '--out', 'off.wav', '--report', 'off.json')
  t.equal(off.status, 0, `runs: ${off.stderr}`)
  const a = JSON.parse(readFileSync(join(dir, 'off.json'), 'utf8'))
  t.ok(
    a.meters.loudspeakerRmsDb > a.meters.programmeRmsDb + 4 + 6,
    `no shift: it howls (loudspeaker ${a.meters.loudspeakerRmsDb} dBFS, programme ${a.meters.programmeRmsDb} dBFS)`,
  )
  const on = firmwareProcess(dir, ...common, '--shift-hz', '10', '--out', 'on.wav', '--report', 'on.json')
  t.equal(on.status, 0, `runs with --shift-hz 10: ${on.stderr}`)
  t.match(on.stdout, /shifted 10 Hz/, 'the summary line says so')
  const b = JSON.parse(readFileSync(join(dir, 'on.json'), 'utf8'))
  t.equal(b.loop.shiftHz, 10, 'the report carries the shift')
  t.ok(b.meters.loudspeakerRmsDb <= b.meters.programmeRmsDb + 4 + 3, `shifted 10 Hz: stable (loudspeaker ${b.meters.loudspeakerRmsDb} dBFS)`)
})

t.test('process --loop-gain refuses a bad --shift-hz with FW_ERR_FEEDBACK_SETTINGS and writes nothing', async (t) => {
  const dir = t.testdir()
  writeWav(join(dir, 'show.wav'), { channels: 1, sampleRate: 48000, format: 'pcm16' }, new Float32Array(4800))
  for (const v of ['-2', '21', 'five']) {
    const r = firmwareProcess(dir, '--in', 'show.wav', '--out', 'o.wav', '--report', 'r.json', '--loop-gain', '2', '--shift-hz', v)
    t.equal(r.status, 1, `--shift-hz ${JSON.stringify(v)}: exits 1`)
    t.match(r.stderr, /FW_ERR_FEEDBACK_SETTINGS|FW_ERR_USAGE/, `with the code: ${r.stderr.trim().split('\n')[0]}`)
    t.same(readdirSync(dir), ['show.wav'], 'nothing written')
  }
})

t.test("the engine shifts one output's tone by its shift, the other not; bad shifts refused before anything is sent", async (t) => {
  const dir = t.testdir()
  const n = FS * 3
  const data = new Float32Array(n * 2)
  for (let i = 0; i < n; i++) data[2 * i] = data[2 * i + 1] = 0.3 * Math.sin((2 * Math.PI * 1000 * i) / FS)
  writeWav(join(dir, 'in.wav'), { channels: 2, sampleRate: FS }, data)
  const e = new Engine({
    backend: 'file',
    inputs: 2,
    outputs: 2,
    heartbeatTimeoutMs: 0,
    overrunBlocks: 0,
    file: { in: join(dir, 'in.wav'), out: join(dir, 'out.wav') },
  })
  for (const [out, hz] of [
    [0, 21],
    [0, -1],
    [2, 5],
    [0, Number.NaN],
  ] as const)
    t.throws(() => e.setShift(out, hz), { code: 'FW_ERR_FEEDBACK_SETTINGS' }, `output ${out}, ${hz} Hz refused`)
  e.setShift(0, 5)
  e.start()
  await e.finished()
  e.stop()
  const o = readWav(join(dir, 'out.wav'))
  const ch = (c: number) => Float32Array.from({ length: FS * 2 }, (_, i) => o.data[(FS + i) * 2 + c]!)
  const shifted = peakHz(ch(0))
  const plain = peakHz(ch(1))
  t.ok(Math.abs(shifted - 1005) <= 0.5, `output 0 (5 Hz): its tone at ${shifted.toFixed(2)} Hz`)
  t.ok(Math.abs(plain - 1000) <= 0.5, `output 1 (no shift): at ${plain.toFixed(2)} Hz`)
})

t.test('feedback shift from the registry: on the engine, shown, stored, back after a restart; a bad shift changes nothing', async (t) => {
  const operator: Principal = { name: 'console:foh', permission: 'operate', transport: 'console' }
  const dataDir = t.testdir()
  const run = await startAppliance({ ...loadProfile('sim'), dataDir }, { services: [], panelPort: null, logDir: null, hardwareWatchdogs: [] })
  t.teardown(() => run.stop())
  const app = run.app
  const sent: Array<[number, number]> = []
  const setShift = (o: number, hz: number) => {
    app.engine.setShift!(o, hz)
    sent.push([o, hz])
  }
  const outputs = app.profile.audio.outputs
  const registry = createRegistry(app)
  registerFeedbackShiftCommands(registry, new FeedbackShiftControl({ setShift, outputs, config: openStore(dataDir).config }))
  t.match(await registry.executeLine('feedback show', operator), { ok: true, value: [{ output: 1, shiftHz: 0 }] }, 'off by default')
  t.match(await registry.executeLine('feedback shift 1 5', operator), { ok: true, value: { output: 1, shiftHz: 5 } })
  t.same(sent, [[0, 5]], 'the engine got it')
  t.match(await registry.executeLine('feedback shift 1 25', operator), { ok: false, code: 'FW_ERR_BAD_ARG', message: /0 to 20/ }, '25 Hz refused')
  t.match(await registry.executeLine('feedback shift 1 -1', operator), { ok: false, code: 'FW_ERR_BAD_ARG' }, '-1 Hz refused')
  await t.rejects(
    () => new FeedbackShiftControl({ setShift, outputs, config: openStore(dataDir).config }).set(0, 30),
    { code: 'FW_ERR_FEEDBACK_SETTINGS' },
    'the engine refuses it too',
  )
  t.match(await registry.executeLine(`feedback shift ${outputs + 1} 5`, operator), { ok: false }, 'no such output')
  t.same(sent, [[0, 5]], 'nothing more sent')
  t.match(await registry.executeLine('feedback show', operator), { ok: true, value: [{ output: 1, shiftHz: 5 }] }, 'still 5 Hz')
  // A restart: a new control over the same store puts the stored shift back on the engine.
  sent.length = 0
  const again = new FeedbackShiftControl({ setShift, outputs, config: openStore(dataDir).config })
  await again.startFromStore()
  t.same(sent, [[0, 5]], 'the stored shift is back on the engine')
  t.same(again.shifts().slice(0, 2), [5, 0], 'and shown')
})

t.test('the whole stack of `firmware run`: feedback shift 1 5 survives a restart', async (t) => {
  const operator: Principal = { name: 'console:foh', permission: 'operate', transport: 'console' }
  const dataDir = t.testdir()
  const boot = async () => {
    let registry: CommandRegistry | null = null
    const run = await startAppliance(
      { ...loadProfile('sim'), dataDir },
      {
        services: [
          applianceStack({
            log: () => {},
            onRegistry: (r) => {
              registry = r
            },
          }),
        ],
      },
    )
    return { run, registry: registry as unknown as CommandRegistry }
  }
  const first = await boot()
  t.match(await first.registry.executeLine('feedback shift 1 5', operator), { ok: true, value: { output: 1, shiftHz: 5 } })
  await first.run.stop()
  const second = await boot()
  t.teardown(() => second.run.stop())
  t.match(
    await second.registry.executeLine('feedback show', operator),
    {
      ok: true,
      value: [
        { output: 1, shiftHz: 5 },
        { output: 2, shiftHz: 0 },
      ],
    },
    'back after the restart',
  )
})
