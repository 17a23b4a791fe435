import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { boardRoot, loadProfile } from '../../firmware/board/profile.ts'
import { validateGeometry } from '../../firmware/engine/geometry.ts'

t.test('both shipped board profiles load', async (t) => {
  const sim = loadProfile('sim')
  t.equal(sim.audio.backend, 'sim')
  t.equal(sim.array?.mics.length, 8)
  const jetson = loadProfile('jetson-agx-rack')
  t.equal(jetson.audio.backend, 'alsa')
  t.equal(jetson.uarts.console.path, '/dev/ttyTHS0')
})

t.test('a truncated profile is refused with a clear error', async (t) => {
  const dir = t.testdir({ 'profile.json': '{"name": "x", "audio": {' })
  t.throws(() => loadProfile(join(dir, 'profile.json')), { code: 'FW_ERR_BOARD_PROFILE', message: /not valid JSON/ })
})

t.test('a bad field is named in the error', async (t) => {
  const dir = t.testdir({})
  const good = loadProfile('sim')
  const bad = { ...good, audio: { ...good.audio, blockSize: 4096 } }
  writeFileSync(join(dir, 'p.json'), JSON.stringify(bad))
  t.throws(() => loadProfile(join(dir, 'p.json')), { message: /audio\.blockSize.*between 32 and 1024/ })
})

t.test('array geometry is validated', async (t) => {
  t.throws(() => validateGeometry({ sampleRate: 48000, mics: [[0, 0, 0]] }), { code: 'FW_ERR_BAD_GEOMETRY' })
  t.throws(
    () =>
      validateGeometry({
        sampleRate: 22050,
        mics: [
          [0, 0, 0],
          [1, 0, 0],
        ],
      }),
    { message: /sampleRate/ },
  )
  t.throws(
    () =>
      validateGeometry({
        sampleRate: 48000,
        mics: [
          [0, 0, 0],
          [0, 0, 0],
        ],
      }),
    { message: /same position/ },
  )
  t.throws(
    () =>
      validateGeometry({
        sampleRate: 48000,
        mics: [
          [0, 0],
          [1, 0, 0],
        ],
      }),
    { message: /mics\[0\]/ },
  )
  t.same(
    validateGeometry({
      sampleRate: 48000,
      mics: [
        [0, 0, 0],
        [0.1, 0, 0],
      ],
    }).mics.length,
    2,
  )
})

t.test('the escalation latch thresholds come from the profile, with defaults', async (t) => {
  t.same(loadProfile('sim').watchdog, { escalateAfterBypasses: 3, escalateWindowMs: 60_000 })
  const dir = t.testdir({})
  const good = JSON.parse(readFileSync(join(boardRoot, 'sim', 'profile.json'), 'utf8'))
  delete good.watchdog
  writeFileSync(join(dir, 'none.json'), JSON.stringify(good))
  t.same(loadProfile(join(dir, 'none.json')).watchdog, { escalateAfterBypasses: 3, escalateWindowMs: 60_000 }, 'defaults without the section')
  writeFileSync(join(dir, 'set.json'), JSON.stringify({ ...good, watchdog: { escalateAfterBypasses: 5, escalateWindowS: 120 } }))
  t.same(loadProfile(join(dir, 'set.json')).watchdog, { escalateAfterBypasses: 5, escalateWindowMs: 120_000 })
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...good, watchdog: { escalateAfterBypasses: 2.5 } }))
  t.throws(() => loadProfile(join(dir, 'bad.json')), { code: 'FW_ERR_BOARD_PROFILE', message: /watchdog\.escalateAfterBypasses.*whole number/ })
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ ...good, watchdog: { escalateAfterBypass: 2 } }))
  t.throws(() => loadProfile(join(dir, 'typo.json')), { code: 'FW_ERR_BOARD_PROFILE', message: /watchdog\.escalateAfterBypass: is not a watchdog setting/ })
})

t.test('a profile with a gpio section is refused: nothing drives a GPIO, the relay is on the front panel', async (t) => {
  const dir = t.testdir({})
  const good = JSON.parse(readFileSync(join(boardRoot, 'sim', 'profile.json'), 'utf8'))
  t.equal(good.gpio, undefined, 'the shipped sim profile has no gpio section')
  writeFileSync(join(dir, 'gpio.json'), JSON.stringify({ ...good, gpio: { relay: 'gpiochip0:PQ.05', bypassButton: 'gpiochip0:PQ.06' } }))
  t.throws(() => loadProfile(join(dir, 'gpio.json')), {
    code: 'FW_ERR_BOARD_PROFILE',
    message: /gpio: is not read: the relay and the bypass button are on the front-panel controller/,
  })
})

t.test('capabilities are derived from the profile, not its name', async (t) => {
  t.same(loadProfile('sim').capabilities, { panel: 'simulated', console: 'simulated', thermal: 'simulated', watchdogDevice: false })
  t.same(loadProfile('jetson-agx-rack').capabilities, { panel: 'uart', console: 'uart', thermal: 'sysfs', watchdogDevice: true })
  const dir = t.testdir({})
  const good = JSON.parse(readFileSync(join(boardRoot, 'sim', 'profile.json'), 'utf8'))
  // A board called "sim" with real parts is a real board; a bench unit with other names can be simulated.
  const bench = {
    ...good,
    name: 'bench',
    thermalZones: [],
    watchdogDevice: '/dev/watchdog1',
    uarts: { console: { path: '/dev/ttyUSB0' }, panel: { path: 'none' } },
  }
  writeFileSync(join(dir, 'bench.json'), JSON.stringify(bench))
  t.same(loadProfile(join(dir, 'bench.json')).capabilities, { panel: 'none', console: 'uart', thermal: 'none', watchdogDevice: true })
  writeFileSync(
    join(dir, 'mixed.json'),
    JSON.stringify({ ...good, thermalZones: [...good.thermalZones, { name: 'gpu', path: '/sys/class/thermal/thermal_zone1/temp', warnC: 85, bypassC: 95 }] }),
  )
  t.throws(() => loadProfile(join(dir, 'mixed.json')), { code: 'FW_ERR_BOARD_PROFILE', message: /thermalZones: mixes simulated/ })
})

t.test('the front panel heartbeat timeout comes from the profile, checked', async (t) => {
  const dir = t.testdir({})
  const good = JSON.parse(readFileSync(join(boardRoot, 'sim', 'profile.json'), 'utf8'))
  t.equal(loadProfile('sim').uarts.panel.heartbeatTimeoutMs, 400, 'the sim board allows its socat hops 400 ms')
  t.equal(loadProfile('jetson-agx-rack').uarts.panel.heartbeatTimeoutMs, undefined, 'the rack unit takes the appliance default (150 ms)')
  const variant = (name: string, panel: object, console?: object) => {
    const p = join(dir, `${name}.json`)
    writeFileSync(p, JSON.stringify({ ...good, uarts: { console: console ?? good.uarts.console, panel: { ...good.uarts.panel, ...panel } } }))
    return p
  }
  for (const bad of [0, 9, 5001, 12.5, '400', null]) {
    t.throws(
      () => loadProfile(variant('bad', { heartbeatTimeoutMs: bad })),
      { code: 'FW_ERR_BOARD_PROFILE', message: /uarts\.panel\.heartbeatTimeoutMs: must be/ },
      `${JSON.stringify(bad)} refused`,
    )
  }
  t.throws(() => loadProfile(variant('console', {}, { ...good.uarts.console, heartbeatTimeoutMs: 400 })), {
    message: /uarts\.console\.heartbeatTimeoutMs: belongs to uarts\.panel only/,
  })
})
