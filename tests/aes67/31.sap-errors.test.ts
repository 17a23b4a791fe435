// A SAP socket that fails (a send the network refuses) is counted, never an unhandled 'error'
// event: an unhandled one would end the firmware process, and the unit runs an announcer.
import t from 'tap'
import { SapAnnouncer } from '../../firmware/netaudio/sap.ts'
import { describeStream } from '../../firmware/netaudio/sdp.ts'
import { until } from '../helpers/until.ts'

t.test('an announcement the network refuses is counted and the process goes on', async (t) => {
  // Broadcast without SO_BROADCAST: the kernel refuses every send (EACCES), asynchronously.
  const a = new SapAnnouncer({ origin: '127.0.0.1', group: '255.255.255.255', intervalMs: 20 })
  await a.start()
  a.announce(
    describeStream({
      name: 'refused',
      sessionId: '1',
      sessionVersion: '1',
      origin: '127.0.0.1',
      address: '239.69.1.21',
      port: 5004,
      ttl: 16,
      payloadType: 98,
      bits: 24,
      sampleRate: 48000,
      channels: 2,
      ptimeMs: 1,
      refclk: 'ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0',
      mediaclkOffset: 0,
      ssrc: 1,
    }),
  )
  try {
    await until(() => a.sendErrors >= 3, 3000, 'three refused sends counted')
    t.match(a.lastError, /EACCES|EPERM|ENETUNREACH/, `the reason is kept: ${a.lastError}`)
  } finally {
    await a.stop()
  }
  t.ok(a.sendErrors >= 4, 'the deletion on stop was refused too, and counted')
})
