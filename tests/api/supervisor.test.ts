// The API supervisor's schedule (firmware/api/restart-policy.ts) on a fake clock: the restart backoff,
// its reset after a healthy run, and hang detection over pings, including a stall of the main thread.
import t from 'tap'
import { Liveness, RestartBackoff, restartPolicy } from '../../firmware/api/restart-policy.ts'

t.test('the documented defaults: 100 ms doubling to 10 s, healthy after a minute, ping 1 s, hang 5 s', async (t) => {
  t.same(restartPolicy(), { initialDelayMs: 100, maxDelayMs: 10_000, healthyMs: 60_000, pingMs: 1000, hangMs: 5000, startTimeoutMs: 30_000 })
  t.equal(restartPolicy({ pingMs: 1000, hangMs: 500 }).hangMs, 2000, 'a hang is judged over at least two pings')
  t.equal(restartPolicy({ pingMs: 1 }).pingMs, 10, 'pings at most every 10 ms')
  t.equal(restartPolicy({ initialDelayMs: 500, maxDelayMs: 100 }).maxDelayMs, 500, 'the cap is never below the first delay')
})

t.test('failures in a row wait 100, 200, 400 ... ms, capped at 10 s', async (t) => {
  const b = new RestartBackoff(restartPolicy())
  let clock = 0
  const delays: number[] = []
  for (let i = 0; i < 10; i++) {
    b.down(50) // each worker fails 50 ms after it was ready
    const d = b.take()
    delays.push(d)
    clock += d + 50
  }
  t.same(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000])
  t.equal(b.nextDelayMs, 10_000)
  t.ok(clock < 60_000, `all of it in ${clock} ms of fake time`)
})

t.test('a restart that fails to start waits the next step without a worker going down', async (t) => {
  const b = new RestartBackoff(restartPolicy())
  b.down(10)
  t.equal(b.take(), 100)
  // the attempt failed (port taken): scheduled again without down()
  t.equal(b.take(), 200)
  t.equal(b.take(), 400)
})

t.test('a worker that served a minute before it failed restarts fast again; a shorter run does not reset', async (t) => {
  const b = new RestartBackoff(restartPolicy())
  for (let i = 0; i < 6; i++) {
    b.down(100)
    b.take()
  }
  t.equal(b.nextDelayMs, 6400)
  b.down(59_999)
  t.equal(b.nextDelayMs, 6400, '59.999 s is not healthy')
  b.take()
  b.down(60_000)
  t.equal(b.nextDelayMs, 100, 'a minute is')
  t.equal(b.take(), 100)
  t.equal(b.nextDelayMs, 200)
})

t.test('a worker that answers its pings is never hung; one silent for more than hangMs is', async (t) => {
  const l = new Liveness(1000, 5000, 0)
  let pong = 0
  for (let now = 1000; now <= 20_000; now += 1000) {
    const v = l.tick(now, pong)!
    t.equal(v.hung, false)
    pong = now + 3 // answers a few ms after each ping
  }
  let hungAt = -1
  for (let now = 21_000; now <= 40_000 && hungAt < 0; now += 1000) {
    if (l.tick(now, pong)!.hung) hungAt = now
  }
  t.equal(hungAt, 26_000, 'the first tick more than 5 s after the last pong (at 20.003 s)')
})

t.test('after a stall of the main thread the worker gets a fresh hangMs (its pongs were queued behind us)', async (t) => {
  const l = new Liveness(1000, 5000, 0)
  t.equal(l.tick(1000, 1000)!.hung, false)
  const late = l.tick(9000, 1000)! // this thread was blocked 8 s: the pongs could not be read
  t.equal(late.hung, false, 'not judged on a stall of our own')
  t.equal(late.lastPong, 9000, 'the clock starts again now')
  for (let now = 10_000; now <= 14_000; now += 1000) t.equal(l.tick(now, late.lastPong)!.hung, false, `${now - 9000} ms after the stall`)
  t.equal(l.tick(15_000, late.lastPong)!.hung, true, 'still silent 6 s after the stall, ticking on time: hung')
})

t.test('with no worker serving, ticks only keep time', async (t) => {
  const l = new Liveness(1000, 5000, 0)
  t.equal(l.tick(1000, null), null)
  t.equal(l.tick(2000, 2000)!.hung, false)
})
