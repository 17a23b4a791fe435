// AES67 streams in the board profile (docs/aes67.md, "In the board profile"): the shipped
// sim-aes67 board loads with its streams, the engine options carry them, and each bad field is
// refused with FW_ERR_BOARD_PROFILE naming it.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { engineOptionsFromProfile } from '../../firmware/board/engine.ts'
import { loadProfile } from '../../firmware/board/profile.ts'

t.test('the sim-aes67 board: two prioritised sources for inputs 1-2, one output stream, SAP on', async (t) => {
  const p = loadProfile('sim-aes67')
  t.equal(p.audio.backend, 'aes67')
  const a = p.audio.aes67
  t.ok(a, 'the aes67 section is read')
  if (!a) return
  t.same(
    a.rx.map((s) => [s.address, s.port, s.priority, s.linkOffsetUs]),
    [
      ['239.69.1.20', 5004, 1, 2000],
      ['239.69.1.21', 5006, 2, 2000],
    ],
  )
  t.same(
    a.tx.map((s) => [s.address, s.port, s.channels, s.ptimeUs]),
    [['239.69.1.30', 5004, 2, 1000]],
  )
  t.equal(a.sap, true)
  t.equal(a.sapPort, 9875)
  const o = engineOptionsFromProfile(p)
  t.equal(o.backend, 'aes67')
  t.same(
    o.aes67?.rx?.map((s) => [s.ptimeMs, s.linkOffsetMs, s.priority]),
    [
      [1, 2, 1],
      [1, 2, 2],
    ],
  )
  t.equal(o.aes67?.tx?.[0]?.ssrc, a.tx[0]?.ssrc, 'the transmit SSRC chosen at load is the one the engine sends')
})

t.test('bad AES67 fields are refused with the profile field named, and nothing is loaded', async (t) => {
  const dir = t.testdir({})
  const good = JSON.parse(JSON.stringify(loadProfileRaw()))
  const cases: Array<[string, (p: Record<string, any>) => void, RegExp]> = [
    ['no section', (p) => delete p.audio.aes67, /audio\.aes67: is required when audio\.backend is "aes67"/],
    ['no stream', (p) => (p.audio.aes67 = {}), /audio\.aes67: lists no stream/],
    ['bad port', (p) => (p.audio.aes67.rx[0].port = 70000), /audio\.aes67\.rx\[0\]\.port/],
    ['bad link offset', (p) => (p.audio.aes67.rx[1].linkOffsetMs = 500), /audio\.aes67\.rx\[1\]\.linkOffsetMs/],
    ['bad packet time', (p) => (p.audio.aes67.tx[0].ptimeMs = 2), /audio\.aes67\.tx\[0\]\.ptimeMs: must be one of/],
    ['same priority', (p) => (p.audio.aes67.rx[1].priority = 1), /audio\.aes67\.rx\[1\]\.priority: must differ/],
    ['bad failover limit', (p) => (p.audio.aes67.rx[0].failoverLossPct = 150), /audio\.aes67\.rx\[0\]\.failoverLossPct/],
    ['tx address', (p) => (p.audio.aes67.tx[0].address = 'stage'), /audio\.aes67\.tx\[0\]\.address: must be an IPv4 address/],
    ['too many channels', (p) => (p.audio.aes67.tx[0].firstChannel = 3), /audio\.aes67\.tx\[0\]\.firstChannel/],
    ['unknown key', (p) => (p.audio.aes67.ptp = 'x'), /audio\.aes67\.ptp: is not an AES67 setting/],
    ['streams on a sim board', (p) => (p.audio.backend = 'sim'), /audio\.aes67: is only read when audio\.backend is "aes67"/],
    ['bad dead time', (p) => (p.audio.aes67.deadMs = 10), /audio\.aes67\.deadMs/],
  ]
  for (const [what, change, msg] of cases) {
    const p = JSON.parse(JSON.stringify(good))
    change(p)
    const file = join(dir, `${what.replace(/ /g, '-')}.json`)
    writeFileSync(file, JSON.stringify(p))
    t.throws(() => loadProfile(file), { code: 'FW_ERR_BOARD_PROFILE', message: msg }, what)
  }
})

function loadProfileRaw(): unknown {
  return JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'board', 'sim-aes67', 'profile.json'), 'utf8'))
}
