// The audio thread allocates nothing and takes no lock after start: the engine's own object
// files (the ones linked into engine.node by `npm run build:addon`, minus the N-API bindings) are
// linked with a small program (addons/tests/alloc_count.cc) whose malloc family, operator
// new/delete and pthread lock calls count calls made on the engine's audio and DOA threads. It
// runs the full chain for 4000 blocks while another thread fires every kind of command,
// crossfade and fault at it (spin, NaN, audio stall), with the sentinel thread watching, writing
// its heartbeat and feeding a watchdog (files stand in for the tty and the device). The aes67 mode
// runs the network backend with real loopback packets in and out (docs/aes67.md). Tracking is on
// (issue 17): the DOA thread also runs the multi-peak localiser and fills the peak ring.

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../../firmware/board/profile.ts'

const src = join(repoRoot, 'addons', 'src')
const objDir = join(repoRoot, 'addons', 'build', 'Release', 'obj.target', 'engine', 'src')

/** Every object of the engine core, DSP, features and backends; not the bindings or the module entry. */
function engineObjects(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    if (d.isDirectory()) return engineObjects(p)
    return d.name.endsWith('.o') && d.name !== 'addon.o' && !d.name.includes('binding') ? [p] : []
  })
}

interface Result {
  churns: number
  rxPackets: number
  rxLost: number
  rxMalformed: number
  rxUnderruns: number
  txPackets: number
  switches: number
  interposerWorks: boolean
  blocks: number
  audioThreadAllocs: number
  audioThreadFrees: number
  audioThreadLocks: number
  sentinelHeartbeats: number
  sentinelStalls: number
  watchdogFeeds: number
  tracking: boolean
  peakFrames: number
}

t.test('the audio thread makes no allocation and takes no lock once started', async (t) => {
  t.ok(existsSync(objDir), 'the addon is built (npm run build:addon)')
  const dir = t.testdir()
  const main = join(dir, 'alloc_count.o')
  const bin = join(dir, 'alloc_count')
  const compiled = spawnSync('g++', ['-std=c++17', '-O1', '-pthread', `-I${src}`, '-c', join(repoRoot, 'addons', 'tests', 'alloc_count.cc'), '-o', main], {
    encoding: 'utf8',
  })
  t.equal(compiled.status, 0, `the counting program compiles${compiled.status ? `: ${compiled.stderr}` : ''}`)
  // A shared lock on the build lock: no addon build rewrites the objects while we link them.
  const linked = spawnSync(
    'flock',
    ['-s', join(repoRoot, 'addons', '.build.lock'), 'g++', '-pthread', main, ...engineObjects(objDir), '-lasound', '-lopus', '-ldl', '-o', bin],
    { encoding: 'utf8' },
  )
  t.equal(linked.status, 0, `it links with the engine's objects${linked.status ? `: ${linked.stderr}` : ''}`)
  if (compiled.status !== 0 || linked.status !== 0) return
  for (const mode of ['sim', 'file', 'aes67']) {
    // aes67 is paced by the clock: 1500 blocks are 2 s of network audio.
    const blocks = mode === 'aes67' ? 1500 : 4000
    const r = spawnSync(bin, [mode, dir, String(blocks)], { encoding: 'utf8', timeout: 60_000 })
    t.equal(r.status, 0, `${mode} backend run passes: ${r.stdout.trim()} ${r.stderr.trim()}`)
    const result = JSON.parse(r.stdout) as Result
    t.ok(result.interposerWorks, 'the counters see an allocation and a lock made on a marked thread')
    t.ok(result.blocks >= blocks, `${result.blocks} blocks ran`)
    t.equal(result.audioThreadAllocs, 0, `${mode}: no allocation on the audio thread`)
    t.equal(result.audioThreadFrees, 0, `${mode}: no free on the audio thread`)
    t.equal(result.audioThreadLocks, 0, `${mode}: no lock taken or waited on by the audio thread`)
    // Issue 17: the DOA thread (marked like the audio thread) ran the multi-peak localiser too.
    t.ok(result.tracking && result.peakFrames > 0, `${mode}: tracking on, ${result.peakFrames} localiser frames drained`)
    if (mode === 'aes67') {
      // The network paths ran: packets in (with losses, malformed ones and underruns) and out.
      t.ok(result.rxPackets > 1000, `${result.rxPackets} packets received`)
      t.ok(result.rxLost > 0 && result.rxMalformed > 0, `${result.rxLost} lost and ${result.rxMalformed} malformed`)
      t.ok(result.rxUnderruns > 0, `${result.rxUnderruns} underruns (the sender stalls)`)
      t.ok(result.txPackets > 1000, `${result.txPackets} packets sent`)
      t.ok(result.switches > 0, `${result.switches} failover switches between the input's two sources`)
      // docs/aes67.md "Streams at run time": streams added and removed while the audio thread ran.
      t.ok(result.churns > 3, `${result.churns} cycles of a receive source, a third failover source and a transmit stream added and removed while running`)
    }
    if (mode === 'sim') {
      // The sentinel thread is marked too, so the three checks above cover it: it ran, wrote
      // heartbeats, saw the injected audio stalls and fed the watchdog.
      t.ok(result.sentinelHeartbeats > 0, `the sentinel wrote ${result.sentinelHeartbeats} heartbeats`)
      t.ok(result.sentinelStalls > 0, `and declared ${result.sentinelStalls} audio stalls (injected)`)
      t.ok(result.watchdogFeeds > 0, `and fed the watchdog ${result.watchdogFeeds} times`)
    }
  }
})
