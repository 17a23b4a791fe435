// The FOH page's figures, on the sim board with Debian's Chromium (playwright-core, the crew's
// PKCS#12 presented in a real mutual-TLS handshake, as in tests/foh/):
// - engine event to the page's DOM, p50/p99: a watchdog transition (manual bypass on/off: the
//   transition record's time on the unit to the moment the page's state badge changed, both clocks
//   this machine's), and a setting change (output gain) likewise to the output's text;
// - the page's weight on the wire (gzip) and its time to interactive (navigation start to the page
//   having read the unit and opened its event stream), cold, in a fresh browser context each time;
// - the audio thread's block time p99 with five pages open (each with its event stream and meters
//   at 10 Hz) against none, in alternating phases of one run; sampled from the engine's last-block
//   time once per new block seen (1 ms poll), so the two phases compare as a ratio.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { call, makeFixture } from '../api/helpers.ts'
import { bootUnit, contextFor, ensurePage, launch, sleep } from '../foh/helpers.ts'
import { type BenchRow, type BenchSection, fixed, percentile } from './lib.ts'

const nowMs = (): number => performance.timeOrigin + performance.now()
const PAGE_NOW = 'performance.timeOrigin + performance.now()'

const section: BenchSection = {
  name: 'foh page',
  async run(ctx) {
    await ensurePage()
    const root = join(ctx.tmp, 'foh')
    mkdirSync(root, { recursive: true })
    const teardowns: Array<() => unknown> = []
    const t = { teardown: (fn: () => unknown) => teardowns.push(fn) }
    try {
      return await measure(ctx, root, t)
    } finally {
      for (const fn of teardowns.reverse()) await fn()
    }
  },
}
export default section

async function measure(ctx: Parameters<BenchSection['run']>[0], root: string, t: { teardown(fn: () => unknown): void }): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const fx = await makeFixture(root)
  const unit = await bootUnit(t, fx.dataDir)
  const app = unit.running.app
  const browser = await launch(t)
  const openPage = async (bundle = fx.operator): Promise<{ page: Page; ms: number; close: () => Promise<void> }> => {
    const c = await contextFor(browser, unit.origin, bundle)
    const page = await c.newPage()
    const t0 = nowMs()
    await page.goto(`${unit.origin}/`)
    await page.waitForSelector('body[data-connected="yes"]', { timeout: 60000 })
    await page.waitForSelector('[data-testid="output-1"]', { timeout: 60000 })
    return { page, ms: nowMs() - t0, close: () => c.close() }
  }

  // --- weight and time to interactive -----------------------------------------------------------
  const creds = fx.creds(fx.operator)
  const index = await call(unit.api.port, creds, 'GET', '/')
  const js = /src="([^"]+)"/.exec(index.text)?.[1]
  const css = /href="([^"]+\.css)"/.exec(index.text)?.[1]
  let wire = 0
  let raw = 0
  if (!js || !css) throw new Error(`index.html names no JS or CSS: ${index.text.slice(0, 200)}`)
  for (const p of ['/', js, css]) {
    const z = await call(unit.api.port, creds, 'GET', p, undefined, { headers: { 'accept-encoding': 'gzip' } })
    wire += Number(z.headers['content-length'])
    const r = await call(unit.api.port, creds, 'GET', p)
    raw += Number(r.headers['content-length'])
  }
  rows.push({
    metric: 'page weight on the wire (HTML + JS + CSS, gzip)',
    value: fixed(wire / 1024, 1),
    unit: 'KiB',
    note: `${fixed(raw / 1024, 1)} KiB uncompressed`,
  })
  const tti: number[] = []
  for (let i = 0; i < (ctx.quick ? 3 : 7); i++) {
    const p = await openPage()
    tti.push(p.ms)
    await p.close()
  }
  tti.sort((a, b) => a - b)
  rows.push({
    metric: 'time to interactive, cold (fresh context)',
    value: `${fixed(percentile(tti, 50), 0)} / ${fixed(tti.at(-1)!, 0)}`,
    unit: 'ms',
    note: `median / worst of ${tti.length}; TLS handshake with the client certificate, page, state reads, event stream open`,
  })

  ctx.log(`time to interactive: ${tti.map((x) => x.toFixed(0)).join(' ')} ms`)
  // --- engine event to DOM ------------------------------------------------------------------------
  const { page, close } = await openPage()
  const seen: Array<{ text: string; at: number }> = []
  await page.exposeFunction('__benchSeen', (text: string, at: number) => seen.push({ text, at }))
  await page.evaluate(`(() => {
    const watch = (sel) => new MutationObserver(() => window.__benchSeen(sel + ' ' + document.querySelector(sel).textContent, ${PAGE_NOW}))
      .observe(document.querySelector(sel), { subtree: true, childList: true, characterData: true })
    watch('[data-testid="watchdog-state"]')
    watch('[data-testid="output-4"] h3')
  })()`)
  const transitions: number[] = []
  const unsubscribe = app.subscribe((ev) => {
    if (ev.type === 'transition') transitions.push(ev.record.at)
  })
  const waitSeen = async (re: RegExp, from: number): Promise<number> => {
    const end = Date.now() + 10000
    for (;;) {
      const hit = seen.slice(from).find((s) => re.test(s.text))
      if (hit) return hit.at
      if (Date.now() > end) throw new Error(`the page never showed ${re}`)
      await sleep(5)
    }
  }
  const bypassMs: number[] = []
  const n = ctx.quick ? 10 : 40
  for (let i = 0; i < n; i++) {
    for (const on of [true, false]) {
      const from = seen.length
      const k = transitions.length
      app.setManualBypass(on, 'bench')
      const at = await waitSeen(on ? /watchdog-state.*MANUAL BYPASS/ : /watchdog-state"\] (ACTIVE|DEGRADED)/, from)
      const rec = transitions[k]
      if (rec !== undefined) bypassMs.push(at - rec)
      await sleep(30)
    }
  }
  const gainMs: number[] = []
  for (let i = 0; i < n; i++) {
    const from = seen.length
    const db = -(i % 20) - 0.5
    const t0 = nowMs()
    app.setOutputGain(3, db, 'bench')
    const at = await waitSeen(new RegExp(`output-4.*gain ${db.toFixed(1)} dB`), from)
    gainMs.push(at - t0)
    await sleep(30)
  }
  unsubscribe()
  for (const [what, xs] of [
    ['bypass transition (unit record to page DOM)', bypassMs],
    ['setting change (setter call to page DOM)', gainMs],
  ] as const) {
    const s = [...xs].sort((a, b) => a - b)
    rows.push({
      metric: `engine event to DOM, ${what}`,
      value: `${fixed(percentile(s, 50), 1)} / ${fixed(percentile(s, 99), 1)}`,
      unit: 'ms',
      note: `p50 / p99 of ${s.length}`,
    })
  }
  const meterFrames = (await page.evaluate(
    `new Promise((r) => { let n = 0; const o = new MutationObserver(() => n++); o.observe(document.querySelector('.meters'), { subtree: true, attributes: true, characterData: true, childList: true }); setTimeout(() => { o.disconnect(); r(n) }, 2000) })`,
  )) as number
  rows.push({
    metric: 'meters: DOM updates on the page in 2 s',
    value: meterFrames,
    note: 'meters arrive at 10 Hz (metersHz=10); they carry no time, so their latency is bounded by the 100 ms period plus the figures above',
  })
  await close()

  ctx.log(`event to DOM: ${bypassMs.length} transitions, ${gainMs.length} changes`)
  // --- audio block time with five pages open against none ------------------------------------------
  const phaseMs = ctx.quick ? 4000 : 10000
  const sample = async (ms: number): Promise<number[]> => {
    const out: number[] = []
    let last = -1
    const end = performance.now() + ms
    while (performance.now() < end) {
      const c = app.engine.blockCounter()
      if (c !== last) {
        last = c
        out.push(app.engine.stats().blockTimeUs.last)
      }
      await sleep(1)
    }
    return out
  }
  const none: number[] = []
  const five: number[] = []
  for (let round = 0; round < 2; round++) {
    none.push(...(await sample(phaseMs)))
    const pages = [] as Array<{ close: () => Promise<void> }>
    for (const b of [fx.operator, fx.operator, fx.operator, fx.observer, fx.observer]) pages.push(await openPage(b))
    ctx.log(`round ${round + 1}: five pages open`)
    await sleep(500)
    five.push(...(await sample(phaseMs)))
    for (const p of pages) await p.close()
    await sleep(500)
  }
  none.sort((a, b) => a - b)
  five.sort((a, b) => a - b)
  const p99n = percentile(none, 99)
  const p99f = percentile(five, 99)
  rows.push({
    metric: 'audio block time p99, no page open',
    value: fixed(p99n, 0),
    unit: 'us',
    note: `${none.length} blocks sampled, p50 ${fixed(percentile(none, 50), 0)} us; block period ${fixed(app.engine.stats().blockPeriodUs, 0)} us`,
  })
  rows.push({
    metric: 'audio block time p99, five pages open',
    value: fixed(p99f, 0),
    unit: 'us',
    note: `${five.length} blocks sampled, p50 ${fixed(percentile(five, 50), 0)} us`,
  })
  rows.push({
    metric: 'audio block time p99 ratio, five pages / none',
    value: fixed(p99f / p99n, 2),
    unit: 'x',
    target: '~1 (nothing measurable)',
    note: 'alternating phases in one run; Chromium runs on the same 2 cores',
  })
  return rows
}
