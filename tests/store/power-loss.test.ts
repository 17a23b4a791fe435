// Power loss, as near as a test can get: a child process writes presets and config and is
// SIGKILLed at random moments (after a random number of writes, at a random point inside the next); after every kill the store must load a valid state, either the last
// acknowledged write of each document, the one before it, or the write that was in flight.

import { spawn } from 'node:child_process'
import t from 'tap'
import { openStore } from '../../firmware/store/index.ts'
import { rng as mulberry32 } from '../helpers/rng.ts'

const WRITES = 1000
const writer = new URL('./fixtures/power-loss-writer.ts', import.meta.url).pathname

const docOf = (i: number): string => (i % 2 === 0 ? `p${(i / 2) % 4}` : 'config')

/**
 * Runs the writer from `start` and SIGKILLs it once `afterAcks` writes have been acknowledged, at a
 * random point within the next write (a fraction `within` of the mean write time so far).
 * Resolves the acknowledged sequence numbers.
 */
function runAndKill(dataDir: string, start: number, afterAcks: number, within: number): Promise<{ acked: number[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dataDir, String(start), String(start + 400)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let readyAt = 0
    let armed = false
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (!readyAt && out.includes('ready\n')) readyAt = performance.now()
      const acks = out.split('\n').filter((l) => /^\d+$/.test(l)).length
      if (readyAt && !armed && acks >= afterAcks) {
        armed = true
        const mean = acks > 0 ? (performance.now() - readyAt) / acks : 2
        setTimeout(() => child.kill('SIGKILL'), within * mean)
      }
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) return reject(new Error(`writer failed (${code}): ${err}`))
      const acked = out
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number)
      resolve({ acked, killed: signal === 'SIGKILL' })
    })
  })
}

t.test(`the store loads a valid state after every SIGKILL during ${WRITES} preset and config writes`, async (t) => {
  const seed = Number(process.env.POWER_LOSS_SEED ?? Date.now() % 100000)
  const rand = mulberry32(seed)
  t.comment(`seed ${seed} (set POWER_LOSS_SEED to repeat)`)
  const dir = t.testdir({})
  // Per document, every acknowledged sequence number in order.
  const history = new Map<string, number[]>()
  let next = 0
  let kills = 0
  let inFlightLanded = 0
  let fellBack = 0
  let total = 0
  while (total < WRITES) {
    const { acked, killed } = await runAndKill(dir, next, Math.floor(rand() * 40), rand())
    total += acked.length
    for (const i of acked) {
      const h = history.get(docOf(i)) ?? []
      h.push(i)
      history.set(docOf(i), h)
    }
    const last = acked.length ? acked[acked.length - 1]! : next - 1
    const inFlight = last + 1
    if (killed) kills++
    const check = (doc: string, value: number | undefined): void => {
      const h = history.get(doc) ?? []
      const allowed = new Set(h.slice(-2))
      if (docOf(inFlight) === doc) allowed.add(inFlight)
      if (value === inFlight && !h.includes(inFlight)) inFlightLanded++
      if (value === undefined ? h.length > 0 : !allowed.has(value)) {
        t.fail(`after kill ${kills}: ${doc} loaded ${value}, expected one of ${[...allowed].join(', ')}`)
      }
    }
    // Config: must be the real thing, never the defaults (the defaults mean both copies were lost).
    const warnings: string[] = []
    const store = openStore(dir, (level, msg) => {
      if (level === 'warn') warnings.push(msg)
    })
    const cfg = await store.config.load()
    if (warnings.some((w) => /default config/.test(w))) t.fail(`after kill ${kills}: config fell back to defaults: ${warnings.join('; ')}`)
    check('config', cfg.inputTrimDb[0])
    for (const name of ['p0', 'p1', 'p2', 'p3']) {
      const list = await store.presets.list()
      const value = list.some((p) => p.name === name) ? (await store.presets.load(name)).inputTrimDb[0] : undefined
      check(name, value)
    }
    if (warnings.length) fellBack++
    next = inFlight
  }
  t.ok(kills >= 25, `killed the writer ${kills} times`)
  t.comment(
    `power-loss: ${total} acknowledged writes, ${kills} SIGKILLs, every reload valid; ` +
      `${inFlightLanded} reloads found the in-flight write already landed, ${fellBack} fell back to last-known-good`,
  )
})
