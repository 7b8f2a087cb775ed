import { test } from 'tap'
import { Permits } from '../../lib/outbox/permits.js'

// The worker's post slots (lib/outbox/permits.ts): granted in the order places were reserved, never more at once than
// there are permits, and a place given up (nothing to post) lets the line go on.

const tick = () => new Promise((resolve) => setImmediate(resolve))

test('a place reserved first posts first, even when a later one is ready sooner', async (t) => {
  const permits = new Permits(1)
  const order: string[] = []
  const claiming = permits.reserve()
  const kept = permits.reserve()
  // The kept lane is ready at once; the claim answers later: the kept one still waits for it.
  const keptDone = kept.run(async () => { order.push('kept') })
  await tick()
  t.same(order, [], 'the later place waits while the earlier one is still on its way')
  await claiming.run(async () => { order.push('claimed') })
  await keptDone
  t.same(order, ['claimed', 'kept'])
})

test('a place given up lets the next go; never more at once than the permits', async (t) => {
  const permits = new Permits(2)
  let running = 0
  let most = 0
  const work = async () => {
    running++
    most = Math.max(most, running)
    await tick()
    running--
  }
  const nothing = permits.reserve()
  const runs = Array.from({ length: 6 }, () => permits.reserve().run(work))
  await tick()
  t.equal(most, 0, 'the head of the line holds it until it runs or gives up')
  nothing.cancel()
  nothing.cancel()
  await Promise.all(runs)
  t.equal(most, 2, 'two at a time with two permits')
  // A permit given back by a run that threw is free again.
  await t.rejects(permits.reserve().run(async () => { throw new Error('post failed') }), /post failed/)
  await Promise.all([permits.reserve().run(work), permits.reserve().run(work)])
  t.equal(running, 0)
})
