// Bad options are refused before anything starts, with a code and a message naming the field;
// bad devices and files are refused at start() with the code a user can act on.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { EngineOptions } from '../../firmware/engine/engine.ts'
import { Engine, resolveOptions } from '../../firmware/engine/engine.ts'
import { writeWav } from '../../firmware/wav/wav.ts'

const ring8 = {
  sampleRate: 48000,
  mics: Array.from({ length: 8 }, (_, m) => [0.05 * Math.cos((m * Math.PI) / 4), 0.05 * Math.sin((m * Math.PI) / 4), 0] as [number, number, number]),
}

t.test('options out of range are refused naming the field', async (t) => {
  const cases: Array<[Partial<EngineOptions>, RegExp]> = [
    [{ blockSize: 16 }, /blockSize: must be between 32 and 1024, got 16/],
    [{ blockSize: 100.5 }, /blockSize: must be a whole number/],
    [{ sampleRate: 22050 }, /sampleRate: must be 44100, 48000 or 96000/],
    [{ inputs: 65 }, /inputs: must be between 1 and 64/],
    [{ outputs: 17 }, /outputs: must be between 1 and 16/],
    [{ inputs: 2, outputs: 2, dryMap: [0, 2] }, /dryMap\[1\]: must be between 0 and 1/],
    [{ inputs: 2, outputs: 2, dryMap: [0] }, /dryMap: must list one input per output/],
    [{ crossfadeMs: -1 }, /crossfadeMs: must be between 0 and 1000/],
    [{ heartbeatTimeoutMs: Number.NaN }, /heartbeatTimeoutMs: must be a number/],
    [{ array: ring8, beams: [{ kind: 'superbeam' as 'das' }] }, /beams\[0\]\.kind: must be "das" or "mvdr"/],
    [{ array: ring8, beams: [] }, /beams: must list 1 to 16 beams/],
    [{ backend: 'file' }, /file\.in: the file backend needs an input WAV path/],
    [{ backend: 'alsa' }, /alsa\.capture: the alsa backend needs a capture PCM name/],
    [{ doaFrameSize: 1000 }, /doaFrameSize: must be a power of two/],
    [{ runawayDb: 100 }, /runawayDb: must be between 0 and 60, got 100/],
  ]
  for (const [opts, message] of cases) {
    t.throws(() => resolveOptions(opts), { code: 'FW_ERR_BAD_OPTION', message }, JSON.stringify(opts).slice(0, 80))
  }
})

t.test('a bad array geometry is refused as such', async (t) => {
  t.throws(() => new Engine({ array: { sampleRate: 48000, mics: [[0, 0, 0]] } }), { code: 'FW_ERR_BAD_GEOMETRY', message: /at least 2 microphones/ })
  t.throws(
    () =>
      new Engine({
        array: {
          sampleRate: 48000,
          mics: [
            [0, 0, 0],
            [0, 0, 0],
          ],
        },
      }),
    { code: 'FW_ERR_BAD_GEOMETRY', message: /same position/ },
  )
  t.throws(() => new Engine({ array: ring8, inputs: 4 }), { code: 'FW_ERR_BAD_GEOMETRY', message: /8 mics but the engine has 4 inputs/ })
  t.throws(() => new Engine({ array: ring8, sampleRate: 44100 }), { code: 'FW_ERR_BAD_GEOMETRY', message: /differs/ })
})

t.test('an unknown backend or ALSA device is refused as an unknown device', async (t) => {
  t.throws(() => new Engine({ backend: 'jack' as 'sim' }), { code: 'FW_ERR_UNKNOWN_DEVICE', message: /unknown audio backend "jack"/ })
  const e = new Engine({ backend: 'alsa', inputs: 2, outputs: 2, alsa: { capture: 'no_such_pcm_xyz', playback: 'no_such_pcm_xyz' } })
  t.throws(() => e.start(), { code: 'FW_ERR_UNKNOWN_DEVICE', message: /ALSA capture device "no_such_pcm_xyz"/ })
  t.doesNotThrow(() => e.stop(), 'stop after a failed start is harmless')
})

t.test('the file backend refuses missing, corrupt and mismatched WAVs', async (t) => {
  const dir = t.testdir()
  const missing = new Engine({ backend: 'file', inputs: 2, outputs: 2, file: { in: join(dir, 'nope.wav'), out: join(dir, 'out.wav') } })
  t.throws(() => missing.start(), { code: 'FW_ERR_IO', message: /nope\.wav: no such file/ })
  writeFileSync(join(dir, 'junk.wav'), 'this is not a wav file at all')
  const corrupt = new Engine({ backend: 'file', inputs: 2, outputs: 2, file: { in: join(dir, 'junk.wav') } })
  t.throws(() => corrupt.start(), { code: 'FW_ERR_BAD_WAV', message: /junk\.wav/ })
  writeWav(join(dir, 'three.wav'), { channels: 3, sampleRate: 48000 }, new Float32Array(3 * 480))
  const mismatched = new Engine({ backend: 'file', inputs: 2, outputs: 2, file: { in: join(dir, 'three.wav'), out: join(dir, 'out.wav') } })
  t.throws(() => mismatched.start(), { code: 'FW_ERR_CHANNELS', message: /has 3 channel\(s\) but the engine expects 2 input\(s\)/ })
})

t.test('commands out of range are refused naming the argument', async (t) => {
  const e = new Engine({ backend: 'null', inputs: 2, outputs: 2 })
  t.throws(() => e.setOutputGain(2, 0), { code: 'FW_ERR_BAD_OPTION', message: /setOutputGain\(output\)/ })
  t.throws(() => e.setInputTrim(0, 60), { code: 'FW_ERR_BAD_OPTION', message: /setInputTrim\(db\)/ })
  t.throws(() => e.setEq(0, 8, { type: 'peak', freqHz: 1000, gainDb: 0, q: 1, enabled: true }), { code: 'FW_ERR_BAD_OPTION', message: /setEq\(band\)/ })
  t.throws(() => e.steerBeam(0, 10), { code: 'FW_ERR_BAD_OPTION', message: /no array, so no beams/ })
  e.stop()
})

t.test('a full command queue is reported, never waited on', async (t) => {
  const e = new Engine({ backend: 'null', inputs: 2, outputs: 2 })
  // Not started: nothing drains the 1024-record command ring.
  for (let i = 0; i < 1024; i++) e.setOutputGain(0, -(i % 60))
  t.throws(() => e.setOutputGain(0, 0), { code: 'FW_ERR_ENGINE', message: /command queue is full/ })
  t.equal(e.stats().droppedCommands, 1, 'the dropped command is counted')
  e.stop()
})

t.test('options given as undefined take their defaults', async (t) => {
  const o = resolveOptions({ blockSize: undefined, crossfadeMs: undefined, backend: 'null' })
  t.equal(o.blockSize, 64, 'blockSize defaults to 64')
  t.equal(o.crossfadeMs, 10, 'crossfadeMs defaults to 10')
  t.equal(o.heartbeatTimeoutMs, 5000, 'heartbeatTimeoutMs defaults to 5000 (a late event loop holds parameters; only a silent control plane goes dry)')
  t.equal(o.overrunBlocks, 4, 'overrunBlocks defaults to 4')
})

t.test('the sentinel and the rehearsal hooks refuse bad arguments naming them, and change nothing', async (t) => {
  const e = new Engine({ backend: 'null', inputs: 2, outputs: 2, heartbeatIntervalMs: 0, maxBlocks: 2000, realtimePriority: false })
  t.throws(() => e.startSentinel({}), { code: 'FW_ERR_ENGINE', message: /needs a running engine/ }, 'not before start()')
  e.start()
  t.teardown(() => e.stop())
  t.throws(() => e.startSentinel({ heartbeatMs: 0 }), { code: 'FW_ERR_BAD_OPTION', message: /sentinel\.heartbeatMs: must be between 1 and 100/ })
  t.throws(() => e.startSentinel({ controlPlaneTimeoutMs: 50 }), {
    code: 'FW_ERR_BAD_OPTION',
    message: /sentinel\.controlPlaneTimeoutMs: must be 0 or 100\.\.60000/,
  })
  t.throws(() => e.startSentinel({ panelPath: '/nonexistent/tty' }), { code: 'FW_ERR_IO', message: /cannot open the front-panel tty \/nonexistent\/tty/ })
  t.equal(e.sentinelStats(), null, 'no sentinel was started by the refused calls')
  t.throws(() => e.injectAudioStall(0), { code: 'FW_ERR_BAD_OPTION', message: /injectAudioStall\(ms\): must be between 1 and 10000/ })
  t.throws(() => e.injectNonFinite(1.5), { code: 'FW_ERR_BAD_OPTION', message: /injectNonFinite\(blocks\): must be a whole number/ })
  e.startSentinel({ realtimePriority: false })
  t.match(e.sentinelStats(), { running: true, panelOpen: false }, 'a sentinel without a panel runs')
  t.throws(() => e.startSentinel({}), { code: 'FW_ERR_IO', message: /already running/ })
})

t.test('each piece of option checking refuses its own fields, and the first bad piece is the one reported', async (t) => {
  const cases: Array<[Partial<EngineOptions>, RegExp]> = [
    [{ backend: 'file', file: { in: 'a.wav', format: 'pcm8' as 'pcm16' } }, /file\.format: must be pcm16, pcm24, pcm32 or float32, got "pcm8"/],
    [{ backend: 'alsa', alsa: { capture: 'hw:1,0', playback: '' } }, /alsa\.playback: the alsa backend needs a playback PCM name/],
    [{ backend: 'alsa', alsa: { capture: 'hw:1,0', playback: 'hw:1,0', periods: 1 } }, /alsa\.periods: must be between 2 and 16, got 1/],
    [{ array: ring8, beams: [null as unknown as object] }, /beams\[0\]: must be an object/],
    [{ array: ring8, beams: [{}, { azimuth: 400 }] }, /beams\[1\]\.azimuth: must be between -360 and 360, got 400/],
    [{ array: ring8, beams: [{ auto: 'yes' as unknown as boolean }] }, /beams\[0\]\.auto: must be true or false, got "yes"/],
    [{ beams: Array.from({ length: 17 }, () => ({})) }, /beams: must list 1 to 16 beams/],
    [{ sim: { sources: [{ azimuth: 0, kind: 'hum' as 'tone', levelDb: -20 }] } }, /sim\.sources\[0\]\.kind: must be tone, noise or speechlike, got "hum"/],
    [{ sim: { sources: [{ azimuth: 0, kind: 'tone', freqHz: 30_000, levelDb: -20 }] } }, /sim\.sources\[0\]\.freqHz: must be between 1 and 24000, got 30000/],
    [{ sim: { noiseDb: 3 } }, /sim\.noiseDb: must be between -300 and 0, got 3/],
    [{ sim: { seed: -1 } }, /sim\.seed: must be between 0 and 4294967295, got -1/],
    [{ doa: 'on' as unknown as boolean }, /doa: must be true or false, got "on"/],
    // Two bad fields: the earlier piece (channels before beams before file before sim) is reported.
    [{ blockSize: 16, beams: [] }, /blockSize: must be between 32/],
    [{ beams: [], backend: 'file' }, /beams: must list 1 to 16 beams/],
    [{ backend: 'file', sim: { noiseDb: 3 } }, /file\.in: the file backend needs/],
    [{ doaFrameSize: 1000, runawayDb: 100 }, /doaFrameSize: must be a power of two/],
  ]
  for (const [opts, message] of cases) {
    t.throws(() => resolveOptions(opts), { code: 'FW_ERR_BAD_OPTION', message }, JSON.stringify(opts).slice(0, 80))
  }
})

t.test('resolved options: undefined means the default, beams exist only with an array, backend fields only for their backend', async (t) => {
  const plain = resolveOptions({ blockSize: undefined, beams: [{ kind: 'superbeam' as 'das' }] })
  t.equal(plain.blockSize, 64, 'undefined: the default block size')
  t.same(plain.beams, [], 'no array: no beams, and their content is not looked at')
  t.same([plain.inputs, plain.outputs, plain.dryMap], [2, 2, [0, 1]], 'two inputs, each output dry from its own')
  t.same([plain.inPath, plain.outPath, plain.outFormat], ['', '', 'float32'])
  t.same([plain.captureDevice, plain.playbackDevice, plain.alsaPeriods], ['', '', 3])
  t.equal(plain.doa, false, 'no array: no DOA whatever doa says')
  const withArray = resolveOptions({ array: ring8, inputs: 8 })
  t.same([withArray.outputs, withArray.dryMap], [4, [0, 1, 2, 3]], 'an array: four outputs by default')
  t.same(
    withArray.beams.map((b) => [b.azimuth, b.auto]),
    [
      [0, true],
      [90, false],
      [180, false],
      [270, false],
    ],
    'four beams a quarter turn apart, the first following the DOA',
  )
  const file = resolveOptions({ backend: 'file', file: { in: 'in.wav', out: 'out.wav', format: 'pcm24' } })
  t.same([file.inPath, file.outPath, file.outFormat], ['in.wav', 'out.wav', 'pcm24'])
  const alsa = resolveOptions({ backend: 'alsa', alsa: { capture: 'hw:1,0', playback: 'plug:out' } })
  t.same([alsa.captureDevice, alsa.playbackDevice, alsa.alsaPeriods], ['hw:1,0', 'plug:out', 3])
})
