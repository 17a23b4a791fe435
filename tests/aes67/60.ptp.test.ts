// The PTP clock from the real daemon: two ptp4l (software timestamping) in two network namespaces
// joined by a veth pair; the unit's reader asks them over their management sockets with pmc. The
// slave runs the `nullf` servo, which measures its offset but never adjusts the clock: the
// namespaces share this machine's system clock with everyone else on it, so the test must not
// steer it. The test reads the slave while it is UNCALIBRATED (unlocked; nullf reaches SLAVE only
// some 7 s later, too long for the suite), then kills the master and reads the lost grandmaster:
// both are watchdog faults (PtpMonitor). The locked case is read from a recorded pmc answer.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type PtpStatus, parsePmc, queryPtp } from '../../firmware/netaudio/ptp.ts'
import { PtpMonitor } from '../../firmware/watchdog/netaudio-monitor.ts'

const LOCKED = `	c4f312.fffe.0a1b2c-1 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET
		portIdentity            c4f312.fffe.0a1b2c-1
		portState               SLAVE
	c4f312.fffe.0a1b2c-0 seq 1 RESPONSE MANAGEMENT TIME_STATUS_NP
		master_offset              -312
		gmPresent                  true
		gmIdentity                 001dc1.fffe.519ef7
`

t.test('a pmc answer of a SLAVE near its grandmaster reads as locked', async (t) => {
  const s = parsePmc(LOCKED)
  t.same([s.portState, s.masterOffsetNs, s.gmPresent, s.gmIdentity, s.health], ['SLAVE', -312, true, '001dc1.fffe.519ef7', 'locked'])
  t.equal(new PtpMonitor().check(s), null, 'no fault')
  t.equal(parsePmc(LOCKED.replace('-312', '5000000')).health, 'unlocked', '5 ms off is unlocked')
  t.equal(parsePmc('').health, 'lost', 'no answer is lost')
})

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' })

t.test('ptp4l in two namespaces: master, an unlocked slave, then a lost grandmaster', async (t) => {
  const tag = `i15p${process.pid % 100000}`
  const [nsA, nsB] = [`${tag}a`, `${tag}b`]
  if (ip('netns', 'add', nsA).status !== 0) {
    t.comment(`ip netns is not possible here (${ip('netns', 'add', nsA).stderr.trim()}); the PTP daemon test needs it`)
    return
  }
  const children: ChildProcess[] = []
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL')
    ip('netns', 'del', nsA)
    ip('netns', 'del', nsB)
  })
  ip('netns', 'add', nsB)
  // Unix socket paths are short (108 bytes): a temp dir of its own, not the test's long one.
  const dir = mkdtempSync(join(tmpdir(), 'ptp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const setup = [
    ['link', 'add', `${tag}va`, 'type', 'veth', 'peer', 'name', `${tag}vb`],
    ['link', 'set', `${tag}va`, 'netns', nsA],
    ['link', 'set', `${tag}vb`, 'netns', nsB],
    ['-n', nsA, 'addr', 'add', '10.215.0.1/24', 'dev', `${tag}va`],
    ['-n', nsB, 'addr', 'add', '10.215.0.2/24', 'dev', `${tag}vb`],
    ['-n', nsA, 'link', 'set', `${tag}va`, 'up'],
    ['-n', nsB, 'link', 'set', `${tag}vb`, 'up'],
  ]
  for (const a of setup) t.equal(ip(...a).status, 0, `ip ${a.join(' ')}`)
  const start = (ns: string, name: string, extra: string): ChildProcess => {
    const cfg = join(dir, `${name}.cfg`)
    writeFileSync(
      cfg,
      `[global]\nuds_address ${join(dir, `${name}.sock`)}\nlogAnnounceInterval -3\nlogSyncInterval -4\nannounceReceiptTimeout 3\nnetwork_transport UDPv4\ntime_stamping software\n${extra}\n`,
    )
    const c = spawn('ip', ['netns', 'exec', ns, 'ptp4l', '-f', cfg, '-i', ns === nsA ? `${tag}va` : `${tag}vb`, '-m'], { stdio: ['ignore', 'pipe', 'pipe'] })
    c.stdout?.on('data', (d) => process.env.PTP_DEBUG && process.stderr.write(`${name}: ${d}`))
    c.stderr?.on('data', (d) => process.env.PTP_DEBUG && process.stderr.write(`${name}: ${d}`))
    children.push(c)
    return c
  }
  const master = start(nsA, 'a', 'priority1 100\nfree_running 1')
  start(nsB, 'b', 'slaveOnly 1\nclock_servo nullf')
  const ask = (ns: string, name: string) => queryPtp(join(dir, `${name}.sock`), { prefix: ['ip', 'netns', 'exec', ns] })
  const waitFor = async (ns: string, name: string, ok: (s: PtpStatus) => boolean): Promise<PtpStatus> => {
    let s = await ask(ns, name)
    for (const end = Date.now() + 10_000; !ok(s) && Date.now() < end; s = await ask(ns, name)) await new Promise((r) => setTimeout(r, 100))
    return s
  }
  const m = await waitFor(nsA, 'a', (s) => s.health === 'master')
  t.equal(m.health, 'master', `the first ptp4l is the grandmaster (${m.portState})`)
  const slave = await waitFor(nsB, 'b', (s) => s.portState === 'UNCALIBRATED' && s.gmPresent)
  t.equal(slave.health, 'unlocked', `the slave hears it and measures ${slave.masterOffsetNs} ns, unlocked (${slave.portState})`)
  const monitor = new PtpMonitor()
  t.equal(monitor.check(slave)?.cause, 'ptp-unlocked', 'an unlocked clock is the fault ptp-unlocked')
  master.kill('SIGKILL')
  const lost = await waitFor(nsB, 'b', (s) => s.health === 'lost')
  t.equal(lost.health, 'lost', `the grandmaster gone, the slave is ${lost.portState}`)
  t.match(monitor.check(lost), { cause: 'ptp-lost', level: 'degrade' }, 'the fault ptp-lost: the media clock free-runs')
})
