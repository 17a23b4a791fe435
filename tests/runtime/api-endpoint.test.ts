// What `firmware run` tells a tech about the API when it could not start: the real reason, so a
// port already in use does not send anyone off to re-provision a unit that is provisioned.

import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'

const root = join(import.meta.dirname, '..', '..')

function profileWith(dir: string, dataDir: string, port: number): string {
  const p = JSON.parse(readFileSync(join(root, 'board', 'sim', 'profile.json'), 'utf8')) as Record<string, unknown>
  p.dataDir = dataDir
  p.api = { ...(p.api as object), port }
  mkdirSync(join(dir, 'board', 'sim'), { recursive: true })
  const file = join(dir, 'board', 'sim', 'profile.json')
  writeFileSync(file, JSON.stringify(p, null, 2))
  return file
}

function run(profile: string): string {
  const r = spawnSync(process.execPath, ['bin/firmware.js', 'run', '--board', profile, '--seconds', '1.5'], { cwd: root, encoding: 'utf8', timeout: 40000 })
  return `${r.stdout}${r.stderr}`
}

t.test('the links line says the API port is taken, not "not provisioned", on a provisioned unit', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const init = spawnSync(process.execPath, ['provisioning/cli.ts', 'init', '--data-dir', data], { cwd: root, encoding: 'utf8' })
  t.equal(init.status, 0, init.stderr)
  const holder = createServer()
  await new Promise<void>((res) => holder.listen(0, '0.0.0.0', res))
  t.teardown(() => new Promise<void>((res) => holder.close(() => res())))
  const port = (holder.address() as AddressInfo).port
  const out = run(profileWith(dir, data, port))
  const links = out.split('\n').find((l) => l.startsWith('links ')) ?? ''
  t.match(links, new RegExp(`api off \\(the API cannot listen on port ${port} \\(EADDRINUSE\\)`), links)
  t.notMatch(links, /not provisioned/)
})

t.test('an unprovisioned unit still says "not provisioned"', async (t) => {
  const dir = t.testdir()
  const out = run(profileWith(dir, join(dir, 'data'), 8443))
  const links = out.split('\n').find((l) => l.startsWith('links ')) ?? ''
  t.match(links, /api off \(not provisioned: see docs\/provisioning\.md\)/, links)
})
