// Conformance of the board's front-panel drivers (firmware/board/drivers.ts), as the runtime uses
// them: one suite, run against every implementation that can run here.
//   - the simulated board: driversFor(sim) spawns the simulated controller on a socat PTY pair and
//     opens the real FrontPanel on the other end;
//   - a real board's driver: driversFor(jetson-agx-rack) picks FrontPanel on uarts.panel; here its
//     UART is a socat PTY to the simulated controller, or a real controller when FW_PANEL_PORT
//     names one (cases that need a hand on the button are skipped there, with the reason).
// The relay behind a link (PanelBypassRelay) and the in-memory relay of a board without a panel
// (SimulatedRelay) answer the same BypassRelay checks.
import t, { type Test } from 'tap'
import { startSimulatedPanel } from '../../board/sim/frontpanel-process.ts'
import { driversFor, type PanelConnection } from '../../firmware/board/drivers.ts'
import { type BoardProfile, loadProfile } from '../../firmware/board/profile.ts'
import { openPtyPair } from '../../firmware/hardware/pty.ts'
import { type BypassRelay, PanelBypassRelay, SimulatedRelay } from '../../firmware/hardware/relay.ts'
import type { PanelEvent, PanelLink } from '../../firmware/panel/panel.ts'

const realPort = process.env.FW_PANEL_PORT
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Target {
  name: string
  /** Why the button cases cannot run (no simulated hands), or false. */
  noHands: string | false
  connect(t: Test): Promise<PanelConnection>
}

const targets: Target[] = [
  {
    name: 'the simulated board (simulated controller on a PTY, FrontPanel)',
    noHands: false,
    async connect(t) {
      const drivers = driversFor(loadProfile('sim'))
      t.equal(drivers.panel.kind, 'simulated', 'the sim profile asks for a simulated panel')
      const c = await drivers.panel.open()
      t.teardown(() => c.close())
      return c
    },
  },
  {
    name: realPort ? `the real board's UART driver on ${realPort}` : "the real board's UART driver (FrontPanel), over a socat PTY to the simulated controller",
    noHands: realPort ? 'needs a person at the button on real hardware' : false,
    async connect(t) {
      const jetson = loadProfile('jetson-agx-rack')
      let path = realPort
      let hands: Awaited<ReturnType<typeof startSimulatedPanel>> | null = null
      if (!path) {
        const pty = await openPtyPair(t.testdir())
        // Registered before the controller starts, so a controller that fails to start leaves no socat behind.
        t.teardown(async () => {
          await hands?.stop()
          await pty.close()
        })
        hands = await startSimulatedPanel({ port: pty.b })
        path = pty.a
      }
      // The real board's profile, its panel UART pointed at the wire this test has.
      const profile: BoardProfile = { ...jetson, uarts: { ...jetson.uarts, panel: { ...jetson.uarts.panel, path } } }
      const drivers = driversFor(profile)
      t.equal(drivers.panel.kind, 'uart', 'the jetson profile asks for a UART panel')
      const c = await drivers.panel.open()
      t.teardown(() => c.close())
      t.equal(c.controller, null, 'a real board has no simulated hands')
      return { ...c, controller: hands }
    },
  },
]

/** Waits for the first event (from now) that matches. */
function nextEvent(link: PanelLink, pred: (e: PanelEvent) => boolean, ms = 5000): Promise<PanelEvent> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      off()
      rej(new Error(`no matching panel event in ${ms} ms`))
    }, ms)
    const off = link.onEvent((e) => {
      if (pred(e)) {
        clearTimeout(timer)
        off()
        res(e)
      }
    })
  })
}

// Margins for a loaded machine: these check behaviour, not timing (tests/bench/ has the figures).
async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await sleep(10)
  return cond()
}

/** Heartbeats every 50 ms until stopped (the controller holds the relay only while they come). */
function heartbeats(link: PanelLink): () => void {
  link.heartbeat()
  const timer = setInterval(() => link.heartbeat(), 50)
  return () => clearInterval(timer)
}

for (const target of targets) {
  t.test(target.name, async (t) => {
    t.test('the controller says who it is and the relay starts in bypass', async (t) => {
      const { link } = await target.connect(t)
      t.ok(link, 'a link')
      t.ok(await until(() => link!.version !== null), `version ${link!.version}`)
      t.match(link!.version, /\(protocol 1\)$/)
      link!.queryStatus?.()
      t.ok(await until(() => link!.relay !== 'unknown'), 'relay state known')
      t.equal(link!.relay, 'bypass', 'no heartbeat yet, so bypass')
      t.ok(link!.linkUp)
    })

    t.test('the relay energises with heartbeats and drops by itself when they stop', async (t) => {
      const { link } = await target.connect(t)
      // 1 s: heartbeats every 50 ms keep it with room for a busy machine's late timers.
      link!.configureTimeout?.(1000)
      const stop = heartbeats(link!)
      t.teardown(stop)
      const on = nextEvent(link!, (e) => e.type === 'relay' && e.state === 'ON')
      link!.setRelay(true)
      await on
      t.equal(link!.relay, 'processed', 'confirmed by the controller')
      await sleep(400)
      t.equal(link!.relay, 'processed', 'held while heartbeats come')
      const off = nextEvent(link!, (e) => e.type === 'relay' && e.state === 'OFF')
      stop()
      const ev = (await off) as Extract<PanelEvent, { type: 'relay' }>
      t.equal(ev.reason, 'TIMEOUT', 'the controller dropped it for lack of heartbeats')
      t.equal(link!.relay, 'bypass')
    })

    t.test('the relay drops when asked', async (t) => {
      const { link } = await target.connect(t)
      const stop = heartbeats(link!)
      t.teardown(stop)
      link!.setRelay(true)
      t.ok(await until(() => link!.relay === 'processed'))
      link!.setRelay(false)
      t.ok(await until(() => link!.relay === 'bypass'), 'bypass after RELAY OFF')
    })

    t.test('the button drops the relay and reports the press', { skip: target.noHands }, async (t) => {
      const c = await target.connect(t)
      const link = c.link!
      const stop = heartbeats(link)
      t.teardown(stop)
      link.setRelay(true)
      t.ok(await until(() => link.relay === 'processed'))
      const down = nextEvent(link, (e) => e.type === 'button' && e.action === 'DOWN')
      c.controller!.control('click')
      await down
      t.equal(link.relay, 'bypass', 'the relay went with the press')
      await nextEvent(link, (e) => e.type === 'button' && e.action === 'SHORT')
    })

    t.test('the relay behind the link answers the BypassRelay checks', async (t) => {
      const { link } = await target.connect(t)
      const stop = heartbeats(link!)
      t.teardown(stop)
      await relayChecks(t, new PanelBypassRelay(link!), (cond) => until(cond))
    })

    t.test('close ends the link and everything it spawned', async (t) => {
      const c = await target.connect(t)
      await c.close()
      for (const pid of c.children) {
        t.ok(
          await until(() => {
            try {
              process.kill(pid, 0)
              return false
            } catch {
              return true
            }
          }),
          `child ${pid} gone`,
        )
      }
      await c.close()
      t.pass('a second close is harmless')
    })
  })
}

/** What any BypassRelay does: energise reaches processed, release reaches bypass. */
async function relayChecks(t: Test, relay: BypassRelay, settle: (cond: () => boolean) => Promise<boolean>): Promise<void> {
  relay.energise()
  t.ok(await settle(() => relay.state === 'processed'), 'energise: processed')
  relay.release()
  t.ok(await settle(() => relay.state === 'bypass'), 'release: bypass')
  relay.energise()
  t.ok(await settle(() => relay.state === 'processed'), 'energise again: processed')
}

t.test('a board without a front panel: no link, the relay is kept in memory', async (t) => {
  const sim = loadProfile('sim')
  const profile: BoardProfile = { ...sim, capabilities: { ...sim.capabilities, panel: 'none' } }
  const c = await driversFor(profile).panel.open()
  t.equal(c.link, null)
  t.same(c.children, [])
  await c.close()
  const relay = new SimulatedRelay()
  t.equal(relay.state, 'bypass', 'starts in bypass')
  await relayChecks(t, relay, async (cond) => cond())
})
