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
import { announcementContract, FRESH, LONG, OLD, storeContract } from '../helpers/store-contract.js'
import { usesServers } from '../setup/servers.js'

usesServers('redis')

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

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

storeContract('RedisStore', (t) => {
  const prefix = `t${randomUUID()}:`
  return { store: new RedisStore(redisFor(t, prefix), `${prefix}channel`), prefix }
})
storeContract('MemoryStore', () => ({ store: new MemoryStore(), prefix: `t${randomUUID()}:` }))

const announced = `t${randomUUID()}:`
announcementContract('RedisStore', async (t) => redisFor(t, announced), announced)

test('MemoryStore: announce and listen are no-ops: nothing is heard, not even by another MemoryStore', async (t) => {
  const store: ConversationStore = new MemoryStore()
  const other: ConversationStore = new MemoryStore()
  const heard: string[] = []
  const stops = await Promise.all([store.listen((key) => heard.push(key)), other.listen((key) => heard.push(key))])
  t.equal(await store.announce('key'), undefined)
  await sleep(20)
  t.same(heard, [], 'a memory store has no other process to hear from')
  for (const stop of stops) t.equal(await stop(), undefined, 'stop resolves')
  t.same(await store.get('key'), undefined, 'an announcement stores nothing')
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
  claim () { return this.#call<Claim>({ claimed: true, token: 'token', takenOver: false }) }
  extendClaim () { return this.#call(true) }
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
  ['extendLock', (store) => store.extendLock('k', 'token', LONG)],
  ['claim', (store) => store.claim('k', LONG, LONG)],
  ['extendClaim', (store) => store.extendClaim('k', 'token', LONG)],
  ['settle', (store) => store.settle('k', 1, LONG)],
  ['release', (store) => store.release('k', 'token')],
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
  await t.rejects(store.claim('k', LONG, LONG), StoreUnavailableError)
  await t.rejects(store.claim('k', LONG, LONG), StoreUnavailableError)
  t.equal(seen.down.length, 2, 'a second outage: down() again, once')
  inner.mode = 'answer'
  await store.release('k', 'token')
  await store.release('k', 'token')
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
    claim: (key, ttlMs, attemptTtlMs) => memory.claim(key, ttlMs, attemptTtlMs),
    extendClaim: (key, token, ttlMs) => memory.extendClaim(key, token, ttlMs),
    settle: (key, messageId, ttlMs) => memory.settle(key, messageId, ttlMs),
    release: (key, token) => memory.release(key, token),
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

test('RedisStore: a claim taken after the caller gave up ends at once but leaves the marker of an attempt', async (t) => {
  const prefix = `t${randomUUID()}:`
  const store = new RedisStore(redisFor(t, prefix), `${prefix}channel`)
  const gaveUp = AbortSignal.abort()
  const key = `${prefix}claim`
  const late = await store.claim(key, LONG, LONG, gaveUp)
  t.equal(late.claimed, true, 'the claim was written')
  // The caller went on posting without it: a redelivery must look in Chatwoot first.
  t.match(await store.claim(key, LONG, LONG), { claimed: true, takenOver: true },
    'the next claimer takes it at once and learns an attempt never ended')
})

test('MemoryStore: bounded: past maxEntries idle keys go, held locks and pending claims never', async (t) => {
  const store = new MemoryStore({ maxEntries: 20 })
  const locks = await Promise.all(Array.from({ length: 5 }, (_, i) => store.tryLock(`lock${i}`, LONG)))
  const claims = await Promise.all(Array.from({ length: 5 }, (_, i) => store.claim(`claim${i}`, LONG, LONG)))
  for (let i = 0; i < 100; i++) await store.set(`conversation${i}`, OLD, LONG)
  t.equal(store.size, 20, 'the bound holds')
  for (let i = 0; i < 5; i++) {
    t.equal(await store.tryLock(`lock${i}`, LONG), undefined, `lock${i} is still held`)
    t.same(await store.claim(`claim${i}`, LONG, LONG), { claimed: false, messageId: undefined }, `claim${i} is still pending`)
  }
  t.equal(await store.get('conversation0'), undefined, 'the oldest conversation was evicted')
  t.equal(await store.get('conversation89'), undefined, 'and all but the newest ten')
  t.same(await store.get('conversation90'), OLD, 'the newest ten stay')
  t.same(await store.get('conversation99'), OLD)

  // Their work done, they are idle like any key: the next writes push them out.
  for (const [i, token] of locks.entries()) await store.unlock(`lock${i}`, token!)
  for (let i = 0; i < 5; i++) await store.settle(`claim${i}`, i + 1, LONG)
  t.same(await store.claim('claim0', LONG, LONG), { claimed: false, messageId: 1 }, 'a settled claim is kept while there is room')
  for (let i = 0; i < 20; i++) await store.set(`later${i}`, FRESH, LONG)
  t.equal(store.size, 20)
  t.match(await store.claim('claim0', LONG, LONG), { claimed: true, takenOver: false }, 'a settled claim is evicted once idle and old')
  t.ok(await store.tryLock('lock0', LONG), 'so is a released lock\'s key')
  t.equal(claims.length, 5)
})

test('MemoryStore: a claim past its deadline is only a marker: it may be evicted', async (t) => {
  const store = new MemoryStore({ maxEntries: 3 })
  await store.claim('dead', 20, LONG)
  await store.claim('alive', LONG, LONG)
  await sleep(50)
  for (let i = 0; i < 3; i++) await store.set(`conversation${i}`, OLD, LONG)
  t.equal(store.size, 3, 'the bound holds')
  t.same(await store.claim('alive', LONG, LONG), { claimed: false, messageId: undefined }, 'the pending claim stays')
  t.match(await store.claim('dead', LONG, LONG), { claimed: true, takenOver: false }, 'the expired one went, marker and all')
})

test('MemoryStore: expired entries are swept on a write, not only when read or over the bound', async (t) => {
  const store = new MemoryStore({ pruneIntervalMs: 0 })
  for (let i = 0; i < 50; i++) await store.set(`short${i}`, OLD, 20)
  await store.claim('claim', 20, 40)
  await store.tryLock('lock', 20)
  t.equal(store.size, 52, 'held before they expire')
  await sleep(80)
  await store.set('long', FRESH, LONG)
  t.equal(store.size, 1, 'a write after they expired swept them all, the marker past its attemptTtlMs too')

  const slow = new MemoryStore({ pruneIntervalMs: LONG })
  for (let i = 0; i < 50; i++) await slow.set(`short${i}`, OLD, 20)
  await sleep(50)
  await slow.set('long', FRESH, LONG)
  t.equal(slow.size, 51, 'within pruneIntervalMs no sweep runs (each write stays O(1))')
})

test('MemoryStore: invalid options are OptionsInvalidError naming what was given', async (t) => {
  for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new MemoryStore({ maxEntries }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: new RegExp(`maxEntries.*got ${maxEntries}`) })
  }
  t.throws(() => new MemoryStore({ pruneIntervalMs: -5 }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /pruneIntervalMs.*got -5/ })
  t.equal(new MemoryStore().size, 0, 'defaults are valid')
})
