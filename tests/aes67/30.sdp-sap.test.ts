// SDP (RFC 4566 + RFC 7273 clock attributes) of AES67 streams, and SAP (RFC 2974) announcements
// over real UDP multicast: announced on start, listed by a listener, deleted on stop.
import t from 'tap'
import { parseSap, SapAnnouncer, SapListener, sapPacket } from '../../firmware/netaudio/sap.ts'
import { describeStream, parseSdp, type SdpStream } from '../../firmware/netaudio/sdp.ts'
import { until } from '../helpers/until.ts'

const stream: SdpStream = {
  name: 'stage-unit FOH 1-8',
  sessionId: '1311738121',
  sessionVersion: '1311738121',
  origin: '192.168.1.20',
  address: '239.69.1.20',
  port: 5004,
  ttl: 16,
  payloadType: 98,
  bits: 24,
  sampleRate: 48000,
  channels: 8,
  ptimeMs: 1,
  refclk: 'ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0',
  mediaclkOffset: 1234567,
  ssrc: 0xdeadbeef,
}

t.test('an SDP the unit writes carries the AES67 attributes and reads back the same', async (t) => {
  const sdp = describeStream(stream)
  for (const line of [
    'a=rtpmap:98 L24/48000/8',
    'a=ptime:1',
    'a=ts-refclk:ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0',
    'a=mediaclk:direct=1234567',
    'c=IN IP4 239.69.1.20/16',
  ]) {
    t.ok(sdp.includes(`${line}\r\n`), line)
  }
  t.same(parseSdp(sdp), stream, 'parseSdp(describeStream(s)) is s')
})

t.test('an SDP as a Dante device in AES67 mode writes it is read', async (t) => {
  const dante = [
    'v=0',
    'o=- 1423986 1423994 IN IP4 169.254.98.63',
    's=AOIP44-serial-1614 : 2',
    'c=IN IP4 239.65.125.63/32',
    't=0 0',
    'a=keywds:Dante',
    'm=audio 5004 RTP/AVP 97',
    'i=2 channels: TxChan 0, TxChan 1',
    'a=recvonly',
    'a=rtpmap:97 L24/48000/2',
    'a=ptime:1',
    'a=ts-refclk:ptp=IEEE1588-2008:00-1D-C1-FF-FE-51-9E-F7:0',
    'a=mediaclk:direct=4278069112',
    '',
  ].join('\r\n')
  const s = parseSdp(dante)
  t.same([s.address, s.port, s.payloadType, s.bits, s.channels, s.ptimeMs, s.mediaclkOffset], ['239.65.125.63', 5004, 97, 24, 2, 1, 4278069112])
})

t.test('an SDP this unit cannot take is refused with FW_ERR_AES67_SDP naming the line', async (t) => {
  const good = describeStream(stream)
  const cases: Array<[string, string, RegExp]> = [
    ['no version', good.replace('v=0\r\n', ''), /v=/],
    ['96 kHz', good.replace('L24/48000/8', 'L24/96000/8'), /48000/],
    ['L32', good.replace('L24/48000/8', 'L32/48000/8'), /L24 or L16/],
    ['16 channels', good.replace('L24/48000/8', 'L24/48000/16'), /1\.\.8/],
    ['ptime 2 ms', good.replace('a=ptime:1', 'a=ptime:2'), /ptime/],
    ['no rtpmap', good.replace(/a=rtpmap[^\r]*\r\n/, ''), /rtpmap/],
    ['a PTP-less media clock', good.replace('a=mediaclk:direct=1234567', 'a=mediaclk:sender'), /mediaclk/],
    ['IPv6', good.replace('c=IN IP4 239.69.1.20/16', 'c=IN IP6 ff02::1'), /c=/],
    ['two media', `${good}m=audio 5006 RTP/AVP 98\r\n`, /more than one/],
  ]
  for (const [what, text, line] of cases) t.throws(() => parseSdp(text), { code: 'FW_ERR_AES67_SDP', message: line }, what)
})

t.test('SAP packets carry the SDP, the origin and the deletion flag', async (t) => {
  const sdp = describeStream(stream)
  const m = parseSap(sapPacket({ deletion: true, hash: 0xbeef, origin: '192.168.1.20', sdp }))
  t.same(m, { deletion: true, hash: 0xbeef, origin: '192.168.1.20', sdp })
  t.throws(() => parseSap(Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4])), { code: 'FW_ERR_AES67_SDP' }, 'SAP version 2 is refused')
  t.throws(() => parseSap(Buffer.from([0x20, 0])), { code: 'FW_ERR_AES67_SDP' }, 'a short packet is refused')
})

t.test('streams announced over SAP multicast are listed, and gone after their deletion', async (t) => {
  const listener = new SapListener()
  await listener.start(0)
  t.teardown(() => listener.close())
  const announcer = new SapAnnouncer({ origin: '127.0.0.1', port: listener.port, intervalMs: 50 })
  await announcer.start()
  announcer.announce(describeStream(stream))
  announcer.announce(describeStream({ ...stream, sessionId: '42', name: 'stage-unit beams', channels: 4, address: '239.69.1.21' }))
  await until(() => listener.list().length === 2, 5000, 'both announcements')
  t.same(
    listener
      .list()
      .map((a) => a.stream.name)
      .sort(),
    ['stage-unit FOH 1-8', 'stage-unit beams'],
    'the listener lists both streams',
  )
  await announcer.stop()
  await until(() => listener.list().length === 0, 5000, 'the deletions')
  t.equal(listener.list().length, 0, 'deletion packets on stop remove them')
  t.equal(listener.refused, 0, 'nothing refused')
})
