// The crew certificate from Chromium's own certificate store, not playwright's clientCertificates
// proxy: a test-only HOME with an NSS database (certutil, pk12util: libnss3-tools) holding the
// operator's PKCS#12 bundle, Chromium launched with that HOME, and the AutoSelectCertificateForUrls
// policy (read only from /etc/chromium/policies/managed/, written for this unit's port and removed
// after) so it presents the certificate without a dialog. Without the certificate in the store, no page.
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t from 'tap'
import { makeFixture } from '../api/helpers.ts'
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.ts'
import { bootUnit, ensurePage } from './helpers.ts'

await ensurePage()
const fx = await makeFixture(t.testdir())
const unit = await bootUnit(t, fx.dataDir)
const root = join(fx.dataDir, '..')

const policyDir = '/etc/chromium/policies/managed'
const policy = join(policyDir, `foh-nss-test-${process.pid}.json`)
mkdirSync(policyDir, { recursive: true })
writeFileSync(policy, JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: unit.origin, filter: {} })] }))
t.teardown(() => rmSync(policy, { force: true }))

/** A HOME whose NSS database holds `bundle` (or is empty); Chromium launched with it opens the page. */
async function pageWith(name: string, bundle: typeof fx.operator | null): Promise<{ ok: boolean; text: string }> {
  const home = join(root, `home-${name}`)
  const db = `sql:${join(home, '.pki', 'nssdb')}`
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true })
  execFileSync('certutil', ['-N', '--empty-password', '-d', db])
  if (bundle) execFileSync('pk12util', ['-i', bundle.p12File, '-d', db, '-W', bundle.p12Password], { stdio: 'pipe' })
  const ctx = await chromium.launchPersistentContext(join(home, 'profile'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
    ignoreHTTPSErrors: true,
    env: { ...process.env, HOME: home },
  })
  try {
    const page = await ctx.newPage()
    try {
      await page.goto(`${unit.origin}/`, { timeout: 10000 })
      await page.waitForSelector('[data-testid="output-1"]', { timeout: 15000 })
      return { ok: true, text: (await page.textContent('body')) ?? '' }
    } catch (e) {
      return { ok: false, text: String(e) }
    }
  } finally {
    await ctx.close()
  }
}

t.test("the page loads with the crew certificate from Chromium's NSS store, and not without it", async (t) => {
  const withCert = await pageWith('operator', fx.operator)
  t.ok(withCert.ok, `with the operator's certificate in the store: the page (${withCert.text.slice(0, 200)})`)
  t.match(withCert.text, /operator-1/, "the unit saw the operator's certificate (whoami)")
  const without = await pageWith('empty', null)
  t.notOk(without.ok, `an empty store: no page (${without.text.slice(0, 120)})`)
})
