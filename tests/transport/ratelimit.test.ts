// The one rate limiter every transport uses (API per certificate, OSC per source address): a token
// bucket per client, on an injected clock.
import t from 'tap'
import { FirmwareError } from '../../firmware/errors.ts'
import { ClientRateLimiter } from '../../firmware/transport/ratelimit.ts'

function clock(): { now: () => number; advance(ms: number): void } {
  let ms = 1000
  return {
    now: () => ms,
    advance: (d) => {
      ms += d
    },
  }
}

t.test('a new client gets its whole burst at once, then waits 1/rate s for the next', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 10, burst: 5 }, c.now)
  for (let i = 0; i < 5; i++) t.equal(l.take('a'), 0, `request ${i + 1} of the burst`)
  t.equal(l.take('a'), 0.1, 'the sixth waits exactly one token time')
  c.advance(99)
  t.ok(l.take('a') > 0, 'still dry 1 ms before the token')
  c.advance(101)
  t.equal(l.take('a'), 0, 'allowed once the token has refilled')
})

t.test('refusals cost nothing: a client hammering while dry is allowed as soon as a token refills', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 2, burst: 1 }, c.now)
  t.equal(l.take('a'), 0)
  for (let i = 0; i < 50; i++) {
    c.advance(1)
    t.ok(l.take('a') > 0)
  }
  c.advance(450)
  t.equal(l.take('a'), 0, '500 ms after the first, whatever it sent meanwhile')
})

t.test('an idle client refills to its burst, never beyond', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 50, burst: 3 }, c.now)
  for (let i = 0; i < 3; i++) l.take('a')
  c.advance(3_600_000)
  for (let i = 0; i < 3; i++) t.equal(l.take('a'), 0)
  t.ok(l.take('a') > 0, 'an hour idle still gives only the burst')
})

t.test('clients are independent', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 1, burst: 2 }, c.now)
  l.take('a')
  l.take('a')
  t.ok(l.take('a') > 0, 'a is dry')
  t.equal(l.take('b'), 0, 'b is not')
  t.equal(l.take('b'), 0)
})

t.test('a clock that steps back takes no tokens away', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 10, burst: 2 }, c.now)
  t.equal(l.take('a'), 0)
  c.advance(-5000)
  t.equal(l.take('a'), 0, 'the second token of the burst is still there')
})

t.test('a limited client stays limited while 10,000 other clients pass by', async (t) => {
  const c = clock()
  const l = new ClientRateLimiter({ perSecond: 1, burst: 5 }, c.now)
  for (let i = 0; i < 5; i++) t.equal(l.take('flooder'), 0)
  t.ok(l.take('flooder') > 0, 'dry')
  for (let i = 0; i < 10_050; i++) l.take(`other-${i}`)
  t.ok(l.take('flooder') > 0, 'still dry: many new clients do not refill it')
  c.advance(500)
  t.ok(l.take('flooder') > 0, 'still dry: many new clients do not refill it')
  c.advance(1000)
  t.equal(l.take('flooder'), 0, 'and refills on time')
})

t.test('options that would never allow a request, or never refuse one, are refused with FW_ERR_BAD_OPTION', async (t) => {
  for (const bad of [
    { perSecond: 0 },
    { perSecond: -1 },
    { perSecond: Number.NaN },
    { perSecond: Infinity },
    { burst: 0 },
    { burst: 0.5 },
    { burst: Infinity },
  ]) {
    let err: unknown = null
    try {
      new ClientRateLimiter(bad)
    } catch (e) {
      err = e
    }
    t.ok(err instanceof FirmwareError && err.code === 'FW_ERR_BAD_OPTION', `${JSON.stringify(bad)}: ${String(err)}`)
  }
})
