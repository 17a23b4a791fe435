import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SnippetStore } from '../../firmware/inference/snippets.ts'
import { createDeviceKey } from '../../firmware/secrets/secrets.ts'

const tone = (n: number) => Float32Array.from({ length: n }, (_, i) => 0.25 * Math.sin(i * 0.1))

t.test('without consent no audio is stored, read or sent', async (t) => {
  const dir = join(t.testdir({}), 'snippets')
  const s = new SnippetStore({ dir, consent: () => false, key: randomBytes(32) })
  t.throws(() => s.save(tone(1600), 16000), { code: 'FW_ERR_PRIVACY', message: /consent setting is off/ })
  t.notOk(existsSync(dir), 'not even the directory is created')
  t.throws(() => s.assertMaySend(), { code: 'FW_ERR_PRIVACY' })
})

t.test('with consent snippets are encrypted at rest and read back exactly', async (t) => {
  const dir = join(t.testdir({}), 'snippets')
  const s = new SnippetStore({ dir, consent: () => true, key: randomBytes(32) })
  const x = tone(16000)
  const info = s.save(x, 16000, 'low confidence')
  const files = readdirSync(dir)
  t.equal(files.length, 1)
  t.equal(statSync(join(dir, files[0]!)).mode & 0o777, 0o600, 'owner-only file')
  const raw = readFileSync(join(dir, files[0]!))
  const plain = Buffer.from(x.buffer)
  t.equal(raw.indexOf(plain.subarray(400, 432)), -1, 'the samples do not appear in the file')
  const back = s.load(info.id)
  t.same(Array.from(back.samples), Array.from(x), 'bit-exact round trip')
  t.equal(back.note, 'low confidence')
  t.doesNotThrow(() => s.assertMaySend())
})

t.test('tampering, renaming or another key is refused', async (t) => {
  const dir = join(t.testdir({}), 'snippets')
  const key = randomBytes(32)
  const s = new SnippetStore({ dir, consent: () => true, key })
  const a = s.save(tone(800), 16000)
  const file = join(dir, readdirSync(dir)[0]!)
  const raw = readFileSync(file)
  raw[raw.length - 5] = raw[raw.length - 5]! ^ 1
  writeFileSync(file, raw)
  t.throws(() => s.load(a.id), { code: 'FW_ERR_PRIVACY', message: /does not decrypt/ })
  const b = s.save(tone(800), 16000)
  const other = new SnippetStore({ dir, consent: () => true, key: randomBytes(32) })
  t.throws(() => other.load(b.id), { code: 'FW_ERR_PRIVACY' })
  // Pushing the expiry into the future by renaming breaks authentication.
  const f = readdirSync(dir).find((n) => n.includes(b.id))!
  renameSync(join(dir, f), join(dir, f.replace(/^\d+/, String(b.expiresAt + 1e9))))
  t.throws(() => s.load(b.id), { code: 'FW_ERR_PRIVACY', message: /does not decrypt/ })
})

t.test('snippets expire, and withdrawing consent deletes them', async (t) => {
  const dir = join(t.testdir({}), 'snippets')
  let now = 1_700_000_000_000
  let consent = true
  const s = new SnippetStore({ dir, consent: () => consent, key: randomBytes(32), ttlMs: 60_000, now: () => now })
  const a = s.save(tone(800), 16000)
  now += 30_000
  s.save(tone(800), 16000)
  now += 31_000
  t.throws(() => s.load(a.id), { code: 'FW_ERR_PRIVACY', message: /expired and was deleted/ })
  t.equal(s.list().length, 1)
  t.equal(s.purgeExpired(), 0)
  now += 60_000
  t.equal(s.purgeExpired(), 1, 'the purge needs no key and no consent')
  s.save(tone(800), 16000)
  consent = false
  t.throws(() => s.load(s.list()[0]!.id), { code: 'FW_ERR_PRIVACY' })
  t.equal(s.purgeAll(), 1)
  t.same(s.list(), [])
  consent = true
  t.throws(() => s.save(tone(16000 * 11), 16000), { code: 'FW_ERR_PRIVACY', message: /at most 10 s/ })
})

t.test('the default key is derived from the provisioned device key', async (t) => {
  const dataDir = t.testdir({})
  createDeviceKey(dataDir)
  const s = new SnippetStore({ dir: join(dataDir, 'snippets'), dataDir, consent: () => true })
  const id = s.save(tone(100), 16000).id
  t.equal(new SnippetStore({ dir: join(dataDir, 'snippets'), dataDir, consent: () => true }).load(id).samples.length, 100)
  t.throws(() => new SnippetStore({ dir: join(dataDir, 'x'), dataDir: join(dataDir, 'nokey'), consent: () => true }), { code: 'FW_ERR_NOT_PROVISIONED' })
})
