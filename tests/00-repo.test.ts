import { spawnSync } from 'node:child_process'
import t from 'tap'

t.test('the runtime is the pinned Node 24', async (t) => {
  t.equal(Number(process.versions.node.split('.')[0]), 24)
})

t.test('the TypeScript sources type-check under strict settings', async (t) => {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
})

t.test('lint and format: biome ci finds nothing (rules and style in biome.jsonc)', async (t) => {
  const r = spawnSync('node_modules/.bin/biome', ['ci', '--colors=off', '.'], { encoding: 'utf8' })
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`.slice(-4000))
})
