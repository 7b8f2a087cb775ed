import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { Deadlines, type Expiring } from '../../lib/client/deadlines.js'

// The client's one timer for every attempt's deadline. Pure: no server.

function entry (deadlines: Deadlines, expired: Array<{ name: string, atMs: number }>, name: string, since = performance.now()): Expiring {
  const item: Expiring = {
    deadline: 0,
    next: undefined,
    settled: false,
    expire () {
      expired.push({ name, atMs: performance.now() - since })
      deadlines.settle(item)
    }
  }
  return item
}

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

test('each entry expires at its own deadline, in order, and no earlier', async (t) => {
  const deadlines = new Deadlines(60)
  const expired: Array<{ name: string, atMs: number }> = []
  const started = performance.now()
  deadlines.add(entry(deadlines, expired, 'a', started))
  await sleep(20)
  deadlines.add(entry(deadlines, expired, 'b', started))
  await sleep(20)
  deadlines.add(entry(deadlines, expired, 'c', started))
  await sleep(120)
  t.same(expired.map(({ name }) => name), ['a', 'b', 'c'])
  for (const [i, { name, atMs }] of expired.entries()) {
    const due = 60 + 20 * i
    t.ok(atMs >= due - 1, `${name} expired at ${atMs.toFixed(1)} ms, not before its deadline (${due} ms)`)
    t.ok(atMs < due + 500, `${name} expired at ${atMs.toFixed(1)} ms, soon after its deadline (${due} ms)`)
  }
  t.equal(deadlines.pending, 0)
})

test('a settled entry never expires, whether it was first, in the middle or last', async (t) => {
  const deadlines = new Deadlines(30)
  const expired: Array<{ name: string, atMs: number }> = []
  const items = ['a', 'b', 'c', 'd'].map((name) => entry(deadlines, expired, name))
  for (const item of items) deadlines.add(item)
  deadlines.settle(items[0]!)
  deadlines.settle(items[2]!)
  deadlines.settle(items[2]!)
  t.equal(deadlines.pending, 2, 'settling twice counts once')
  await sleep(80)
  t.same(expired.map(({ name }) => name), ['b', 'd'])
})

test('no timer is left once nothing is pending, so a process that made its calls can exit', async (t) => {
  const before = timers()
  const deadlines = new Deadlines(10_000)
  const expired: Array<{ name: string, atMs: number }> = []
  const items = ['a', 'b'].map((name) => entry(deadlines, expired, name))
  for (const item of items) deadlines.add(item)
  t.equal(timers(), before + 1, 'one timer for two entries')
  for (const item of items) deadlines.settle(item)
  t.equal(timers(), before, 'the timer is cleared with the last entry')
  // Used again after it emptied: a timer is armed anew.
  const again = entry(deadlines, expired, 'again')
  deadlines.add(again)
  t.equal(timers(), before + 1)
  deadlines.settle(again)
  t.equal(timers(), before)
  t.same(expired, [])
})

test('entries added while others expire keep their own deadline', async (t) => {
  const deadlines = new Deadlines(25)
  const expired: Array<{ name: string, atMs: number }> = []
  const started = performance.now()
  const first = entry(deadlines, expired, 'first', started)
  first.expire = () => {
    expired.push({ name: 'first', atMs: performance.now() - started })
    deadlines.settle(first)
    deadlines.add(entry(deadlines, expired, 'added on expiry', started))
  }
  deadlines.add(first)
  await sleep(100)
  t.same(expired.map(({ name }) => name), ['first', 'added on expiry'])
  t.ok(expired[1]!.atMs >= 49, `the one added at ~25 ms expired at ${expired[1]!.atMs.toFixed(1)} ms`)
})
