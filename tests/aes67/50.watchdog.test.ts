// Failover and a dead input as the watchdog sees them: NetAudioMonitor reads a real engine's
// counters while the primary sender stops (an 'netaudio-failover' fault naming why) and then the
// backup stops too ('netaudio-input-dead'); fed to the reducer, the switch is a recorded transition
// ACTIVE -> DEGRADED with its cause.
import { createSocket } from 'node:dgram'
import t from 'tap'
import { Engine } from '../../firmware/engine/engine.ts'
import { initialState, transition, type WatchdogState } from '../../firmware/watchdog/machine.ts'
import type { Fault } from '../../firmware/watchdog/monitors.ts'
import { monotonicMs, NetAudioMonitor } from '../../firmware/watchdog/netaudio-monitor.ts'
import { noisePackets, sendPaced, streamStats } from './peers.ts'

t.test('a failover and a dead input are watchdog faults with their causes', async (t) => {
  const e = new Engine({
    backend: 'aes67',
    inputs: 1,
    outputs: 1,
    startProcessed: false,
    aes67: {
      rx: [
        { port: 0, channels: 1, firstChannel: 0, priority: 1, linkOffsetMs: 20 },
        { port: 0, channels: 1, firstChannel: 0, priority: 2, linkOffsetMs: 20 },
      ],
    },
  })
  e.start()
  t.teardown(() => e.stop())
  const monitor = new NetAudioMonitor(300)
  const faults: Fault[] = []
  const timer = setInterval(() => faults.push(...monitor.check(monotonicMs(), e.netStats())), 10)
  const sock = createSocket('udp4')
  const a = noisePackets(200, 1, 1, 1)
  const b = noisePackets(500, 1, 2, 2)
  await Promise.all([sendPaced(sock, streamStats(e, 0).localPort, a.packets), sendPaced(sock, streamStats(e, 1).localPort, b.packets)])
  await new Promise((r) => setTimeout(r, 600))
  clearInterval(timer)
  sock.close()
  const failovers = faults.filter((f) => f.cause === 'netaudio-failover')
  t.equal(failovers.length, 1, `one failover: ${JSON.stringify(failovers)}`)
  t.match(failovers[0]?.evidence ?? '', /priority 2 source .*its packets stopped/, 'naming the source and why')
  t.ok(
    faults.some((f) => f.cause === 'netaudio-input-dead'),
    'the input with both sources silent is dead',
  )
  let s: WatchdogState = transition(initialState(0), { type: 'boot-complete', at: 0 })[0]
  const f = failovers[0]
  if (f) s = transition(s, { type: 'fault', at: 100, ...f })[0]
  t.equal(s.name, 'DEGRADED', 'the reducer degrades')
  t.equal(s.cause, 'netaudio-failover', 'and records the cause')
})
