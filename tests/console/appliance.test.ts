// The console on the real Appliance on the sim board (engine, watchdog, simulated front panel), as
// the integrator starts it: startAppliance('sim', { services: [console] }). The console makes its
// own socat PTY pair (the profile's console UART is "sim"); a control system (serialport) and a
// stage tech (picocom under tmux) use the other end.

import { spawnSync } from 'node:child_process'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type ConsoleHandle, startConsole } from '../../firmware/console/index.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { openClient } from './harness.ts'

async function bootSim(dir: string) {
  const profile = { ...loadProfile('sim'), dataDir: dir }
  let con: ConsoleHandle | null = null
  const run = await startAppliance(profile, {
    services: [async (app) => (con = await startConsole(app, app.profile, { simDir: dir, log: () => {} }))],
  })
  return { run, con: con! as ConsoleHandle }
}

/** What must not change when a command is refused. Auto beams move with the DOA, so only their flag counts. */
function snapshot(app: ApplianceApi): string {
  return JSON.stringify({
    manual: app.faults(100).filter((f) => f.cause.startsWith('manual')).length,
    outputs: app.outputSettings(),
    beams: app.beams().map((b) => (b.auto ? { auto: true } : b)),
  })
}

t.test('machine mode on the real appliance', async (t) => {
  const { run, con } = await bootSim(t.testdir())
  const client = await openClient(con.path)
  t.teardown(async () => {
    await client.close()
    await run.stop()
  })
  const ask = async (l: string) => {
    await client.send(`${l}\r\n`)
    return client.nextLine(5000)
  }
  // The console starts in human mode (banner, prompt); a control system switches it first.
  await client.send('\r\nconsole machine\r\n')
  await client.waitRaw(/OK console mode=machine\r\n$/)
  client.lines.length = 0
  t.pass('switched to machine mode')
  t.match(await ask('status'), /^OK status state=[A-Z_]+ cause=\S+ .* relay=\S+ .* board=sim firmware=\S+ panel="SIM-FP [^"]+" processed=on blocks=\d+ /)
  const before = snapshot(run.app)
  for (const bad of ['gain 9 0', 'bypass\0 on', 'beam steer 1 \x1b[Anorth', 'x'.repeat(700), 'eq 1 1 q=0', 'stauts']) {
    t.match(await ask(bad), /^ERR FW_ERR_[A-Z_]+ /, `refused: ${JSON.stringify(bad.slice(0, 30))}`)
  }
  t.equal(snapshot(run.app), before, 'refused input changed nothing on the appliance')

  t.equal(await ask('subscribe state panel'), 'OK subscribe state=on meters=off doa=off panel=on recommendations=off changes=off')
  await client.send('bypass on\r\n')
  const got: string[] = []
  while (!got.some((l) => l.startsWith('OK bypass')) || !got.some((l) => l.startsWith('EV state'))) got.push(await client.nextLine(5000))
  t.ok(got.includes('OK bypass bypass=on state=MANUAL_BYPASS relay=bypass'), 'bypass engaged, relay dropped')
  t.ok(
    got.some((l) => /^EV state from=[A-Z_]+ to=MANUAL_BYPASS cause=manual evidence="bypass on by console:\S+" at=\S+$/.test(l)),
    'the transition arrived as an EV line',
  )
  t.match(await ask('faults 1'), /^OK faults 1\.at=\S+ 1\.from=[A-Z_]+ 1\.to=MANUAL_BYPASS 1\.cause=manual /)
  client.lines.length = 0
  await client.send('bypass off\r\n')
  let reply = ''
  while (!reply.startsWith('OK bypass')) reply = await client.nextLine(5000)
  t.match(reply, /^OK bypass bypass=off state=(ACTIVE|DEGRADED|BYPASS) /)
  t.equal(await ask('unsubscribe'), 'OK unsubscribe state=off meters=off doa=off panel=off recommendations=off changes=off')
  t.equal(await ask('gain 2 -4.5'), 'OK gain output=2 gain=-4.5')
  t.equal(run.app.outputSettings()[1]!.gainDb, -4.5, 'the engine-side setting changed')
  t.equal(await ask('beam steer 2 120 5'), 'OK beam steer beam=2 azimuth=120 elevation=5 auto=off')
  t.match(run.app.beams()[1], { azimuth: 120, elevation: 5, auto: false })
  t.match(await ask('meters'), /^OK meters in_peak\.1=-?\d+(\.\d+)? .* gr\.4=-?\d/)
  t.equal(await ask('subscribe meters=5'), 'OK subscribe state=off meters=5 doa=off panel=off recommendations=off changes=off')
  const ev = await client.nextLine(3000)
  t.match(ev, /^EV meters in_peak\.1=-?\d+(\.\d+)? .* out_rms\.4=\S+ gr\.1=/, 'meters events carry the live levels')
  t.equal(
    await ask('unsubscribe meters').then(async (l) => (l.startsWith('EV') ? client.nextLine() : l)),
    'OK unsubscribe state=off meters=off doa=off panel=off recommendations=off changes=off',
  )
})

const haveTerm = spawnSync('sh', ['-c', 'command -v tmux && command -v picocom']).status === 0

t.test(
  'a stage tech at picocom (under tmux) sees the prompt, the echo and clear answers',
  { skip: haveTerm ? false : 'tmux or picocom not installed (scripts/setup.sh installs them)' },
  async (t) => {
    const dir = t.testdir()
    const { run, con } = await bootSim(dir)
    const sock = `h4-console-${process.pid}`
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' })
    t.teardown(async () => {
      tmux('kill-server')
      await run.stop()
    })
    const started = tmux('new-session', '-d', '-x', '100', '-y', '40', `picocom -q -b ${run.profile.uarts.console.baudRate} ${con.path}`)
    t.equal(started.status, 0, `tmux started picocom ${started.stderr}`)
    const screen = () => tmux('capture-pane', '-p', '-t', '0').stdout
    const waitScreen = async (re: RegExp, what: string) => {
      const t0 = Date.now()
      while (!re.test(screen())) {
        if (Date.now() - t0 > 5000) throw new Error(`screen never showed ${what}:\n${screen()}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      return screen()
    }
    const type = (keys: string) => tmux('send-keys', '-t', '0', '-l', keys)
    const enter = () => tmux('send-keys', '-t', '0', 'Enter')

    await new Promise((r) => setTimeout(r, 300)) // picocom opening the tty
    enter()
    await waitScreen(/sim> ?$/m, 'the prompt')
    type('stauts')
    await waitScreen(/sim> stauts$/m, 'the typed text echoed')
    enter()
    const s1 = await waitScreen(/did you mean "status"\?/, 'the suggestion')
    t.match(s1, /error: no command "stauts"; did you mean "status"\? type help for the list \[FW_ERR_UNKNOWN_COMMAND\]/)
    type('status')
    enter()
    const s2 = await waitScreen(/^engine .*blocks/m, 'the status block')
    // On a loaded 2-core machine the sim engine may see xruns (DEGRADED): the state is the watchdog's.
    t.match(s2, /^state {5}(ACTIVE|DEGRADED|BYPASS) {2}\([^)]+, since \S+\)$/m)
    t.match(s2, /^relay {5}(processed|bypass) {4}audio (processed|dry) {4}mode advisory$/m)
    type('bypass on')
    enter()
    const s3 = await waitScreen(/^relay: bypass$/m, 'the bypass answer')
    t.match(s3, /^bypass: on\nstate: MANUAL_BYPASS\nrelay: bypass$/m)
    t.equal(run.app.status().state, 'MANUAL_BYPASS', 'the real appliance is in manual bypass')
    // Up arrow recalls "bypass on"; three backspaces and "off" edits it
    tmux('send-keys', '-t', '0', 'Up')
    await waitScreen(/sim> bypass on$/m, 'the recalled line')
    tmux('send-keys', '-t', '0', 'BSpace')
    type('ff')
    enter()
    await waitScreen(/^bypass: off$/m, 'the release')
    t.not(run.app.status().state, 'MANUAL_BYPASS', 'released through the edited history line')
    type('help gain')
    enter()
    const s4 = await waitScreen(/e\.g\. gain output=2 db=0/, 'the help with examples')
    t.match(s4, /^gain <output> <db>$/m)
    t.match(s4, /^ {2}e\.g\. gain 1 -6$/m)
    t.comment(`final screen:\n${screen().trimEnd().split('\n').slice(-14).join('\n')}`)
  },
)
