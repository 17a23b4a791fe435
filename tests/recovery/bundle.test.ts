import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createBundle, verifyBundle } from '../../recovery/bundle.ts'
import { SlotManager } from '../../recovery/slots.ts'
import { makeBundle, makeFixture, makeImage } from './helpers.ts'

const quiet = { log: () => {} }

t.test('a good bundle verifies and installs to a slot, byte for byte', async (t) => {
  const f = makeFixture(t.testdir({}))
  const b = makeBundle(f, '1.0.0')
  const v = verifyBundle(b, { publicKeyPath: f.publicKey, board: 'sim', installedVersion: null })
  t.equal(v.header.manifest.version, '1.0.0')
  t.same(v.header.files.map((x) => x.path).sort(), ['behaviour', 'firmware.cjs', 'manifest.json', 'models/weights.bin'])
  const mgr = new SlotManager(f.cfg, quiet)
  t.same(mgr.install(b), { slot: 'a', version: '1.0.0', pending: false })
  const src = join(f.root, 'images', '1.0.0-healthy-sim')
  for (const name of ['firmware.cjs', 'models/weights.bin']) {
    t.ok(readFileSync(join(f.cfg.slots.a, name)).equals(readFileSync(join(src, name))), `${name} identical`)
  }
  t.equal(statSync(join(f.cfg.slots.a, 'firmware.cjs')).mode & 0o777, 0o755, 'modes carried')
})

// Each bad bundle is refused with its own code, and nothing is written: no slot directory, no state.
const bad: Array<[string, string, (f: ReturnType<typeof makeFixture>, path: string) => string]> = [
  [
    'a tampered file',
    'REC_ERR_BUNDLE_TAMPERED',
    (_f, p) => {
      const buf = readFileSync(p)
      buf[buf.length - 1000] = buf[buf.length - 1000]! ^ 0xff
      writeFileSync(p, buf)
      return p
    },
  ],
  [
    'a tampered header',
    'REC_ERR_BUNDLE_SIGNATURE',
    (_f, p) => {
      writeFileSync(p, readFileSync(p, 'latin1').replace('"version":"1.0.0"', '"version":"9.0.0"'), 'latin1')
      return p
    },
  ],
  [
    'data appended after the signed contents',
    'REC_ERR_BUNDLE_TAMPERED',
    (_f, p) => {
      appendFileSync(p, 'extra')
      return p
    },
  ],
  [
    'a truncated bundle',
    'REC_ERR_BUNDLE_TRUNCATED',
    (_f, p) => {
      truncateSync(p, statSync(p).size - 4096)
      return p
    },
  ],
  [
    'a bundle truncated inside its header',
    'REC_ERR_BUNDLE_TRUNCATED',
    (_f, p) => {
      truncateSync(p, 40)
      return p
    },
  ],
  [
    'an unsigned bundle',
    'REC_ERR_BUNDLE_UNSIGNED',
    (_f, p) => {
      // Rebuild without the signature: zero signature length, no signature bytes.
      const buf = readFileSync(p)
      const h = buf.readUInt32BE(8)
      const out = Buffer.concat([buf.subarray(0, 12 + h), Buffer.from([0, 0]), buf.subarray(14 + h + 64)])
      writeFileSync(p, out)
      return p
    },
  ],
  ['a bundle signed with another key', 'REC_ERR_BUNDLE_SIGNATURE', (f) => makeBundle(f, '1.0.1', { key: f.otherPrivateKey })],
  ['a bundle for another board', 'REC_ERR_BUNDLE_BOARD', (f) => makeBundle(f, '1.0.2', { board: 'jetson-agx-rack' })],
  [
    "a bundle whose version is not the one in its image's manifest.json",
    'REC_ERR_BUNDLE_FORMAT',
    (f) => {
      const out = join(f.root, 'mislabelled.sbundle')
      createBundle({ imageDir: makeImage(join(f.root, 'img-1.0.0'), '1.0.0'), board: 'sim', version: '1.0.3', privateKeyPath: f.privateKey, out })
      return out
    },
  ],
  [
    'something that is not a bundle',
    'REC_ERR_BUNDLE_FORMAT',
    (f) => {
      const p = join(f.root, 'x.tar')
      writeFileSync(p, 'ustar archive, not ours at all')
      return p
    },
  ],
]

for (const [what, code, spoil] of bad) {
  t.test(`${what} is refused (${code}) before a byte is written`, async (t) => {
    const f = makeFixture(t.testdir({}))
    const path = spoil(f, makeBundle(f, '1.0.0'))
    const mgr = new SlotManager(f.cfg, quiet)
    t.throws(() => mgr.install(path), { code })
    t.notOk(existsSync(f.cfg.slots.a), 'slot a untouched')
    t.notOk(existsSync(f.cfg.stateDir), 'no slot state written')
  })
}

t.test('a downgrade, or the same version again, is refused and the slots stay as they were', async (t) => {
  const f = makeFixture(t.testdir({}))
  const mgr = new SlotManager(f.cfg, quiet)
  mgr.install(makeBundle(f, '1.2.0'))
  const before = readFileSync(mgr.stateFile, 'utf8')
  t.throws(() => mgr.install(makeBundle(f, '1.1.9')), { code: 'REC_ERR_BUNDLE_DOWNGRADE', message: /1\.1\.9, not newer than the installed 1\.2\.0/ })
  t.throws(() => mgr.install(makeBundle(f, '1.2.0-rc.1')), { code: 'REC_ERR_BUNDLE_DOWNGRADE' })
  t.equal(readFileSync(mgr.stateFile, 'utf8'), before)
  t.notOk(existsSync(f.cfg.slots.b), 'inactive slot untouched')
  t.same(readdirSync(join(f.root, 'slots')), ['a'])
})

t.test('a missing or wrong-type key is a clear error', async (t) => {
  const f = makeFixture(t.testdir({}))
  const b = makeBundle(f, '1.0.0')
  t.throws(() => verifyBundle(b, { publicKeyPath: join(f.root, 'nope.pub'), board: 'sim', installedVersion: null }), { code: 'REC_ERR_KEY' })
  // provisioning makes no update key, so the message must say where the key comes from instead
  t.throws(() => verifyBundle(b, { publicKeyPath: join(f.root, 'nope.pub'), board: 'sim', installedVersion: null }), {
    message: /recovery bundle keygen --out-dir DIR/,
  })
  t.throws(() => verifyBundle(b, { publicKeyPath: b, board: 'sim', installedVersion: null }), { code: 'REC_ERR_KEY' })
})
