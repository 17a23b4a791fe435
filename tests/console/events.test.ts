// Setting changes as EV lines: after `subscribe`, a console hears every change to a setting, from
// any principal (another console, the API through the one registry, automation), as one stable
// machine line carrying the new value; every EV line carries its time as ISO 8601 UTC with
// milliseconds. Two consoles on real socat PTYs, on the real Appliance (sim board).
import t from 'tap'
import { createRegistry } from '../../firmware/commands/index.ts'
import type { Client } from './harness.ts'
import { bootRealAppliance, startRig, stopRig } from './harness.ts'

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const app = await bootRealAppliance(t, t.testdir())
// The one registry every transport is handed, as the composition root (runtime/services.ts) does.
const registry = createRegistry(app)

/** The next line matching re (skipping others, e.g. state events), within timeoutMs. */
async function lineLike(client: Client, re: RegExp, timeoutMs = 5000): Promise<string> {
  const end = Date.now() + timeoutMs
  const seen: string[] = []
  for (;;) {
    const left = end - Date.now()
    if (left <= 0) throw new Error(`no line like ${re}; got ${JSON.stringify(seen)}`)
    const l = await client.nextLine(left).catch(() => '')
    if (re.test(l)) return l
    if (l) seen.push(l)
  }
}

t.test('a change from another console or the API arrives as one EV change line with the new value', async (t) => {
  const listener = await startRig(app, t.testdir(), { mode: 'machine', registry })
  const other = await startRig(app, t.testdir(), { mode: 'machine', registry })
  t.teardown(async () => {
    await stopRig(other)
    await stopRig(listener)
  })
  t.equal(
    await listener.ask('subscribe'),
    'OK subscribe state=on meters=off doa=off panel=on recommendations=off changes=on',
    'subscribe alone includes changes',
  )

  t.equal(await other.ask('gain 2 -7.5'), 'OK gain output=2 gain=-7.5')
  const gain = await lineLike(listener.client, /^EV change what=gain /)
  t.match(gain, new RegExp(`^EV change what=gain output=2 value=-7\\.5 who=console:${esc(other.pty.a)} at=${ISO}$`), gain)
  t.ok(Math.abs(Date.parse(/at=(\S+)$/.exec(gain)![1]!) - Date.now()) < 10_000, 'the time is now')

  t.equal(await other.ask('eq 1 3 type=peak freq=250 gain=-3 q=1.4 enabled=on'), 'OK eq output=1 band=3 type=peak freq=250 gain=-3 q=1.4 enabled=on')
  t.match(
    await lineLike(listener.client, /^EV change what=eq /),
    new RegExp(
      `^EV change what=eq output=1 band=3 value\\.type=peak value\\.freqHz=250 value\\.gainDb=-3 value\\.q=1\\.4 value\\.enabled=on who=console:\\S+ at=${ISO}$`,
    ),
  )

  t.equal(await other.ask('beam steer 3 120 5'), 'OK beam steer beam=3 azimuth=120 elevation=5 auto=off')
  t.match(
    await lineLike(listener.client, /^EV change what=beam /),
    new RegExp(`^EV change what=beam beam=3 value\\.kind=\\w+ value\\.azimuth=120 value\\.elevation=5 value\\.auto=off who=console:\\S+ at=${ISO}$`),
  )

  t.match(await other.ask('comp 2 threshold=-18 ratio=3'), /^OK comp output=2 threshold=-18 ratio=3 /)
  t.match(
    await lineLike(listener.client, /^EV change what=compressor /),
    new RegExp(
      `^EV change what=compressor output=2 value\\.thresholdDb=-18 value\\.ratio=3 value\\.kneeDb=\\S+ value\\.attackMs=\\S+ value\\.releaseMs=\\S+ value\\.makeupDb=\\S+ value\\.enabled=(on|off) who=console:\\S+ at=${ISO}$`,
    ),
  )

  // automation sets bands directly, its object built in another key order: the line keeps its order
  app.setEqBand(1, 1, { enabled: true, q: 2, gainDb: 1.5, freqHz: 500, type: 'peak' }, 'automation')
  t.match(
    await lineLike(listener.client, /^EV change what=eq output=2 /),
    new RegExp(
      `^EV change what=eq output=2 band=2 value\\.type=peak value\\.freqHz=500 value\\.gainDb=1\\.5 value\\.q=2 value\\.enabled=on who=automation at=${ISO}$`,
    ),
  )

  // the HTTPS API goes through the same registry with its own principal
  const api = { name: 'api:operator-1', permission: 'operate' as const, transport: 'api' }
  const r = await registry.executeLine('trim 4 3.5', api)
  t.ok(r.ok, 'the API principal set a trim')
  t.match(await lineLike(listener.client, /^EV change what=trim /), new RegExp(`^EV change what=trim input=4 value=3\\.5 who=api:operator-1 at=${ISO}$`))

  await other.ask('bypass on')
  const evs: string[] = []
  while (!evs.some((l) => l.startsWith('EV change')) || !evs.some((l) => l.startsWith('EV state'))) evs.push(await listener.client.nextLine(5000))
  t.match(
    evs.find((l) => l.startsWith('EV change')),
    new RegExp(`^EV change what=bypass value=on who=console:\\S+ at=${ISO}$`),
  )
  t.match(
    evs.find((l) => l.startsWith('EV state')),
    new RegExp(`^EV state from=[A-Z_]+ to=MANUAL_BYPASS .* at=${ISO}$`),
    'state events use the same time format',
  )
  await other.ask('bypass off')

  t.equal(
    await listener.ask('unsubscribe changes').then(async (l) => (l.startsWith('EV') ? lineLike(listener.client, /^OK unsubscribe/) : l)),
    'OK unsubscribe state=on meters=off doa=off panel=on recommendations=off changes=off',
  )
  await new Promise((res) => setTimeout(res, 300))
  listener.client.lines.length = 0
  t.equal(await other.ask('gain 2 -3'), 'OK gain output=2 gain=-3')
  await new Promise((res) => setTimeout(res, 300))
  t.same(
    listener.client.lines.filter((l) => l.startsWith('EV change')),
    [],
    'no change lines after unsubscribe changes',
  )
})

t.test('every EV line carries at= in ISO 8601 UTC with milliseconds (doa and meters too)', async (t) => {
  const rig = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('subscribe doa meters=5'), /^OK subscribe /)
  const doa = await lineLike(rig.client, /^EV doa /)
  t.match(doa, new RegExp(`^EV doa azimuth=\\S+ elevation=\\S+ confidence=\\S+ at=${ISO}$`), doa)
  const meters = await lineLike(rig.client, /^EV meters /)
  t.match(meters, new RegExp(` gr\\.4=\\S+ at=${ISO}$`))
})

t.test('human mode shows EV change lines too, and redraws the line being typed', async (t) => {
  const listener = await startRig(app, t.testdir())
  const other = await startRig(app, t.testdir(), { mode: 'machine' })
  t.teardown(async () => {
    await stopRig(other)
    await stopRig(listener)
  })
  await listener.client.waitRaw(/sim> $/)
  await listener.client.send('subscribe changes\r')
  await listener.client.waitRaw(/changes: on\r\nsim> $/)
  await listener.client.send('stat')
  await other.ask('gain 4 -2')
  await listener.client.waitRaw(new RegExp(`EV change what=gain output=4 value=-2 who=console:\\S+ at=${ISO}\\r\\nsim> stat$`))
  t.pass('the EV line, then the prompt and the half-typed line')
})

t.test('inference reports (classes, howls, notches, speech) make no EV line: the console stays readable', async (t) => {
  const rig = await startRig(app, t.testdir(), { mode: 'machine', registry })
  t.teardown(() => stopRig(rig))
  t.match(await rig.ask('subscribe state panel recommendations changes'), /^OK subscribe /)
  app.publish?.({ type: 'inference', report: { kind: 'class', label: 'speech', confidence: 0.8, t: 1 } })
  app.publish?.({ type: 'inference', report: { kind: 'howl', output: 0, hz: 2000, levelDb: -20, growthDbPerS: 30, reason: 'growing', t: 1 } })
  app.publish?.({ type: 'inference', report: { kind: 'notches', output: 0, notches: [{ hz: 2000, gainDb: -6, q: 30 }] } })
  app.publish?.({ type: 'inference', report: { kind: 'vad', start: 0.5, end: 1.5 } })
  app.setOutputGain(0, -2, 'test')
  // Every line up to the change's EV line: none of them is an inference report.
  const lines: string[] = []
  const end = Date.now() + 5000
  while (Date.now() < end && !lines.some((l) => l.startsWith('EV change what=gain'))) {
    const l = await rig.client.nextLine(end - Date.now()).catch(() => '')
    if (l) lines.push(l)
  }
  t.ok(
    lines.some((l) => l.startsWith('EV change what=gain output=1 value=-2 ')),
    'the change arrived',
  )
  t.notOk(
    lines.some((l) => /howl|notch|vad|label=|kind=(class|howl|notches|vad)/.test(l)),
    JSON.stringify(lines),
  )
})
