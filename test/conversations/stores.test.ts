import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { type Test, test } from 'tap'
import { ConversationCache } from '../../lib/conversations/conversation-cache.js'
import { GuardedStore, type StoreHealth, StoreUnavailableError } from '../../lib/conversations/guarded-store.js'
import { conversationKeys } from '../../lib/conversations/keys.js'
import { MemoryStore } from '../../lib/conversations/memory-store.js'
import { RedisStore } from '../../lib/conversations/redis-store.js'
import type { CachedConversation, Claim, ConversationStore } from '../../lib/conversations/store.js'

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const OLD: CachedConversation = { conversationId: 7, contactId: 3 }
const FRESH: CachedConversation = { conversationId: 8, contactId: 3 }
const LONG = 60_000

/** A Redis client for one test; every key under `prefix` is deleted and the client closed at teardown. */
function redisFor (t: Test, prefix: string): Redis {
  const redis = new Redis(REDIS)
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return redis
}

interface Subject {
  store: ConversationStore
  /** Unique to the test: keys under it are the test's own. */
  prefix: string
}

const subjects: Array<[string, (t: Test) => Subject]> = [
  ['RedisStore', (t) => {
    const prefix = `t${randomUUID()}:`
    return { store: new RedisStore(redisFor(t, prefix), `${prefix}channel`), prefix }
  }],
  ['MemoryStore', () => ({ store: new MemoryStore(), prefix: `t${randomUUID()}:` })]
]

for (const [name, make] of subjects) {
  test(`${name}: get and set, with a ttl that expires`, async (t) => {
    const { store, prefix } = make(t)
    t.equal(await store.get(`${prefix}missing`), undefined, 'a missing key reads undefined')
    await store.set(`${prefix}long`, OLD, LONG)
    t.same(await store.get(`${prefix}long`), OLD, 'what was set is read back')
    await store.set(`${prefix}long`, FRESH, LONG)
    t.same(await store.get(`${prefix}long`), FRESH, 'a second set replaces it')
    await store.set(`${prefix}short`, OLD, 50)
    await sleep(150)
    t.equal(await store.get(`${prefix}short`), undefined, 'an entry is gone once its ttl has passed')
    t.same(await store.get(`${prefix}long`), FRESH, 'an entry within its ttl stays')
    const token = await store.tryLock(`${prefix}lock`, LONG)
    t.ok(token, 'a lock taken')
    t.equal(await store.get(`${prefix}lock`), undefined, 'a key that holds no conversation (a lock token) reads undefined')
  })

  test(`${name}: compareAndDelete deletes only while the key still holds the value`, async (t) => {
    const { store, prefix } = make(t)
    const key = `${prefix}conversation`
    t.equal(await store.compareAndDelete(key, OLD), false, 'nothing to delete: false')
    await store.set(key, OLD, LONG)
    // This worker read OLD; another worker found it gone and wrote FRESH.
    await store.set(key, FRESH, LONG)
    t.equal(await store.compareAndDelete(key, OLD), false, 'the stale value is not deleted: false')
    t.same(await store.get(key), FRESH, 'the fresh value another worker wrote survives')
    t.equal(await store.compareAndDelete(key, { conversationId: 8, contactId: 4 }), false, 'the same conversation with another contact is another value')
    t.same(await store.get(key), FRESH, 'still there')
    t.equal(await store.compareAndDelete(key, FRESH), true, 'the current value is deleted: true')
    t.equal(await store.get(key), undefined, 'gone')
    t.equal(await store.compareAndDelete(key, FRESH), false, 'deleting again: false')
  })

  test(`${name}: tryLock is exclusive, unlock needs the owner's token, an expired lock can be taken`, async (t) => {
    const { store, prefix } = make(t)
    const key = `${prefix}lock`
    const tokens = await Promise.all(Array.from({ length: 100 }, () => store.tryLock(key, LONG)))
    const taken = tokens.filter((token): token is string => token !== undefined)
    t.equal(taken.length, 1, '100 concurrent tryLock: exactly one token')
    const owner = taken[0]!
    t.equal(await store.tryLock(key, LONG), undefined, 'a later tryLock is refused while it is held')

    await store.unlock(key, 'not-the-owner')
    t.equal(await store.tryLock(key, LONG), undefined, 'a wrong token leaves the lock in place')
    await store.unlock(key, owner)
    const next = await store.tryLock(key, LONG)
    t.ok(next, 'the owner\'s unlock frees it')
    t.not(next, owner, 'a new holder gets a new token')

    const expiring = `${prefix}expiring`
    const first = await store.tryLock(expiring, 50)
    t.ok(first, 'a short lock taken')
    await sleep(150)
    const second = await store.tryLock(expiring, LONG)
    t.ok(second, 'once it expired another holder takes it')
    t.not(second, first, 'with its own token')
    await store.unlock(expiring, first!)
    t.equal(await store.tryLock(expiring, LONG), undefined, 'the first holder\'s late unlock does not free the new holder\'s lock')
  })

  test(`${name}: claim, settle and release`, async (t) => {
    const { store, prefix } = make(t)
    const key = `${prefix}claim`
    t.same(await store.claim(key, LONG), { claimed: true }, 'the first claim wins')
    t.same(await store.claim(key, LONG), { claimed: false, messageId: undefined }, 'a second claim is refused, no message id yet')
    await store.settle(key, 42, LONG)
    t.same(await store.claim(key, LONG), { claimed: false, messageId: 42 }, 'once settled a refused claim tells the message id')
    await store.release(key)
    t.same(await store.claim(key, LONG), { claimed: true }, 'after a release the source_id can be claimed again')

    const raced = `${prefix}raced`
    const claims: Claim[] = await Promise.all(Array.from({ length: 100 }, () => store.claim(raced, LONG)))
    t.equal(claims.filter((claim) => claim.claimed).length, 1, '100 concurrent claims: exactly one wins')

    const expiring = `${prefix}expiring`
    t.same(await store.claim(expiring, 50), { claimed: true }, 'a short claim')
    await sleep(150)
    t.same(await store.claim(expiring, LONG), { claimed: true }, 'an expired claim can be claimed again')
  })
}

test('MemoryStore: announce and listen are no-ops that resolve', async (t) => {
  const store: ConversationStore = new MemoryStore()
  const stop = await store.listen(() => t.fail('a memory store has no other process to hear from'))
  await store.announce('key')
  await stop()
  t.pass('announce and stop resolved')
})

/** Resolves once at least (or at most) `count` connections subscribe to `channel` (listen() does not await its subscribe). */
async function subscribers (redis: Redis, channel: string, count: number, bound: 'at least' | 'at most' = 'at least'): Promise<void> {
  for (;;) {
    const [, subscribed] = await redis.pubsub('NUMSUB', channel) as [string, number]
    if (bound === 'at least' ? Number(subscribed) >= count : Number(subscribed) <= count) return
    await sleep(10)
  }
}

test('RedisStore: an announcement reaches the other stores on the channel, not the sender\'s own listener', async (t) => {
  const prefix = `t${randomUUID()}:`
  const channel = `${prefix}conversations`
  const one = new RedisStore(redisFor(t, prefix), channel)
  const twoRedis = redisFor(t, `${prefix}two:`)
  const two = new RedisStore(twoRedis, channel)
  const elsewhere = new RedisStore(redisFor(t, `${prefix}elsewhere:`), `${prefix}another-channel`)
  const heard: Record<'one' | 'two' | 'elsewhere', string[]> = { one: [], two: [], elsewhere: [] }
  const waiters: Array<() => void> = []
  const listener = (who: keyof typeof heard) => (key: string) => {
    heard[who].push(key)
    for (const wake of waiters.splice(0)) wake()
  }
  const heardBy = async (who: keyof typeof heard, key: string) => {
    while (!heard[who].includes(key)) await new Promise<void>((resolve) => waiters.push(resolve))
  }
  const stops = await Promise.all([one.listen(listener('one')), two.listen(listener('two')), elsewhere.listen(listener('elsewhere'))])
  t.teardown(() => Promise.all(stops.map((stop) => stop())))
  await subscribers(twoRedis, channel, 2)

  const first = `${prefix}{acme:1:2:bob}:conversation`
  const second = `${prefix}key with spaces {x}`
  await one.announce(first)
  await heardBy('two', first)
  t.same(heard.two, [first], 'the other store hears the key')
  // Published after `first` was delivered: once `one` hears `second`, it would have heard `first` before it.
  await two.announce(second)
  await heardBy('one', second)
  t.same(heard.one, [second], 'each store hears the other\'s key and never its own')
  t.same(heard.two, [first], 'the second store did not hear its own announcement')
  t.same(heard.elsewhere, [], 'a store on another channel hears nothing')

  await stops[1]!()
  await subscribers(twoRedis, channel, 1, 'at most')
  t.pass('a stopped listener unsubscribes its connection')
  await one.announce(`${prefix}fourth`)
  await sleep(100)
  t.same(heard.two, [first], 'a stopped listener hears no more')
})

/** A store whose every call answers, hangs or fails, as told; counts the calls that reach it. */
class ScriptedStore implements ConversationStore {
  mode: 'answer' | 'hang' | 'fail' = 'answer'
  calls = 0
  listens = 0

  #call<T> (value: T): Promise<T> {
    this.calls++
    if (this.mode === 'hang') return new Promise<T>(() => {})
    if (this.mode === 'fail') return Promise.reject(new Error('ECONNRESET'))
    return Promise.resolve(value)
  }

  get () { return this.#call<CachedConversation | undefined>(OLD) }
  set () { return this.#call(undefined) }
  compareAndDelete () { return this.#call(true) }
  tryLock () { return this.#call<string | undefined>('token') }
  unlock () { return this.#call(undefined) }
  extendLock () { return this.#call(true) }
  claim () { return this.#call<Claim>({ claimed: true }) }
  settle () { return this.#call(undefined) }
  release () { return this.#call(undefined) }
  announce () { return this.#call(undefined) }
  async listen () {
    this.listens++
    return async () => {}
  }
}

function recordedHealth () {
  const seen = { failed: 0, down: [] as unknown[], up: 0 }
  const health: StoreHealth = {
    failed: () => { seen.failed++ },
    down: (error) => { seen.down.push(error) },
    up: () => { seen.up++ }
  }
  return { seen, health }
}

/** Every guarded call, with arguments. */
const calls: Array<[string, (store: ConversationStore) => Promise<unknown>]> = [
  ['get', (store) => store.get('k')],
  ['set', (store) => store.set('k', OLD, LONG)],
  ['compareAndDelete', (store) => store.compareAndDelete('k', OLD)],
  ['tryLock', (store) => store.tryLock('k', LONG)],
  ['unlock', (store) => store.unlock('k', 'token')],
  ['claim', (store) => store.claim('k', LONG)],
  ['settle', (store) => store.settle('k', 1, LONG)],
  ['release', (store) => store.release('k')],
  ['announce', (store) => store.announce('k')]
]

test('GuardedStore: a store that never answers is cut off at timeoutMs, then skipped until a probe', async (t) => {
  for (const [name, call] of calls) {
    const inner = new ScriptedStore()
    const { seen, health } = recordedHealth()
    const store = new GuardedStore(inner, { ready: () => true, timeoutMs: 50, health, probeIntervalMs: 200 })
    inner.mode = 'hang'
    const started = performance.now()
    const error = await call(store).then(() => undefined, (failure: unknown) => failure)
    const waited = performance.now() - started
    t.type(error, StoreUnavailableError, `${name}: StoreUnavailableError`)
    t.match((error as Error).cause, { message: /no answer within 50 ms/ }, `${name}: the cause tells the timeout`)
    t.ok(waited >= 45, `${name}: it waited for the timeout (${waited.toFixed(0)} ms)`)
    // Known down: the next calls do not wait again, and do not reach the store.
    for (const [, other] of calls) await t.rejects(other(store), StoreUnavailableError)
    t.equal(inner.calls, 1, `${name}: only the first call reached the store while it is known to be down`)
    t.equal(seen.failed, 1, `${name}: failed() only for the call that reached it`)
    t.equal(seen.down.length, 1, `${name}: down() once`)
    // After the probe interval one call goes through again.
    await new Promise((resolve) => setTimeout(resolve, 220))
    inner.mode = 'answer'
    await call(store)
    t.equal(inner.calls, 2, `${name}: the probe reached the store`)
    t.equal(seen.up, 1, `${name}: up() when the probe was answered`)
  }
})

test('GuardedStore: not ready fails at once without asking the store', async (t) => {
  const inner = new ScriptedStore()
  const { seen, health } = recordedHealth()
  // A timeout longer than the test's: a call that waited on it would fail the test by timing out.
  const store = new GuardedStore(inner, { ready: () => false, timeoutMs: 600_000, health })
  for (const mode of ['answer', 'hang'] as const) {
    inner.mode = mode
    for (const [name, call] of calls) {
      await t.rejects(call(store), StoreUnavailableError, `${mode}: ${name} fails with StoreUnavailableError`)
    }
  }
  t.equal(inner.calls, 0, 'the store was never called')
  t.equal(seen.failed, 0, 'skipped calls are not store failures')
  t.equal(seen.down.length, 1, 'down() once')
  t.match(seen.down[0], { message: /not connected/ }, 'down() is told why')
  await store.listen(() => {})
  t.equal(inner.listens, 1, 'listen() is passed through unguarded (ioredis subscribes once connected)')
})

test('GuardedStore: down once per outage, up once when it recovers, failed per failure', async (t) => {
  const inner = new ScriptedStore()
  const { seen, health } = recordedHealth()
  let ready = true
  // Probing on every call, so each call below reaches the store unless it is not ready.
  const store = new GuardedStore(inner, { ready: () => ready, timeoutMs: 50, health, probeIntervalMs: 0 })
  t.same(await store.get('k'), OLD, 'a healthy store answers through the guard')
  t.equal(store.healthy, true)
  t.same(seen, { failed: 0, down: [], up: 0 }, 'nothing reported while healthy')

  inner.mode = 'fail'
  await t.rejects(store.get('k'), StoreUnavailableError, 'a store error becomes StoreUnavailableError')
  inner.mode = 'hang'
  await t.rejects(store.tryLock('k', LONG), StoreUnavailableError, 'a timeout too')
  ready = false
  await t.rejects(store.set('k', OLD, LONG), StoreUnavailableError, 'and not ready too')
  t.equal(store.healthy, false, 'unhealthy')
  t.equal(seen.failed, 2, 'failed() for the error and the timeout, not for the call skipped while not ready')
  t.equal(seen.down.length, 1, 'down() once for the whole outage')
  t.match(seen.down[0], { message: 'ECONNRESET' }, 'with the first failure')
  t.equal(seen.up, 0, 'up() not yet')

  ready = true
  inner.mode = 'answer'
  t.same(await store.get('k'), OLD, 'answers again')
  await store.set('k', OLD, LONG)
  t.equal(store.healthy, true, 'healthy again')
  t.equal(seen.up, 1, 'up() once when it recovered')

  inner.mode = 'fail'
  await t.rejects(store.claim('k', LONG), StoreUnavailableError)
  await t.rejects(store.claim('k', LONG), StoreUnavailableError)
  t.equal(seen.down.length, 2, 'a second outage: down() again, once')
  inner.mode = 'answer'
  await store.release('k')
  await store.release('k')
  t.equal(seen.up, 2, 'and up() once more')
  t.equal(seen.failed, 4, 'failed() once per failure at the store in all')
})

/** Redis Cluster's rule: the text between the first '{' and the next '}', when not empty; else the whole key. */
function hashTag (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}

test('conversationKeys: escaped parts cannot collide, and one conversation\'s keys share one hash tag', async (t) => {
  const tuples: Array<[string, number, number, string]> = [
    ['acme', 1, 2, 'bob'],
    ['acme', 1, 2, 'bob:'],
    ['acme', 1, 2, 'bob}'],
    ['acme', 1, 2, '{bob}'],
    ['acme', 1, 2, 'bob}:conversation'],
    ['acme', 1, 2, '1:2:bob'],
    ['acme:1:2', 1, 2, 'bob'],
    ['acme', 1, 2, 'x}:lock'],
    ['acme:1', 2, 1, 'bob'],
    ['acme', 12, 1, 'bob'],
    ['acme', 1, 21, 'bob'],
    ['acme', 1, 2, 'bob:claim:s'],
    ['acme}', 1, 2, 'bob'],
    ['{acme', 1, 2, 'bob'],
    ['acme', 1, 2, '%3A'],
    ['acme', 1, 2, ':'],
    ['acme', 1, 2, ''],
    ['', 1, 2, 'bob']
  ]
  const owners = new Map<string, string>()
  const tags = new Map<string, string>()
  for (const tuple of tuples) {
    const keys = conversationKeys('fcw:', ...tuple)
    const label = JSON.stringify(tuple)
    const all = [keys.conversation, keys.lock, keys.claim('s'), keys.claim('s:x'), keys.claim('s}'), keys.claim('{s')]
    for (const key of all) {
      t.ok(key.startsWith('fcw:'), `${label}: ${key} starts with the prefix`)
      const owner = owners.get(key)
      if (owner !== undefined) t.fail(`${key} of ${label} is also a key of ${owner}`)
      owners.set(key, label)
    }
    t.equal(new Set(all).size, all.length, `${label}: its conversation, lock and claim keys differ`)
    const tag = hashTag(keys.conversation)
    t.ok(all.every((key) => hashTag(key) === tag), `${label}: every key shares the hash tag {${tag}}`)
    t.not(tag, keys.conversation, `${label}: the key has a hash tag`)
    const other = tags.get(tag)
    if (other !== undefined) t.fail(`${label} has the hash tag of ${other}`)
    tags.set(tag, label)
  }
  t.equal(owners.size, tuples.length * 6, 'no key is shared by two contacts')
  t.equal(tags.size, tuples.length, 'each contact has its own hash tag')
  t.not(conversationKeys('a:', 'acme', 1, 2, 'bob').conversation, conversationKeys('b:', 'acme', 1, 2, 'bob').conversation,
    'the prefix separates apps sharing a Redis')
})

function counter () {
  const counts = { lockWaits: 0, evictions: 0 }
  return { counts, count: (event: 'lockWaits' | 'evictions') => { counts[event]++ } }
}

test('ConversationCache (MemoryStore): 50 concurrent resolve() for one key run create once', async (t) => {
  const store = new MemoryStore()
  const { counts, count } = counter()
  const options = { store, ttlMs: LONG, localTtlMs: LONG, lockTtlMs: LONG, count }
  const cache = new ConversationCache(options)
  const keys = conversationKeys('t:', 'acme', 1, 2, 'bob')
  let creates = 0
  const create = async () => {
    creates++
    await sleep(50)
    return OLD
  }
  const results = await Promise.all(Array.from({ length: 50 }, () => cache.resolve(keys, create)))
  t.equal(creates, 1, 'create ran once')
  t.ok(results.every((result) => result.value.conversationId === OLD.conversationId && result.value.contactId === OLD.contactId),
    'every caller got its value')
  t.same(await store.get(keys.conversation), OLD, 'the value is in the store')
  t.same(await cache.lookup(keys), OLD, 'and looked up')
  const again = await cache.resolve(keys, create)
  t.same(again, { value: OLD, created: false }, 'a later resolve finds it without create')
  t.equal(creates, 1, 'still one create')

  // Two processes' caches over one shared store: the lock keeps it to one create across them.
  const shared = new MemoryStore()
  const first = new ConversationCache({ ...options, store: shared })
  const second = new ConversationCache({ ...options, store: shared })
  const other = conversationKeys('t:', 'acme', 1, 2, 'alice')
  let sharedCreates = 0
  const slowCreate = async () => {
    sharedCreates++
    await sleep(100)
    return FRESH
  }
  const both = await Promise.all([
    ...Array.from({ length: 50 }, () => first.resolve(other, slowCreate)),
    ...Array.from({ length: 50 }, () => second.resolve(other, slowCreate))
  ])
  t.equal(sharedCreates, 1, 'create ran once across two caches sharing a store')
  t.ok(both.every((result) => result.value.conversationId === FRESH.conversationId), 'all 100 callers got the one value')
  t.ok(counts.lockWaits > 0, 'the other cache waited on the lock')
  t.equal(await shared.tryLock(other.lock, LONG) !== undefined, true, 'the lock was released after the create')
})

test('ConversationCache (MemoryStore): evict() with a stale value keeps a fresher one', async (t) => {
  const memory = new MemoryStore()
  const announced: string[] = []
  const store: ConversationStore = {
    get: (key) => memory.get(key),
    set: (key, value, ttlMs) => memory.set(key, value, ttlMs),
    compareAndDelete: (key, value) => memory.compareAndDelete(key, value),
    tryLock: (key, ttlMs) => memory.tryLock(key, ttlMs),
    unlock: (key, token) => memory.unlock(key, token),
    extendLock: (key, token, ttlMs) => memory.extendLock(key, token, ttlMs),
    claim: (key, ttlMs) => memory.claim(key, ttlMs),
    settle: (key, messageId, ttlMs) => memory.settle(key, messageId, ttlMs),
    release: (key) => memory.release(key),
    announce: async (key) => { announced.push(key) },
    listen: () => memory.listen()
  }
  const { counts, count } = counter()
  const cache = new ConversationCache({ store, ttlMs: LONG, localTtlMs: LONG, lockTtlMs: LONG, count })
  const keys = conversationKeys('t:', 'acme', 1, 2, 'bob')
  let creates = 0

  // This process holds OLD; another worker already replaced it with FRESH in the shared store.
  await cache.resolve(keys, async () => { creates++; return OLD })
  announced.length = 0
  await memory.set(keys.conversation, FRESH, LONG)
  await cache.evict(keys, OLD)
  t.same(await memory.get(keys.conversation), FRESH, 'the fresh value in the store survives an evict of the stale one')
  t.equal(counts.evictions, 0, 'nothing was evicted from the store')
  t.same(announced, [], 'nothing announced')
  t.same(await cache.lookup(keys), FRESH, 'the stale local copy is gone: the lookup reads the fresh value')

  // Now the process holds FRESH locally; a late evict of OLD (a slow 404) must not drop it.
  await memory.compareAndDelete(keys.conversation, FRESH)
  await cache.evict(keys, OLD)
  t.same(await cache.lookup(keys), FRESH, 'the fresh local copy survives an evict of the stale value')

  await memory.set(keys.conversation, FRESH, LONG)
  await cache.evict(keys, FRESH)
  t.equal(await memory.get(keys.conversation), undefined, 'evicting the current value deletes it')
  t.equal(counts.evictions, 1, 'one eviction counted')
  t.same(announced, [keys.conversation], 'and announced to the other processes')
  t.equal(await cache.lookup(keys), undefined, 'and the local copy is gone')
  const next = await cache.resolve(keys, async () => { creates++; return { conversationId: 9, contactId: 3 } })
  t.same(next, { value: { conversationId: 9, contactId: 3 }, created: true }, 'the next resolve creates afresh')
  t.equal(creates, 2, 'two creates in all')
})

test('ConversationCache: a get-or-create slower than the lock\'s life keeps its lock, so another process waits instead of creating', async (t) => {
  const shared = new MemoryStore()
  const keys = conversationKeys('t:', 'acme', 1, 2, 'slow')
  // Two processes: two caches, one store. The lock lives 60 ms; the create takes 300 ms.
  const processes = [0, 1].map(() => new ConversationCache({ store: shared, ttlMs: LONG, localTtlMs: LONG, lockTtlMs: 60, count: () => {} }))
  let creates = 0
  const create = async () => {
    creates++
    await new Promise((resolve) => setTimeout(resolve, 300))
    return { conversationId: 7, contactId: 8 }
  }
  const first = processes[0]!.resolve(keys, create)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const second = processes[1]!.resolve(keys, create)
  const [one, two] = await Promise.all([first, second])
  t.equal(creates, 1, 'one create: the lock outlived its ttl while its holder worked')
  t.same(one.value, two.value, 'the waiter got the holder\'s answer')
  t.equal(two.created, false)
  t.equal(await shared.tryLock(keys.lock, LONG) !== undefined, true, 'released afterwards')
})

test('extendLock: only the owner can push the expiry out (Redis and memory)', async (t) => {
  const redis = new Redis(REDIS)
  t.teardown(() => redis.quit())
  for (const store of [new RedisStore(redis, `t${randomUUID()}:announce`), new MemoryStore()]) {
    const key = `t${randomUUID()}:lock`
    const token = await store.tryLock(key, 80)
    t.ok(token !== undefined)
    t.equal(await store.extendLock(key, 'someone else', 10_000), false, 'a wrong token does not extend it')
    t.equal(await store.extendLock(key, token!, 400), true, 'the owner does')
    await new Promise((resolve) => setTimeout(resolve, 150))
    t.equal(await store.tryLock(key, 80), undefined, 'still held after its first ttl')
    await store.unlock(key, token!)
    t.equal(await store.extendLock(key, token!, 400), false, 'nothing to extend once released')
  }
})
