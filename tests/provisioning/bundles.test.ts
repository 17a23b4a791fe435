// Issue 10, item 8: the crew's private keys never stay on the unit in plaintext. Bundles are handed
// out once — to a directory the operator names (--out), or held sealed on the unit until `export`
// writes them out and removes them — and the handed-out key works with a real TLS client (curl).

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { bootSim } from '../api/helpers.ts'
import { curl } from '../helpers/curl.ts'

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['provisioning/cli.ts', ...args], { encoding: 'utf8' })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []))
}

/** Files under `dir` that hold a plaintext private key. */
function plaintextKeys(dir: string): string[] {
  return files(dir).filter((f) => /PRIVATE KEY/.test(readFileSync(f).toString('latin1')))
}

t.test('init --out DIR writes the bundles there only: no plaintext key stays in the data directory', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  const usb = join(root, 'usb')
  const r = cli('init', '--data-dir', dir, '--out', usb)
  t.equal(r.code, 0, r.err)
  t.same(plaintextKeys(dir), [], 'no plaintext private key anywhere under the data directory')
  const bundles = readdirSync(usb).sort()
  t.match(bundles, [/^observer-1-[0-9A-F]+$/, /^operator-1-[0-9A-F]+$/])
  const op = join(usb, bundles[1]!)
  t.same(readdirSync(op).sort(), ['ca.crt', 'operator-1.crt', 'operator-1.key', 'operator-1.p12'])
  t.equal(statSync(join(op, 'operator-1.key')).mode & 0o777, 0o600)
  t.match(r.out, /written to .*usb only/)
  const inside = cli('issue', '--data-dir', dir, '--name', 'x', '--role', 'observer', '--out', join(dir, 'bundles', 'x'))
  t.equal(inside.code, 1, 'a bundle directory inside the data directory is refused')
  t.match(inside.err, /inside the data directory.*FW_ERR_USAGE/)
  t.notMatch(cli('list', '--data-dir', dir).out, /\bx$/m, 'and nothing was issued')
})

t.test('without --out a bundle is held sealed, handed out once by export, then gone from the unit', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  const r = cli('init', '--data-dir', dir)
  t.equal(r.code, 0, r.err)
  t.same(plaintextKeys(dir), [], "the held bundles' keys are sealed")
  t.match(r.out, /held on the unit with its key sealed; hand it out once with/)
  const held = readdirSync(join(dir, 'bundles')).find((d) => d.startsWith('operator-1-'))!
  t.ok(existsSync(join(dir, 'bundles', held, 'operator-1.key.sealed')))
  const usb = join(root, 'usb')
  const ex = cli('export', '--data-dir', dir, '--name', 'operator-1', '--out', usb)
  t.equal(ex.code, 0, ex.err)
  t.match(ex.out, /handed out \(removed from the unit\)/)
  const password = /one-time password: (\S+)/.exec(ex.out)![1]!
  t.notOk(existsSync(join(dir, 'bundles', held)), 'the held bundle is removed from the unit')
  t.same(plaintextKeys(dir), [])
  const b = join(usb, held)
  const p12 = spawnSync('openssl', ['pkcs12', '-in', join(b, 'operator-1.p12'), '-passin', `pass:${password}`, '-nokeys'], { encoding: 'utf8' })
  t.equal(p12.status, 0, `the PKCS#12 opens with the printed password: ${p12.stderr}`)
  const again = cli('export', '--data-dir', dir, '--name', 'operator-1', '--out', join(root, 'usb2'))
  t.equal(again.code, 1, 'a second export finds nothing')
  t.match(again.err, /already handed out\?.*FW_ERR_USAGE/)
  // The handed-out key is the real one: curl reaches the unit with it.
  const { api } = await bootSim(t, dir)
  const c = await curl([
    '--cacert',
    join(b, 'ca.crt'),
    '--cert',
    join(b, 'operator-1.crt'),
    '--key',
    join(b, 'operator-1.key'),
    `https://127.0.0.1:${api.port}/api/whoami`,
  ])
  t.equal(c.code, 0, c.err)
  t.match(c.out, /"cn":"operator-1"/)
})

t.test("revoking a held bundle's certificate removes the bundle from the unit", async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  t.equal(cli('init', '--data-dir', dir).code, 0)
  t.ok(readdirSync(join(dir, 'bundles')).some((d) => d.startsWith('observer-1-')))
  t.equal(cli('revoke', '--data-dir', dir, '--name', 'observer-1').code, 0)
  t.notOk(readdirSync(join(dir, 'bundles')).some((d) => d.startsWith('observer-1-')))
})
