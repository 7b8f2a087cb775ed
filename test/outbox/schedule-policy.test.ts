import { test } from 'tap'
import { backoffMs, decide, expired, type PolicySettings } from '../../lib/outbox/schedule-policy.js'

const MINUTE = 60_000
const settings = (random = 0.5): PolicySettings => ({
  maxAgeMs: 24 * 60 * MINUTE,
  backoffMinMs: 1000,
  backoffMaxMs: 5 * MINUTE,
  slowChatwootMs: 30_000,
  probeMs: 5 * MINUTE,
  random: () => random
})
const young = { attempts: 1, ageMs: 1000 }
const failure = (code: string, message = `failed with ${code}`) => ({ code, message })

test('429, 5xx and network failures back off with jitter, doubling per attempt up to the cap', async (t) => {
  for (const code of ['FST_CHATWOOT_RATE_LIMITED', 'FST_CHATWOOT_SERVER', 'FST_CHATWOOT_NETWORK']) {
    const decision = decide(failure(code), young, settings(0))
    t.equal(decision.action, 'retry', `${code} is retried`)
    t.equal((decision as { delayMs: number }).delayMs, 500, `${code}: the first delay is at least half the first step`)
  }
  t.equal(backoffMs(1, settings(0.999999)), 1000, 'never more than the step')
  t.equal(backoffMs(3, settings(0)), 2000, 'third attempt: half of 4 s at the least')
  t.equal(backoffMs(40, settings(1)), 5 * MINUTE, 'capped at backoffMaxMs, even after many attempts')
  const spread = new Set([0, 0.25, 0.5, 0.75].map((random) => backoffMs(4, settings(random))))
  t.equal(spread.size, 4, 'the jitter spreads replicas that failed together')
})

test('an unknown failure (a database hiccup) is retried with backoff, never dropped', async (t) => {
  const decision = decide({ message: 'connection terminated' }, young, settings())
  t.equal(decision.action, 'retry')
  t.match((decision as { reason: string }).reason, /unclassified/)
})

test('a timeout waits long enough for a slow Chatwoot to finish, then the next attempt checks before posting', async (t) => {
  const decision = decide(failure('FST_CHATWOOT_TIMEOUT'), young, settings())
  t.same(decision.action, 'retry')
  t.equal((decision as { delayMs: number }).delayMs, 30_000, 'slowChatwootMs, whatever the attempt')
})

test('422 "Too many messages" waits for the conversation\'s minute window, never for an assumed limit', async (t) => {
  const known = decide(failure('FST_CHATWOOT_TOO_MANY_MESSAGES'), { ...young, windowWaitMs: 12_345 }, settings(0))
  t.same(known, { action: 'retry', delayMs: 12_345, reason: 'FST_CHATWOOT_TOO_MANY_MESSAGES: waiting for the conversation\'s minute window' })
  const unknown = decide(failure('FST_CHATWOOT_TOO_MANY_MESSAGES'), young, settings(0))
  t.equal((unknown as { delayMs: number }).delayMs, MINUTE, 'no database to read: a whole minute')
  const jittered = decide(failure('FST_CHATWOOT_TOO_MANY_MESSAGES'), { ...young, windowWaitMs: 0 }, settings(0.5))
  t.equal((jittered as { delayMs: number }).delayMs, 500, 'spread over a second')
})

test('a wrong token or account pauses the instance, to be probed after probeMs', async (t) => {
  for (const code of ['FST_CHATWOOT_UNAUTHORIZED', 'FST_CHATWOOT_NOT_FOUND', 'FST_CHATWOOT_INSTANCE_NOT_FOUND', 'FST_CHATWOOT_INSTANCE_CONFIG_INVALID']) {
    const decision = decide(failure(code, 'Chatwoot answered 401: Invalid Access Token'), young, settings())
    t.equal(decision.action, 'pause', code)
    t.equal((decision as { delayMs: number }).delayMs, 5 * MINUTE)
  }
})

test('other 4xx and undeliverable input are dead at once, with Chatwoot\'s reason', async (t) => {
  for (const code of ['FST_CHATWOOT_VALIDATION', 'FST_CHATWOOT_BAD_REQUEST', 'FST_CHATWOOT_INPUT_INVALID', 'FST_CHATWOOT_DELIVERY_INVALID', 'FST_CHATWOOT_OUTBOX_GAVE_UP']) {
    const decision = decide(failure(code, 'answered 422: Validation failed: Content is too long'), young, settings())
    t.same(decision, { action: 'dead', reason: `${code}: answered 422: Validation failed: Content is too long` }, code)
  }
})

test('maxAge wins over every cause: dead, with the last failure as its reason', async (t) => {
  const old = { attempts: 9, ageMs: 24 * 60 * MINUTE }
  for (const code of ['FST_CHATWOOT_SERVER', 'FST_CHATWOOT_TIMEOUT', 'FST_CHATWOOT_TOO_MANY_MESSAGES', 'FST_CHATWOOT_UNAUTHORIZED']) {
    const decision = decide(failure(code, 'the cause'), old, settings())
    t.equal(decision.action, 'dead', code)
    t.match((decision as { reason: string }).reason, new RegExp(`^maxAge: .*${code}: the cause`))
  }
  const nearly = decide(failure('FST_CHATWOOT_TIMEOUT'), { attempts: 2, ageMs: 24 * 60 * MINUTE - 1000 }, settings())
  t.same(nearly.action, 'retry')
  t.equal((nearly as { delayMs: number }).delayMs, 1000, 'the last try falls at maxAge, not after it')
  const paused = decide(failure('FST_CHATWOOT_UNAUTHORIZED'), { attempts: 1, ageMs: 24 * 60 * MINUTE - 1000 }, settings())
  t.same(paused, { action: 'pause', delayMs: 5 * MINUTE, reason: 'FST_CHATWOOT_UNAUTHORIZED: failed with FST_CHATWOOT_UNAUTHORIZED' },
    'a pause is the instance\'s: not cut short by an entry\'s maxAge (the chores declare its entries dead then, unattempted)')
  t.ok(expired(24 * 60 * MINUTE, settings()))
  t.notOk(expired(24 * 60 * MINUTE - 1, settings()))
})

test('a lost lease is left to the worker that has the lane, even past maxAge', async (t) => {
  const decision = decide(failure('FST_CHATWOOT_OUTBOX_LEASE_LOST'), { attempts: 1, ageMs: 48 * 60 * MINUTE }, settings())
  t.equal(decision.action, 'abandon')
})
