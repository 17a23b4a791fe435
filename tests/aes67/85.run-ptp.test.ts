// PTP in the running unit (docs/aes67.md, "In the running unit"): with audio.aes67.ptpSocket set,
// the appliance's tick asks ptp4l through a real `pmc` child; a ptp4l that does not answer (no
// daemon behind the socket) is ptp-lost, a degrade with its cause, logged once.

import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { validateProfile } from '../../firmware/board/profile.ts'
import { Appliance } from '../../firmware/runtime/appliance.ts'
import { until } from '../helpers/until.ts'

const root = join(import.meta.dirname, '..', '..')

t.test('no ptp4l behind the profile socket: the tick reads it lost, the watchdog degrades with ptp-lost', async (t) => {
  const dir = t.testdir({})
  const raw = JSON.parse(readFileSync(join(root, 'board', 'sim-aes67', 'profile.json'), 'utf8'))
  raw.uarts = { console: { path: 'none' }, panel: { path: 'none' } }
  raw.dataDir = join(dir, 'data')
  // A transmit stream only (an input never heard would be netaudio-input-dead first), to a socket of ours.
  const sink = createSocket('udp4')
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r))
  t.teardown(() => sink.close())
  raw.audio.aes67 = { tx: [{ address: '127.0.0.1', port: sink.address().port, channels: 2 }], sap: false, ptpSocket: join(dir, 'no-ptp4l') }
  const profile = validateProfile(raw, dir)
  const app = await Appliance.start(profile, { logDir: null })
  t.teardown(() => app.stop())
  await until(() => app.ptpStatus() !== null, 5000, 'pmc to answer (or not)')
  t.equal(app.ptpStatus()?.health, 'lost', 'no grandmaster: lost')
  await until(() => app.logTail(100).some((l) => l.source === 'aes67'), 3000, 'the PTP fault in the log')
  t.equal(app.status().state, 'DEGRADED', 'DEGRADED')
  // A loaded machine's start can degrade for another cause first (event-loop lag); the log says it either way.
  const cause = app.status().cause
  if (cause === 'ptp-lost') t.pass('the watchdog names the lost clock as the cause')
  else t.comment(`degraded first for ${cause}`)
  const lines = app.logTail(100).filter((l) => l.source === 'aes67')
  t.equal(lines.length, 1, 'logged once')
  t.match(lines[0]?.message ?? JSON.stringify(lines), /^ptp-lost: PTP lost: port not answering; no grandmaster, the media clock free-runs/)
})
