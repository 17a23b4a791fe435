// The stream path end to end with real parts: the engine on the sim board -> the mix tap -> the
// native streamer (Opus, RTP) -> Debian's Janus (streaming plugin, one mountpoint per published
// mix) -> WebRTC -> Debian's headless Chromium on the listener page, recording with WebAudio.
// What the browser heard must match the profile rendered offline from the same engine output,
// and killing Janus must leave the PA output untouched (DEGRADED, never bypass).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { loadNative } from '../../firmware/engine/native.ts'
import { nativeProfile, validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { initialState, transition } from '../../firmware/watchdog/machine.ts'
import { MixStreamMonitor } from '../../firmware/watchdog/mix-stream.ts'
import { CHROMIUM } from '../helpers/chromium.ts'
import { locate } from '../helpers/fft.ts'
import { CHROMIUM_ARGS, decodeF32, freeUdpPort, RECORD_IN_PAGE, servePage, startJanus } from './janus.ts'

/** The floor for the received audio's correlation with the offline render (Opus at 96 kbit/s). */
const CORRELATION_FLOOR = 0.8

t.test('a listener in Chromium hears the published mix through Janus; killing Janus leaves the PA alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mix-janus-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Two line feeds: a voice-like source and the band's noise; output k carries input k.
  const engine = new Engine({
    backend: 'sim',
    inputs: 2,
    outputs: 2,
    sim: {
      recordSeconds: 25,
      sources: [
        { azimuth: 0, kind: 'speechlike', freqHz: 180, levelDb: -18 },
        { azimuth: 90, kind: 'noise', levelDb: -32 },
      ],
    },
  })
  const profile = validateProfile({
    name: 'vocal-forward',
    description: 'Voice forward',
    sources: [
      { output: 0, gainDb: 6 },
      { output: 1, gainDb: -12 },
    ],
    bedDb: -6,
    compressor: { thresholdDb: -20, ratio: 2 },
  })
  const rtpPort = await freeUdpPort()
  const janus = await startJanus(dir, [{ id: 1, name: profile.name, description: profile.description, rtpPort }])
  t.teardown(() => janus.stop())
  engine.start()
  let stopped = false
  t.teardown(() => {
    if (!stopped) engine.stop()
  })
  const streams = new MixStreams(engine.mixPort(), 20)
  streams.publish(profile, { host: '127.0.0.1', port: rtpPort, bitrate: 96000 })
  const site = await servePage()
  t.teardown(() => site.server.close())
  const userDir = mkdtempSync(join(tmpdir(), 'mix-chromium-'))
  t.teardown(() => rmSync(userDir, { recursive: true, force: true }))
  const browser = await chromium.launchPersistentContext(userDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? (await browser.newPage())
  await page.goto(`${site.url}/index.html?janus=${encodeURIComponent(janus.url)}`)
  await page.getByRole('button', { name: 'Play' }).waitFor()
  await page.waitForFunction("!document.getElementById('play').disabled", null, { timeout: 10_000 })
  t.match(await page.locator('#optin').innerText(), /nothing is recorded/, 'the page says what it does before anything plays')
  t.match(await page.locator('#mixes').innerText(), /Voice forward/, 'the published mix is offered by its description')
  // Accessible as axe-core (WCAG 2.1 A/AA rules) sees it.
  await page.addScriptTag({ path: join(import.meta.dirname, '..', '..', 'node_modules', 'axe-core', 'axe.min.js') })
  const axe = (await page.evaluate(
    "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }).then((r) => r.violations.map((v) => v.id + ': ' + v.help))",
  )) as string[]
  t.same(axe, [], 'no accessibility violations on the listener page')
  await page.getByRole('button', { name: 'Play' }).click()
  await page.waitForFunction("document.getElementById('status').textContent === 'playing'", null, { timeout: 10_000 })
  await page.waitForFunction("document.getElementById('out').srcObject !== null", null, { timeout: 10_000 })
  // Let the jitter buffer settle, then record.
  await page.waitForTimeout(1000)
  const rec = (await page.evaluate(`(${RECORD_IN_PAGE})(3)`)) as { b64: string; wallMs: number }
  const heard = decodeF32(rec.b64)
  const latency = await page.locator('#latency').innerText()
  t.ok(heard.length === 144000, `the page recorded ${heard.length} samples`)

  // Kill Janus: the streams fail, the PA does not.
  const monitor = new MixStreamMonitor()
  t.equal(monitor.check(streams.stats()), null, 'a healthy stream arms the monitor without a fault')
  await new Promise((r) => setTimeout(r, 200))
  t.equal(monitor.check(streams.stats()), null, 'and stays quiet while packets flow')
  await janus.stop()
  await new Promise((r) => setTimeout(r, 400))
  const st = streams.stats()
  const fault = monitor.check(st)
  t.ok((st?.streams[0]?.sendErrors ?? 0) > 0, `the streamer counts the refused packets (${st?.streams[0]?.sendErrors})`)
  t.equal(fault?.level, 'degrade', `the monitor reports it as degrade: ${fault?.evidence}`)
  let wd = transition(initialState(0), { type: 'boot-complete', at: 1 })[0]
  if (fault) wd = transition(wd, { type: 'fault', at: 2, level: fault.level, cause: fault.cause, evidence: fault.evidence })[0]
  t.equal(wd.name, 'DEGRADED', 'the watchdog goes DEGRADED (never bypass) on a failing stream')
  const es = engine.stats()
  t.equal(es.nativeBypass, null, 'the engine never went dry by itself')
  t.equal(es.mix, 1, 'its output is fully processed')
  t.equal(es.processed, true, 'and still targets the processed signal')
  streams.stop()
  engine.stop()
  stopped = true

  const r = engine.recording()
  let diff = 0
  for (let ch = 0; ch < 2; ch++) for (let i = 0; i < r.frames; i++) diff = Math.max(diff, Math.abs(r.output[ch]![i]! - r.input[ch]![i]!))
  t.ok(r.frames > 48000 * 4, `the sim board recorded ${(r.frames / 48000).toFixed(1)} s of PA output`)
  t.equal(diff, 0, 'the PA output is exactly the passthrough of its input throughout, Janus killed or not')

  // The offline render of the same profile from the same engine output.
  const bed = new Float32Array(r.frames)
  for (let i = 0; i < r.frames; i++) bed[i] = (r.input[0]![i]! + r.input[1]![i]!) / 2
  const mixRender = loadNative().mixRender as (p: unknown, outs: Float32Array[], bed: Float32Array) => { left: Float32Array }
  const ref = mixRender(nativeProfile(profile), [r.output[0]!.subarray(0, r.frames), r.output[1]!.subarray(0, r.frames)], bed).left
  // Eight windows of 250 ms, each located on its own in the render: a glitch (a frame the
  // streamer skipped on a starved machine, a jitter-buffer stretch) spoils one window, not the
  // comparison. The median window's correlation must clear the floor.
  const found = []
  for (let w = 0; w < 8; w++) found.push(locate(ref, heard.subarray(24000 + w * 12000, 36000 + w * 12000)))
  const corrs = found.map((f) => f.corr).sort((a, b) => a - b)
  const median = (corrs[3]! + corrs[4]!) / 2
  t.comment(
    `8 windows of what the browser heard, located in the render at ${found.map((f) => (f.offset / 48000).toFixed(3)).join(', ')} s; correlations ${corrs.map((c) => c.toFixed(3)).join(', ')}; page latency readout: ${latency}`,
  )
  t.ok(median > CORRELATION_FLOOR, `the received mix correlates with the offline render: median ${median.toFixed(3)} > ${CORRELATION_FLOOR}`)
})
