// The FOH page in Debian's Chromium against the real unit (sim board): served only to a valid crew
// certificate over the unit's TLS listener; an observer's page has no working control; accepting a
// recommendation moves the output EQ, and the change reaches the page and a serial console (real
// PTY) as events; the front panel's button shows on the page; a dropped stream catches up; axe-core
// finds nothing serious; screenshots at phone, tablet and laptop sizes.
//   FOH_SCREENSHOTS=docs writes the screenshots to docs/foh/ (otherwise to the test's temp dir).
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { runningImage } from '../../firmware/self.ts'
import { MarkLog } from '../../firmware/store/marks.ts'
import { call, makeFixture } from '../api/helpers.ts'
import { startRig, stopRig } from '../console/harness.ts'
import { bootUnit, contextFor, ensurePage, launch, sleep } from './helpers.ts'

await ensurePage()
const fx = await makeFixture(t.testdir())
// Recovery started this firmware from slot b, a fresh update on trial (boot 1 of 3); slot a holds
// 1.4.2 (its slots.json, which `update status` reads, as the page does once on load).
const recoveryState = join(dirname(fx.dataDir), 'recovery')
mkdirSync(recoveryState, { recursive: true })
function writeSlots(b: string): void {
  const slot = (state: string, version: string, boots: number) => ({ state, version, installedAt: 1, boots, bootStartedAt: 1, note: '' })
  const slots = { a: slot('good', '1.4.2', 0), b: slot(b, '9.9.9', 1) }
  writeFileSync(join(recoveryState, 'slots.json'), JSON.stringify({ format: 'stage-slots/1', active: 'b', previous: 'a', slots, history: [] }))
}
writeSlots('pending')
const savedEnv = { STAGE_SLOT: process.env.STAGE_SLOT, STAGE_RECOVERY_STATE: process.env.STAGE_RECOVERY_STATE }
process.env.STAGE_SLOT = 'b'
process.env.STAGE_RECOVERY_STATE = recoveryState
t.teardown(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})
const unit = await bootUnit(t, fx.dataDir)
const browser = await launch(t)
const { origin, running } = unit
const app = running.app
const errors: string[] = []

type Teardown = { teardown(fn: () => unknown): void }

/** A page in a fresh context holding `bundle`; closed with the subtest (it frees its event stream). */
async function open(t: Teardown, bundle: typeof fx.operator | null, viewport?: { width: number; height: number }): Promise<Page> {
  const ctx = await contextFor(browser, origin, bundle, viewport)
  t.teardown(() => ctx.close())
  const page = await ctx.newPage()
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  page.on('pageerror', (e) => errors.push(e.message))
  return page
}

let shared: Page | null = null
/** One operator page for the tests that act (each page holds one of the certificate's few event streams). */
async function operatorPage(): Promise<Page> {
  shared ??= await openReady(t, fx.operator)
  return shared
}

async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** Opens the page and waits until it has read the unit and its event stream is open. */
async function openReady(t: Teardown, bundle: typeof fx.operator, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await open(t, bundle, viewport)
  await page.goto(`${origin}/`)
  await page.waitForSelector('body[data-connected="yes"]', { timeout: 15000 })
  await page.waitForSelector('[data-testid="output-1"]', { timeout: 15000 })
  return page
}

t.test('the page is served only to a valid crew certificate, with a strict CSP and long caching', async (t) => {
  const none = await open(t, null)
  await t.rejects(none.goto(`${origin}/`, { timeout: 10000 }), 'no certificate: the browser gets no page')
  await t.rejects(call(unit.api.port, fx.creds(fx.foreign), 'GET', '/'), "another unit's certificate: no page (the handshake fails)")
  const revoked = await call(unit.api.port, fx.creds(fx.revoked), 'GET', '/').catch(() => null)
  t.ok(revoked === null || revoked.status === 401, `a revoked certificate: no page (${revoked?.status ?? 'refused'})`)
  const op = fx.creds(fx.operator)
  const index = await call(unit.api.port, op, 'GET', '/', undefined, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(index.status, 200)
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['cache-control'], 'no-cache', 'index.html is revalidated')
  t.match(index.headers['content-security-policy'], /script-src 'self';/)
  t.notMatch(index.headers['content-security-policy'], /unsafe-inline|unsafe-eval/)
  const page = await operatorPage()
  const js = await page.locator('script[src]').getAttribute('src')
  const asset = await call(unit.api.port, op, 'GET', js!)
  t.equal(asset.status, 200)
  t.match(asset.headers['content-type'], /^text\/javascript/)
  t.match(asset.headers['cache-control'], /immutable/, 'hashed assets are cached for good')
  const again = await call(unit.api.port, op, 'GET', js!, undefined, { headers: { 'if-none-match': String(asset.headers.etag) } })
  t.equal(again.status, 304, 'revalidation costs no body')
  const missing = await call(unit.api.port, op, 'GET', '/foh/nope.js')
  t.equal(missing.json.code, 'FW_ERR_API_NOT_FOUND')
  const post = await call(unit.api.port, op, 'POST', '/', {})
  t.equal(post.json.code, 'FW_ERR_API_METHOD', 'the page is read-only')
  t.same(
    errors.filter((e) => /Content Security Policy|Refused/.test(e)),
    [],
    'no CSP violation on the page',
  )
})

t.test('an observer sees the page with every control disabled, and the unit refuses its actions', async (t) => {
  const page = await openReady(t, fx.observer)
  await page.waitForSelector('text=Observer certificate: view only.')
  // (Browser-side code as text: the tests are typed without the DOM library.)
  const enabled = (await page.evaluate(`[...document.querySelectorAll('button, input, select, [role="slider"]')]
    .filter((e) => !e.disabled && !e.closest('fieldset:disabled') && e.getAttribute('aria-disabled') !== 'true')
    .map((e) => e.outerHTML.slice(0, 80))`)) as string[]
  t.same(enabled, [], 'no enabled control')
  // (The state itself may move ACTIVE <-> DEGRADED on a loaded machine: the manual bypasses count.)
  const manual = () => app.faults(1000).filter((f) => f.to === 'MANUAL_BYPASS').length
  const before = manual()
  const r = (await page.evaluate(`fetch('/api/bypass', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"state":true}' })
    .then(async (res) => ({ status: res.status, body: await res.json() }))`)) as { status: number; body: { code: string } }
  t.equal(r.status, 403)
  t.equal(r.body.code, 'FW_ERR_API_FORBIDDEN')
  t.equal(manual(), before, 'nothing changed: no manual bypass')
  t.not(app.status().state, 'MANUAL_BYPASS')
})

t.test("the page shows the running image's slot, whether it is on trial, and the other slot", async (t) => {
  const version = runningImage().version
  const page = await operatorPage()
  const shown = page.locator('[data-testid="update"]')
  t.equal((await shown.textContent())?.trim(), `B: ${version} (on trial, boot 1); slot A: 1.4.2 (good)`)
  // Recovery confirms it: what the page reads on its next load says so; an observer may read it, not POST it.
  writeSlots('good')
  const observer = fx.creds(fx.observer)
  const r = await call(unit.api.port, observer, 'GET', '/api/update/status')
  t.match(r.json.value, { version, slot: 'b', slotState: 'good', pending: false, other: { slot: 'a', version: '1.4.2', state: 'good' } })
  const post = await call(unit.api.port, observer, 'POST', '/api/update/status', {})
  t.equal(post.json.code, 'FW_ERR_API_METHOD', 'read-only: no POST')
})

t.test('accepting a recommendation changes the output EQ; the change arrives on the page and on the console', async (t) => {
  const con = await startRig(app, t.testdir(), { mode: 'machine', registry: unit.registry })
  t.teardown(() => stopRig(con))
  t.match(await con.ask('subscribe'), /^OK subscribe /)
  const page = await operatorPage()
  const automation = unit.inference.automation
  await until(() => app.status().state === 'ACTIVE' && automation.state.enabled, 'ACTIVE with automation enabled')
  const before = app.outputSettings()[1]!.eq[3]!.gainDb
  const effects = automation.recommend({
    output: 1,
    deltaDb: automation.bandsHz.map((_, i) => (i === 3 ? -4 : 0)),
    confidence: 0.97,
    model: 'eq-recommender-test',
  })
  const published = effects.find((e) => e.type === 'publish') as { rec: { id: number }; action: string } | undefined
  t.equal(published?.action, 'awaiting-operator', 'the recommendation waits for the operator')
  const id = published!.rec.id
  await page.click(`[data-testid="accept-${id}"]`, { timeout: 10000 })
  // The page shows output 2's band 4 at the new gain, from the change events.
  await page.locator('[data-testid="bands-2"]', { hasText: /4: 500 -4\.0/ }).waitFor({ timeout: 10000 })
  t.not(app.outputSettings()[1]!.eq[3]!.gainDb, before, 'the engine EQ moved')
  t.equal(app.outputSettings()[1]!.eq[3]!.gainDb, -4)
  const end = Date.now() + 8000
  let line = ''
  while (Date.now() < end && !/^EV change what=eq output=2 band=4 .*value\.gainDb=-4 /.test(line))
    line = await con.client.nextLine(end - Date.now()).catch(() => '')
  t.match(
    line,
    /^EV change what=eq output=2 band=4 .*value\.gainDb=-4 .*who="api:CN=operator-1,serial=/,
    'the console heard the same change, made by the operator who accepted it on the page',
  )
  t.match(await page.textContent(`[data-testid="rec-${id}"]`), /accepted/)
})

t.test('a bypass from the front-panel button appears on the page', async (t) => {
  const page = await operatorPage()
  running.simPanel!.control('click')
  await page.locator('[data-testid="watchdog-state"]', { hasText: /BYPASS/ }).waitFor({ timeout: 10000 })
  t.match(await page.textContent('[data-testid="watchdog-state"]'), /MANUAL BYPASS/)
  t.match(await page.textContent('[data-testid="transitions"]'), /MANUAL_BYPASS/)
  // Released from the page, with its confirmation.
  await page.click('[data-testid="bypass"]')
  await page.click('[data-testid="bypass-confirm"]')
  await page.locator('[data-testid="watchdog-state"]', { hasNotText: /BYPASS/ }).waitFor({ timeout: 15000 })
  t.notMatch(app.status().state, /MANUAL_BYPASS/)
})

t.test('a dropped connection shows a banner, and the page catches up on what it missed', async (t) => {
  const page = await operatorPage()
  // The API worker dies; the supervisor brings it back on the same port after its backoff.
  unit.api.testHooks!.crash()
  await page.waitForSelector('text=Connection lost - reconnecting', { timeout: 10000 })
  // A change made while the page is away (from the console side of the registry).
  app.setOutputGain(2, -9.5, 'test')
  await page.waitForSelector('body[data-connected="yes"]', { timeout: 20000 })
  await page.locator('[data-testid="output-3"]', { hasText: /gain -9\.5 dB/ }).waitFor({ timeout: 10000 })
  t.equal(await page.$('text=Connection lost - reconnecting'), null, 'the banner is gone')
})

/** Touch targets of at least 44 px, and nothing wider than the screen. */
async function checkSizes(t: Test, page: Page, name: string): Promise<void> {
  const small = (await page.evaluate(`[...document.querySelectorAll('button, .seg, [role="slider"]')]
    .map((e) => e.getBoundingClientRect())
    .filter((b) => b.width > 0 && (b.width < 44 || b.height < 44))
    .map((b) => Math.round(b.width) + 'x' + Math.round(b.height))`)) as string[]
  t.same(small, [], `${name}: every touch target is at least 44 px`)
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number
  t.ok(overflow <= 0, `${name}: nothing wider than the screen (${overflow} px over)`)
}

/** With FOH_SCREENSHOTS=docs: the whole page and the first screen, into docs/foh/. */
async function shoot(page: Page, name: string): Promise<void> {
  if (process.env.FOH_SCREENSHOTS !== 'docs') return
  const out = resolve(import.meta.dirname, '..', '..', 'docs', 'foh')
  mkdirSync(out, { recursive: true })
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true })
  await page.screenshot({ path: join(out, `${name}-screen.png`) })
}

t.test('axe-core finds no serious or critical issue; screenshots at phone, tablet and laptop sizes', async (t) => {
  const automation = unit.inference.automation
  automation.recommend({
    output: 0,
    deltaDb: automation.bandsHz.map((_, i) => (i === 5 ? 2.5 : i === 2 ? -1.5 : 0)),
    confidence: 0.88,
    model: 'eq-recommender-test',
  })
  const page = await operatorPage()
  // A little room history (as live inference publishes it), so the Room card is checked and shown with content.
  const report = (r: Parameters<NonNullable<typeof app.publish>>[0] & { type: 'inference' }) => app.publish?.(r)
  for (const [label, confidence] of [
    ['speech', 0.82],
    ['music', 0.9],
  ] as const)
    report({ type: 'inference', report: { kind: 'class', label, confidence, t: 0 } })
  report({ type: 'inference', report: { kind: 'vad', start: 0, end: 2.4 } })
  report({ type: 'inference', report: { kind: 'howl', output: 0, hz: 3150, levelDb: -18, growthDbPerS: 24, reason: 'growing', t: 3 } })
  report({ type: 'inference', report: { kind: 'notches', output: 0, notches: [{ hz: 3150, gainDb: -6, q: 30 }] } })
  await page.locator('[data-testid="notches-1"]').waitFor({ timeout: 10000 })
  await page.waitForSelector('.meter', { timeout: 10000 })
  await page.evaluate(readFileSync(resolve(import.meta.dirname, '..', '..', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8'))
  for (const [name, vp] of [
    ['phone', { width: 390, height: 844 }],
    ['tablet', { width: 820, height: 1180 }],
    ['laptop', { width: 1440, height: 900 }],
  ] as const) {
    await page.setViewportSize(vp)
    await sleep(200)
    await checkSizes(t, page, name)
    await shoot(page, name)
    // axe-core once, at the phone's size (its findings hardly depend on the width; it is slow).
    if (name !== 'phone') continue
    const found = (await page.evaluate(`axe.run().then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, nodes: v.nodes.length,
      where: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ': ' + (n.failureSummary ?? '')),
    })))`)) as Array<{ id: string; impact: string; nodes: number; where: string[] }>
    t.same(
      found.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
      [],
      `${name}: no serious or critical accessibility finding (${found.map((v) => `${v.id}/${v.impact}`).join(', ') || 'none at all'})`,
    )
  }
})

t.test('marking a moment: kept durably by the unit under the certificate that made it, exported by mark list', async (t) => {
  const page = await operatorPage()
  await page.click('[data-testid="mark-feedback"]')
  await page.locator('[data-testid="marks"]', { hasText: /feedback/ }).waitFor({ timeout: 10000 })
  const op = fx.creds(fx.operator)
  const list = await call(unit.api.port, op, 'GET', '/api/mark/list')
  const mine = (list.json.value as Array<{ kind: string; who: string; context: { state: string } }>).at(-1)!
  t.equal(mine.kind, 'feedback')
  t.match(mine.who, /^api:CN=operator-1,serial=/, 'attributed to the client certificate')
  t.ok(mine.context.state, 'with what the unit was doing')
  // On disk before the reply (0600), and read back by a fresh log as after a restart.
  const file = join(fx.dataDir, 'marks.jsonl')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(new MarkLog(fx.dataDir).list().at(-1)?.who, mine.who)
  // Nobody deletes a mark: there is no such resource, and an observer cannot add one.
  t.equal((await call(unit.api.port, op, 'POST', '/api/mark/delete', {})).status, 404)
  const obs = await call(unit.api.port, fx.creds(fx.observer), 'POST', '/api/mark/add', { kind: 'wrong' })
  t.equal(obs.json.code, 'FW_ERR_API_FORBIDDEN')
})

t.test('steering a beam from the keyboard and switching the automation mode go through the commands', async (t) => {
  const page = await operatorPage()
  const before = app.beams()[0]!.azimuth
  await page.focus('[aria-label="Beam 1 direction"]')
  await page.keyboard.press('ArrowLeft')
  const end = Date.now() + 5000
  while (Date.now() < end && Math.abs(app.beams()[0]!.azimuth - ((before + 5) % 360)) > 0.5) await sleep(20)
  t.ok(Math.abs(app.beams()[0]!.azimuth - ((before + 5) % 360)) <= 0.5, `beam 1 moved 5° counter-clockwise (${before} -> ${app.beams()[0]!.azimuth})`)
  t.notOk(app.beams()[0]!.auto, 'a steered beam stops following the DOA')
  await page.click('label.seg:has-text("auto")')
  await page.locator('[data-testid="mode"]', { hasText: 'auto' }).waitFor({ timeout: 10000 })
  t.equal(unit.inference.automation.mode, 'auto')
})

t.test('a class event and a howl reach the page; the notch the suppressor places is drawn on that output', async (t) => {
  const page = await operatorPage()
  // The crowd state comes from the classifier (no models run in this rig): published on the unit's event path.
  app.publish?.({ type: 'inference', report: { kind: 'class', label: 'applause', confidence: 0.91, t: 1 } })
  await page.locator('[data-testid="crowd-state"]', { hasText: 'applause' }).waitFor({ timeout: 10000 })
  t.match(await page.locator('[data-testid="timeline"]').getAttribute('aria-label'), /applause/, 'the timeline shows it')
  // A 2 kHz line growing 30 dB/s on output 2, as the engine's feature tap publishes it, into live inference:
  // the suppressor (auto) gets the alarm and places a notch.
  const feedback = unit.inference.feedback
  feedback.setMode('auto')
  t.teardown(() => {
    feedback.rollback('test')
    feedback.setMode('advisory')
  })
  for (let k = 0; k < 40; k++) {
    const tt = k * 0.0213
    unit.inference.live.feed({
      logMel: new Float32Array(0),
      logMelT: -1,
      vad: new Float32Array(0),
      vadT: -1,
      spectra: [],
      dropped: 0,
      howl: [
        { output: 1, t: tt, candidates: Float32Array.from([2000 + 0.2 * Math.sin(k), -30 + 30 * tt, 30, 24, 30, 30, 1, 12 + k, 0.99, 1.5, 0, -1, 0, 0, 0, 0]) },
      ],
    })
  }
  const howls = page.locator('[data-testid="howls"]')
  await howls.locator('text=2000 Hz').waitFor({ timeout: 10000 })
  t.match(await howls.textContent(), /out 2: 2000 Hz -\d+ dBFS \+\d+\.\d dB\/s growing/, 'output, frequency, level, growth and reason')
  const placed = feedback.notches().filter((n) => n.output === 1)
  t.equal(placed.length, 1, 'the suppressor placed one notch on output 2')
  const shown = page.locator('[data-testid="notches-2"]')
  await shown.waitFor({ timeout: 10000 })
  t.match(await shown.textContent(), new RegExp(`2k ${placed[0]!.gainDb.toFixed(1)} Q ${placed[0]!.q}`), 'the notch in place, under the EQ curve of output 2')
  // Rolled back: the page hears the output is flat again.
  feedback.rollback('test')
  await shown.waitFor({ state: 'detached', timeout: 10000 })
  t.pass('the notch list goes when the notches are rolled back')
})

t.test('dragging a beam with the pointer steers it', async (t) => {
  const page = await operatorPage()
  const svg = (await page.locator('svg.array').boundingBox())!
  const handle = (await page.locator('[aria-label="Beam 1 direction"]').boundingBox())!
  // Straight up from the centre of the array: 90°.
  const target = { x: svg.x + svg.width / 2, y: svg.y + svg.height * 0.15 }
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2)
  await page.mouse.down()
  await page.mouse.move((handle.x + target.x) / 2, (handle.y + target.y) / 2, { steps: 4 })
  await page.mouse.move(target.x, target.y, { steps: 4 })
  await page.mouse.up()
  const end = Date.now() + 5000
  while (Date.now() < end && Math.abs(app.beams()[0]!.azimuth - 90) > 2) await sleep(20)
  t.ok(Math.abs(app.beams()[0]!.azimuth - 90) <= 2, `beam 1 points at 90° (${app.beams()[0]!.azimuth})`)
})

t.test('a preset saved from the page is recalled from the page', async (t) => {
  const page = await operatorPage()
  const gain = app.outputSettings()[0]!.gainDb
  await page.fill('input[pattern]', 'foh-test')
  await page.click('button:has-text("Save")')
  const row = page.locator('.presets li', { hasText: 'foh-test' })
  await row.waitFor({ timeout: 10000 })
  app.setOutputGain(0, gain - 6, 'test')
  await row.locator('button:has-text("Recall")').click()
  const end = Date.now() + 5000
  while (Date.now() < end && Math.abs(app.outputSettings()[0]!.gainDb - gain) > 0.01) await sleep(20)
  t.equal(app.outputSettings()[0]!.gainDb, gain, 'output 1 gain is back to what the preset holds')
})
