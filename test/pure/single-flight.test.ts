// SingleFlight: concurrent callers of one key share one run; failures are shared, then forgotten.
// (test/conversations/bounds.test.ts checks only that flights leave nothing behind.) Pure.
import { test } from 'tap'
import { SingleFlight } from '../../lib/single-flight.js'

function deferred<T> () {
  let settle!: { resolve: (value: T) => void, reject: (error: unknown) => void }
  const promise = new Promise<T>((resolve, reject) => { settle = { resolve, reject } })
  return { promise, ...settle }
}

test('callers of one key share one run and its answer; other keys run on their own', async (t) => {
  const flights = new SingleFlight<string, number>()
  const gate = deferred<number>()
  let runs = 0
  const work = () => { runs++; return gate.promise }
  const a = flights.run('k', work)
  const b = flights.run('k', work)
  const other = flights.run('other', async () => 7)
  t.equal(a, b, 'the same promise')
  t.ok(flights.has('k'))
  t.equal(flights.size, 2)
  gate.resolve(42)
  t.same(await Promise.all([a, b, other]), [42, 42, 7])
  t.equal(runs, 1, 'the work ran once')
  t.equal(flights.size, 0)
})

test('the work starts after run returns, so a synchronous throw is a rejection', async (t) => {
  const flights = new SingleFlight<string, number>()
  let started = false
  const flight = flights.run('k', () => { started = true; throw new Error('boom') })
  t.notOk(started, 'not started synchronously')
  await t.rejects(flight, { message: 'boom' })
})

test('a failure reaches every waiting caller, then the next call starts afresh', async (t) => {
  const flights = new SingleFlight<string, number>()
  const gate = deferred<number>()
  const first = flights.run('k', () => gate.promise)
  const second = flights.run('k', async () => 1)
  gate.reject(new Error('down'))
  await t.rejects(first, { message: 'down' })
  await t.rejects(second, { message: 'down' }, 'the joiner got the same failure, its own work never ran')
  t.notOk(flights.has('k'))
  t.equal(await flights.run('k', async () => 2), 2, 'a fresh run after the failure')
})

test('forget: the next run does not join the old flight, and the old one does not remove the new', async (t) => {
  const flights = new SingleFlight<string, string>()
  const old = deferred<string>()
  const stale = flights.run('k', () => old.promise)
  flights.forget('k')
  t.notOk(flights.has('k'))
  const fresh = deferred<string>()
  const current = flights.run('k', () => fresh.promise)
  t.not(current, stale)
  old.resolve('old')
  t.equal(await stale, 'old')
  t.ok(flights.has('k'), 'the old flight settling left the new one in place')
  fresh.resolve('new')
  t.equal(await current, 'new')
  t.notOk(flights.has('k'))
})

test('settled waits for every running flight, whatever its outcome', async (t) => {
  const flights = new SingleFlight<number, number>()
  const slow = deferred<number>()
  const failing = deferred<number>()
  const a = flights.run(1, () => slow.promise)
  const b = flights.run(2, () => failing.promise)
  b.catch(() => {})
  let done = false
  const all = flights.settled().then(() => { done = true })
  failing.reject(new Error('x'))
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(done, 'still waiting for the slow one')
  slow.resolve(1)
  await all
  t.ok(done)
  t.equal(await a, 1)
  await t.resolves(new SingleFlight().settled(), 'nothing running: settles at once')
})
