// Issue 10, item 10: a refused client is logged with its address and the reason, and gets the TLS
// alert where the stack can send one. Real clients: openssl s_client and curl.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import type { ApiHandle } from '../../firmware/api/server.ts'
import type { Bundle } from '../../provisioning/provision.ts'
import { until } from '../helpers/until.ts'
import { bootSim, type Fixture, makeFixture } from './helpers.ts'

let fx: Fixture
let api: ApiHandle

t.before(async () => {
  fx = await makeFixture(t.testdir())
  api = (await bootSim(t, fx.dataDir)).api
})

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args)
    let out = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    p.stderr.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000)
    p.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, out })
    })
    p.stdin.end(input)
  })
}

const sClient = (b: Bundle | null) =>
  run(
    'openssl',
    ['s_client', '-ign_eof', '-connect', `127.0.0.1:${api.port}`, '-CAfile', fx.caFile, ...(b ? ['-cert', b.certFile, '-key', b.keyFile] : [])],
    'GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
  )

function logLines(): string[] {
  return readFileSync(api.files.log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).message as string)
}

async function refusalLogged(pattern: RegExp): Promise<string> {
  await until(() => logLines().some((m) => pattern.test(m)), 5000, `a log line like ${pattern}`)
  return logLines().find((m) => pattern.test(m))!
}

t.test('no certificate: the certificate_required alert, and a log line with address and reason', async (t) => {
  const s = await sClient(null)
  t.match(s.out, /alert certificate required/, 'openssl s_client reads the certificate_required alert')
  t.notMatch(s.out, /HTTP\/1\.1/)
  const line = await refusalLogged(/refused TLS client 127\.0\.0\.1:\d+: no client certificate/)
  t.notMatch(line, /\?/, 'the address is known')
})

for (const [what, pick, reason, code] of [
  ['an expired certificate', (f: Fixture) => f.expired, /certificate expired/, 'CERT_HAS_EXPIRED'],
  ['a revoked certificate', (f: Fixture) => f.revoked, /certificate revoked/, 'CERT_REVOKED'],
  [
    "another unit's certificate",
    (f: Fixture) => f.foreign,
    /certificate not issued by this unit's operator CA \(unknown CA\)/,
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ],
] as const) {
  t.test(`${what} is refused and the log says from where and why`, async (t) => {
    const b = pick(fx)
    const s = await sClient(b)
    t.notMatch(s.out, /HTTP\/1\.1/, 's_client gets no HTTP reply')
    const line = await refusalLogged(new RegExp(`refused TLS client 127\\.0\\.0\\.1:\\d+: ${reason.source}.*serial ${b.serial}.*\\[${code}\\]`))
    t.notMatch(line, /ECONNRESET/)
    const c = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      fx.caFile,
      '--cert',
      b.certFile,
      '--key',
      b.keyFile,
      `https://localhost:${api.port}/api/status`,
    ])
    t.not(c.code, 0, 'curl is refused too')
    t.notMatch(c.out, /"ok":true/)
  })
}

t.test('no key material in the refusal lines', async (t) => {
  t.notMatch(logLines().join('\n'), /PRIVATE KEY|BEGIN CERTIFICATE/)
})
