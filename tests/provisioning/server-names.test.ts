// Issue 10, item 7: the server certificate verifies by the unit's address. Real curl, no -k, against
// 127.0.0.1 and another address of this machine; then `server-cert` reissues the server certificate
// for a new address while the API runs, and the CA and the crew's certificates stay as they were.

import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { identityPaths } from '../../firmware/secrets/identity.ts'
import { bootSim } from '../api/helpers.ts'
import { curl } from '../helpers/curl.ts'

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['provisioning/cli.ts', ...args], { encoding: 'utf8' })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function otherAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return null
}

const hostUrl = (addr: string, port: number): string => `https://${addr.includes(':') ? `[${addr}]` : addr}:${port}/api/whoami`

t.test('curl verifies the unit by 127.0.0.1 and by its other addresses, no -k', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  const crew = join(root, 'crew')
  const r = cli('init', '--data-dir', dir, '--out', crew, '--host', 'stage-left', '--ip', '10.99.0.7')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /the server certificate answers to/)
  const san = new X509Certificate(readFileSync(identityPaths(dir).deviceCert)).subjectAltName ?? ''
  t.match(san, /IP Address:127\.0\.0\.1/)
  t.match(san, /DNS:stage-left(,|$)/, 'a --host name')
  t.match(san, /IP Address:10\.99\.0\.7/, 'an --ip address')
  t.match(san, /DNS:localhost/)
  const bundle = join(crew, readdirSync(crew).find((d) => d.startsWith('operator-1-'))!)
  const { api } = await bootSim(t, dir, { host: '0.0.0.0' })
  const creds = ['--cacert', join(bundle, 'ca.crt'), '--cert', join(bundle, 'operator-1.crt'), '--key', join(bundle, 'operator-1.key')]
  const local = await curl([...creds, hostUrl('127.0.0.1', api.port)])
  t.equal(local.code, 0, local.err)
  t.match(local.out, /"cn":"operator-1"/)
  const other = otherAddress()
  if (other) {
    t.match(san, new RegExp(`IP Address:${other.replace(/\./g, '\\.')}(,|$)`), `the machine's own address ${other} is in the certificate by default`)
    const r2 = await curl([...creds, hostUrl(other, api.port)])
    t.equal(r2.code, 0, `curl https://${other}:${api.port} verifies: ${r2.err}`)
    t.match(r2.out, /"cn":"operator-1"/)
  } else {
    t.comment('this machine has no non-loopback IPv4 address; only 127.0.0.1 was tried')
  }

  // The unit moves: an address it did not have at provisioning. Reissue only the server certificate.
  const caBefore = readFileSync(identityPaths(dir).caCert, 'utf8')
  const moved = '127.0.0.2'
  const before = await curl([...creds, hostUrl(moved, api.port)])
  t.not(before.code, 0, 'an address the certificate does not name is refused by curl')
  t.match(before.err, /no alternative certificate subject name matches|does not match/)
  const re = cli('server-cert', '--data-dir', dir, '--ip', moved)
  t.equal(re.code, 0, re.err)
  t.match(re.out, /the CA and the crew's certificates are unchanged/)
  t.equal(readFileSync(identityPaths(dir).caCert, 'utf8'), caBefore, 'the CA is untouched')
  let after = { code: -1, out: '', err: '' }
  for (let i = 0; i < 40 && after.code !== 0; i++) {
    await new Promise((r) => setTimeout(r, 250))
    after = await curl([...creds, hostUrl(moved, api.port)])
  }
  t.equal(after.code, 0, `the running API serves the new certificate; the crew's old bundle still works: ${after.err}`)
  t.match(after.out, /"cn":"operator-1"/)
})

t.test('a bad --host or --ip is refused before anything is written', async (t) => {
  const root = t.testdir()
  const dir = join(root, 'data')
  const r = cli('init', '--data-dir', dir, '--ip', '300.1.2.3')
  t.equal(r.code, 1)
  t.match(r.err, /--ip must be an IPv4 or IPv6 address.*FW_ERR_USAGE/)
  const h = cli('init', '--data-dir', dir, '--host', 'bad host!')
  t.match(h.err, /--host must be a DNS name.*FW_ERR_USAGE/)
  t.equal(cli('list', '--data-dir', dir).code, 1, 'nothing was provisioned')
})
