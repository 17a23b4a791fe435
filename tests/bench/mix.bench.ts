// Personal mixes (docs/mixes.md): the stream path with real parts (sim engine -> native streamer
// -> Debian's Janus -> headless Chromium), measured.
// - Glass-to-glass latency with a click track: output 0 is a loud tone gated by output-gain
//   commands (a 30 ms "click" every 600 ms, sent at a known wall-clock time: the sim board has no
//   way to inject a click at its ADC, so the gate stands in for it, one block late at most); the
//   listener page finds each click's onset in what it receives and adds the AudioContext's output
//   latency. p50/p99 over the clicks.
// - Listeners per Janus: N tabs watch one mountpoint; Janus's CPU per listener and whether every
//   tab kept receiving; the 5,000-listener venue is on paper in docs/mixes.md.
// - The unit's CPU per published profile: the streamer thread's own CPU time (render + Opus +
//   send) per second of audio, for 1, 4 and 8 profiles.
import { mkdtempSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { Engine } from '../../firmware/engine/engine.ts'
import { validateProfile } from '../../firmware/mix/profile.ts'
import { MixStreams } from '../../firmware/mix/streams.ts'
import { CHROMIUM } from '../helpers/chromium.ts'
import { CHROMIUM_ARGS, freeUdpPort, servePage, startJanus } from '../mix/janus.ts'
import { type BenchRow, type BenchSection, fixed, percentile } from './lib.ts'

function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** In the page: onsets (wall-clock ms, output side) of clicks in the playing mix for `seconds`. */
const ONSETS_IN_PAGE = `async (seconds) => {
  const stream = document.getElementById('out').srcObject
  const ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' })
  await ctx.resume()
  const src = ctx.createMediaStreamSource(stream)
  const proc = ctx.createScriptProcessor(256, 1, 1)
  const onsets = []
  let quietFor = 0
  await new Promise((done) => {
    const end = performance.now() + seconds * 1000
    proc.onaudioprocess = (e) => {
      const now = performance.timeOrigin + performance.now()
      const x = e.inputBuffer.getChannelData(0)
      for (let i = 0; i < x.length; i++) {
        const a = Math.abs(x[i])
        if (a > 0.05 && quietFor > 4800) onsets.push(now - ((x.length - i) / 48000) * 1000 + (ctx.baseLatency + (ctx.outputLatency || 0)) * 1000)
        quietFor = a > 0.05 ? 0 : quietFor + 1
      }
      if (performance.now() > end) done()
    }
    src.connect(proc)
    proc.connect(ctx.destination)
  })
  src.disconnect(); proc.disconnect(); await ctx.close()
  return onsets
}`

const section: BenchSection = {
  name: 'personal mixes',
  async run(ctx) {
    const rows: BenchRow[] = []
    const dir = mkdtempSync(join(ctx.tmp, 'mix-'))
    const engine = new Engine({
      backend: 'sim',
      inputs: 2,
      outputs: 2,
      sim: { sources: [{ azimuth: 0, kind: 'tone', freqHz: 1000, levelDb: -6 }], noiseDb: -90 },
    })
    const profile = validateProfile({ name: 'click', sources: [{ output: 0, gainDb: 0 }], bedDb: -60 })
    const rtpPort = await freeUdpPort()
    const janus = await startJanus(dir, [{ id: 1, name: 'click', description: 'click track', rtpPort }])
    const site = await servePage()
    const browser = await chromium.launchPersistentContext(mkdtempSync(join(ctx.tmp, 'chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    })
    engine.start()
    engine.setOutputGain(0, -120)
    const streams = new MixStreams(engine.mixPort(), 20)
    try {
      streams.publish(profile, { host: '127.0.0.1', port: rtpPort, bitrate: 96000 })
      const open = async () => {
        const page = await browser.newPage()
        await page.goto(`${site.url}/index.html?janus=${encodeURIComponent(janus.url)}`)
        await page.waitForFunction("!document.getElementById('play').disabled", null, { timeout: 30_000 })
        await page.getByRole('button', { name: 'Play' }).click()
        await page.waitForFunction("document.getElementById('status').textContent === 'playing'", null, { timeout: 30_000 })
        return page
      }
      // Glass to glass.
      ctx.log('personal mixes: glass-to-glass clicks')
      const page = await open()
      await sleep(1500)
      const clicks = ctx.quick ? 12 : 40
      const sent: number[] = []
      const heard = page.evaluate(`(${ONSETS_IN_PAGE})(${(clicks * 600 + 1500) / 1000})`) as Promise<number[]>
      await sleep(300)
      for (let i = 0; i < clicks; i++) {
        sent.push(Date.now())
        engine.setOutputGain(0, 0)
        await sleep(30)
        engine.setOutputGain(0, -120)
        await sleep(570)
      }
      const onsets = await heard
      const lat: number[] = []
      for (const s of sent) {
        const o = onsets.find((x) => x > s && x < s + 580)
        if (o !== undefined) lat.push(o - s)
      }
      lat.sort((a, b) => a - b)
      rows.push({
        metric: 'glass-to-glass latency p50',
        value: fixed(percentile(lat, 50), 1),
        unit: 'ms',
        note: `${lat.length}/${clicks} clicks found; 20 ms Opus frames`,
      })
      rows.push({
        metric: 'glass-to-glass latency p99',
        value: fixed(percentile(lat, 99), 1),
        unit: 'ms',
        note: 'gate command sent -> browser output (incl. outputLatency)',
      })
      const latencyText = await page.locator('#latency').innerText()
      rows.push({ metric: 'page latency readout', value: latencyText, note: 'what the listener sees' })
      // Listeners per Janus.
      engine.setOutputGain(0, 0)
      const counts = ctx.quick ? [1, 4] : [1, 4, 8]
      const pages = [page]
      for (const n of counts) {
        try {
          while (pages.length < n) pages.push(await open())
        } catch (e) {
          rows.push({
            metric: `listener tab ${pages.length + 1}`,
            value: 'did not start',
            note: String((e as Error).message)
              .split('\n')[0]!
              .slice(0, 80),
          })
          break
        }
        ctx.log(`personal mixes: ${n} listeners`)
        await sleep(1000)
        const c0 = procCpuS(janus.proc.pid!)
        const t0 = performance.now()
        await sleep(ctx.quick ? 3000 : 6000)
        const cpu = (100 * (procCpuS(janus.proc.pid!) - c0)) / ((performance.now() - t0) / 1000)
        const playing = await Promise.all(pages.map((p) => p.locator('#status').innerText()))
        rows.push({
          metric: `Janus CPU with ${n} listener${n > 1 ? 's' : ''}`,
          value: fixed(cpu, 1),
          unit: '%',
          note: `${playing.filter((s) => s === 'playing').length}/${n} tabs playing; ${fixed(cpu / n, 2)} % per listener`,
        })
      }
      for (const p of pages) await p.close()
      // CPU per profile.
      for (const n of ctx.quick ? [1, 4] : [1, 4, 8]) {
        const names = Array.from({ length: n }, (_, i) => `p${i}`)
        for (const [i, name] of names.entries()) {
          streams.publish(
            validateProfile({
              name,
              sources: [
                { output: 0, gainDb: -3 },
                { output: 1, gainDb: -6, pan: 0.5 },
              ],
              bedDb: -12,
              compressor: {},
            }),
            {
              host: '127.0.0.1',
              port: rtpPort + 1 + i,
              bitrate: 96000,
            },
          )
        }
        for (const old of streams.published()) if (!names.includes(old.name)) streams.unpublish(old.name)
        await sleep(500)
        const a = streams.stats()!
        const t0 = performance.now()
        await sleep(ctx.quick ? 2000 : 5000)
        const b = streams.stats()!
        const secs = (performance.now() - t0) / 1000
        const cpuUs = b.streams.reduce((s, x) => s + x.cpuUs, 0) - a.streams.reduce((s, x) => s + x.cpuUs, 0)
        rows.push({
          metric: `unit CPU, ${n} published profile${n > 1 ? 's' : ''}`,
          value: fixed(cpuUs / 1e4 / secs, 2),
          unit: '%',
          note: `${fixed(cpuUs / 1e4 / secs / n, 2)} % of one core per profile (render + Opus + send); tap drops ${b.tapDrops}`,
        })
      }
    } finally {
      streams.stop()
      engine.stop()
      await browser.close()
      site.server.close()
      await janus.stop()
    }
    return rows
  },
}

export default section
