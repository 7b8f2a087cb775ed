// RecoveryBreaker: failed recoveries within a window open it for a cooldown, per instance.
// test/conversations/bounds.test.ts checks its bounds; this checks the policy. Pure: `now` is given.
import { test } from 'tap'
import { RecoveryBreaker } from '../../lib/conversations/breaker.js'

const T = 1_000_000

test('defaults: five failures within 60 s open it for 30 s', async (t) => {
  const breaker = new RecoveryBreaker()
  for (let i = 0; i < 4; i++) breaker.failed('a', T + i * 10_000)
  t.notOk(breaker.isOpen('a', T + 40_000), 'four are not enough')
  breaker.failed('a', T + 50_000)
  t.ok(breaker.isOpen('a', T + 50_000), 'the fifth within the window opens it')
  t.ok(breaker.isOpen('a', T + 79_999))
  t.notOk(breaker.isOpen('a', T + 80_000), 'closed after 30 s')
})

test('the window slides: failures older than windowMs stop counting', async (t) => {
  const breaker = new RecoveryBreaker({ failures: 3, windowMs: 1000, cooldownMs: 500 })
  breaker.failed('a', T)
  breaker.failed('a', T + 600)
  breaker.failed('a', T + 1000) // the first is now windowMs old: it no longer counts
  t.notOk(breaker.isOpen('a', T + 1000))
  breaker.failed('a', T + 1100)
  t.ok(breaker.isOpen('a', T + 1100), 'three within the last second')
})

test('instances are separate; a success clears the count', async (t) => {
  const breaker = new RecoveryBreaker({ failures: 2, windowMs: 1000, cooldownMs: 500 })
  breaker.failed('a', T)
  breaker.failed('b', T)
  t.notOk(breaker.isOpen('a', T), 'one failure each opens neither')
  breaker.succeeded('a')
  breaker.failed('a', T + 1)
  t.notOk(breaker.isOpen('a', T + 1), 'the failure before the success does not count')
  breaker.failed('b', T + 1)
  t.ok(breaker.isOpen('b', T + 1))
  t.notOk(breaker.isOpen('a', T + 1), 'b opening leaves a closed')
})

test('after the cooldown the count starts from zero', async (t) => {
  const breaker = new RecoveryBreaker({ failures: 2, windowMs: 10_000, cooldownMs: 100 })
  breaker.failed('a', T)
  breaker.failed('a', T + 1)
  t.ok(breaker.isOpen('a', T + 1))
  t.same(breaker.tracked, { recent: 0, open: 1 }, 'opening drops the window')
  breaker.failed('a', T + 200)
  t.notOk(breaker.isOpen('a', T + 200), 'one failure after the cooldown does not reopen it')
  breaker.failed('a', T + 201)
  t.ok(breaker.isOpen('a', T + 201))
})
