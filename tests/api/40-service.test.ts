import { join } from 'node:path'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type NetworkServiceHandle, networkService } from '../../firmware/runtime/network.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { call, makeFixture } from './helpers.ts'

t.test('an unprovisioned unit runs without the API and says why (fail-open)', async (t) => {
  const dir = join(t.testdir(), 'blank')
  const said: string[] = []
  let net: NetworkServiceHandle | null = null
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir: dir },
    {
      services: [async (app) => (net = await networkService({ api: { port: 0, host: '127.0.0.1' }, log: (l, m) => said.push(`${l} ${m}`) })(app))],
    },
  )
  t.teardown(() => run.stop())
  t.equal(net!.api, null)
  t.equal(net!.osc, null, 'OSC stays off by default')
  t.match(said.join('\n'), /warn API off: no device identity .* run "npx firmware provision init/)
  t.ok(run.app.status().engine.blocks >= 0, 'the appliance runs')
})

t.test('a provisioned unit serves the API, and OSC when enabled', async (t) => {
  const fx = await makeFixture(t.testdir())
  let net: NetworkServiceHandle | null = null
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir: fx.dataDir },
    {
      services: [
        async (app) =>
          (net = await networkService({
            api: { port: 0, host: '127.0.0.1' },
            osc: { enabled: true, port: 0, host: '127.0.0.1', allow: ['127.0.0.1'] },
            log: () => {},
          })(app)),
      ],
    },
  )
  t.teardown(() => run.stop())
  const r = await call(net!.api!.port, fx.creds(fx.operator), 'GET', '/api/status')
  t.equal(r.status, 200)
  t.equal(net!.osc!.enabled, true)
  t.ok(net!.osc!.port > 0)
})

t.test('a port already in use is a clear error, not a crash', async (t) => {
  const fx = await makeFixture(t.testdir())
  const { createServer } = await import('node:net')
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const { startApi } = await import('../../firmware/api/server.ts')
  const { FakeAppliance } = await import('../commands/fake-appliance.ts')
  const { createRegistry } = await import('../../firmware/commands/index.ts')
  const app = new FakeAppliance()
  await t.rejects(startApi(app, createRegistry(app), app.profile, { port, host: '127.0.0.1', dataDir: fx.dataDir }), {
    code: 'FW_ERR_IO',
    message: /cannot listen on port \d+ \(EADDRINUSE\).*api\.port/,
  })
})
