// Bounded memory (issue 11): every in-process map keyed by what users send stays within its bound,
// drops what expired, and never evicts an entry with work in flight. Pure: no server needed.
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { RecoveryBreaker } from '../../lib/conversations/breaker.js'
import { ConversationCache } from '../../lib/conversations/conversation-cache.js'
import { conversationKeys } from '../../lib/conversations/keys.js'
import { MemoryStore } from '../../lib/conversations/memory-store.js'
import { KeyedQueue } from '../../lib/conversations/ordering.js'
import type { CachedConversation } from '../../lib/conversations/store.js'
import { InstanceRegistry } from '../../lib/instances/registry.js'
import { SingleFlight } from '../../lib/single-flight.js'

const keysOf = (contact: string) => conversationKeys('t:', 'acme', 1, 1, contact)

function cacheOver (store: MemoryStore, { maxEntries, localTtlMs = 60_000 }: { maxEntries?: number, localTtlMs?: number }) {
  return new ConversationCache({ store, ttlMs: 3_600_000, localTtlMs, lockTtlMs: 30_000, maxEntries, count: () => {} })
}

/** A create that numbers conversations, and counts how often it was asked. */
function creator () {
  let created = 0
  return {
    get count () { return created },
    create: async (): Promise<CachedConversation> => ({ conversationId: ++created, contactId: created })
  }
}

test('the conversation cache keeps at most maxEntries ids in process; the store still answers for the rest', async (t) => {
  const store = new MemoryStore()
  const cache = cacheOver(store, { maxEntries: 100 })
  const made = creator()
  for (let i = 0; i < 1000; i++) await cache.resolve(keysOf(`c${i}`), made.create)
  t.equal(cache.localEntries, 100, 'bounded at maxEntries')
  t.equal(made.count, 1000)

  const again = await cache.resolve(keysOf('c0'), made.create)
  t.same(again, { value: { conversationId: 1, contactId: 1 }, created: false }, 'an evicted id comes back from the store, not a second create')
  t.equal(made.count, 1000)
  t.equal(cache.localEntries, 100)
})

/** A store that knows every contact's id: a lookup keeps it in process without the get-or-create path. */
class KnowingStore extends MemoryStore {
  override async get () {
    return { conversationId: 7, contactId: 7 }
  }
}

test('the default bound is 100 000 ids', async (t) => {
  const cache = cacheOver(new KnowingStore(), {})
  for (let i = 0; i < 100_050; i++) await cache.lookup(keysOf(`c${i}`))
  t.equal(cache.localEntries, 100_000)
})

test('expired ids leave the process without being read again', async (t) => {
  const cache = cacheOver(new MemoryStore(), { localTtlMs: 20 })
  const made = creator()
  for (let i = 0; i < 500; i++) await cache.resolve(keysOf(`c${i}`), made.create)
  t.equal(cache.localEntries, 500)
  // Sweeps run at most once a second, however short localTtlMs is.
  await sleep(1100)
  t.equal(cache.localEntries, 0, 'all swept')
})

/** A MemoryStore whose `set` for one key waits for a go: that key's get-or-create stays in flight. */
class HeldStore extends MemoryStore {
  held: string | undefined
  go = () => {}

  override async set (...args: Parameters<MemoryStore['set']>) {
    if (args[0] === this.held) await new Promise<void>((resolve) => { this.go = resolve })
    return super.set(...args)
  }
}

test('an id whose get-or-create is still in flight is never evicted by the bound', async (t) => {
  const store = new HeldStore()
  const cache = cacheOver(store, { maxEntries: 3 })
  const made = creator()
  const held = keysOf('held')
  store.held = held.conversation
  // The id is kept in process before the store write, which hangs: the flight runs on.
  const flight = cache.resolve(held, made.create)
  await sleep(5)
  for (let i = 0; i < 20; i++) await cache.resolve(keysOf(`c${i}`), made.create)
  t.equal(cache.localEntries, 3, 'still bounded')
  t.same(await cache.lookup(held), { conversationId: 1, contactId: 1 }, 'the busy id stayed, though the least recently used')
  store.go()
  await flight

  for (let i = 20; i < 30; i++) await cache.resolve(keysOf(`c${i}`), made.create)
  t.equal(made.count, 31)
  t.equal(cache.localEntries, 3, 'once its flight ended it is an idle entry like the others')
})

// One error each, not one per call: thousands of stack traces would only slow the test down.
const thrown = new Error('thrown before any await')
const rejected = new Error('rejected')

test('single flights leave nothing behind, whatever the outcome', async (t) => {
  const flights = new SingleFlight<number, number>()
  const runs = []
  for (let i = 0; i < 30_000; i++) {
    const outcome = i % 3
    runs.push(flights.run(i, () => {
      if (outcome === 0) throw thrown
      return outcome === 1 ? Promise.reject(rejected) : Promise.resolve(i)
    }))
  }
  t.ok(flights.size > 0 && flights.has(1), 'running flights are there while they run')
  const results = await Promise.allSettled(runs)
  t.equal(results.filter((result) => result.status === 'rejected').length, 20_000, 'failures reach their callers')
  t.equal(flights.size, 0, 'every flight removed itself')
  t.notOk(flights.has(1))
})

test('the keyed queue forgets idle keys: 100 000 contacts leave size 0', async (t) => {
  const queue = new KeyedQueue()
  const work = []
  for (let i = 0; i < 100_000; i++) work.push(queue.run(`contact-${i}`, async () => { if (i % 2 === 0) throw rejected }))
  t.equal(queue.size, 100_000, 'a key is held while its work is queued or running')
  await Promise.allSettled(work)
  await sleep(0)
  t.equal(queue.size, 0)
})

test('the breaker tracks at most maxEntries instances per map and forgets expired windows', async (t) => {
  const now = Date.now()
  const breaker = new RecoveryBreaker({ failures: 2, windowMs: 1000, cooldownMs: 5000 }, 10)
  for (let i = 0; i < 100; i++) breaker.failed(`i${i}`, now)
  t.same(breaker.tracked, { recent: 10, open: 0 }, 'bounded')

  breaker.failed('x', now)
  breaker.failed('x', now + 1000)
  t.notOk(breaker.isOpen('x', now + 1000), 'a failure outside the window does not count')
  breaker.failed('x', now + 1500)
  t.ok(breaker.isOpen('x', now + 1500), 'two within the window open it')
  t.ok(breaker.isOpen('x', now + 6499))
  t.notOk(breaker.isOpen('x', now + 6500), 'closed after cooldownMs')
  for (let i = 0; i < 20; i++) {
    breaker.failed(`o${i}`, now)
    breaker.failed(`o${i}`, now)
  }
  t.equal(breaker.tracked.open, 10, 'open instances are bounded too')
})

test('the breaker sweeps windows and cooldowns that ended', async (t) => {
  const breaker = new RecoveryBreaker({ failures: 2, windowMs: 50, cooldownMs: 50 })
  for (let i = 0; i < 1000; i++) breaker.failed(`i${i}`)
  for (let i = 0; i < 1000; i++) breaker.failed(`j${i}`)
  for (let i = 0; i < 1000; i++) breaker.failed(`j${i}`)
  t.same(breaker.tracked, { recent: 1000, open: 1000 })
  await sleep(1100)
  t.same(breaker.tracked, { recent: 0, open: 0 })
})

const config = (accountId: number) => ({ chatwoot: { url: 'http://chatwoot.test', accountId, inboxId: 1, token: 'secret-token' } })

test('the instance registry keeps at most maxEntries instances, never one being resolved', async (t) => {
  let accountId = 1
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  let holding = false
  const changes: string[] = []
  const registry = new InstanceRegistry({
    resolve: async (name) => {
      if (name === 'slow' && holding) await gate
      return config(accountId)
    },
    ttl: 0,
    maxEntries: 5,
    onListenerError: (error) => { throw error }
  })
  registry.onChange((name) => changes.push(name))
  for (let i = 0; i < 50; i++) await registry.get(`i${i}`)
  t.equal(registry.size, 5, 'bounded')

  await registry.get('slow')
  holding = true
  accountId = 2
  // ttl 0: this get resolves again, and waits at the gate while others push 'slow' to the old end.
  const slow = registry.get('slow')
  for (let i = 0; i < 20; i++) await registry.get(`k${i}`)
  t.equal(registry.size, 5, 'still bounded: idle entries made room')
  open()
  t.equal((await slow).chatwoot.accountId, 2)
  // Evicted, it would have no fingerprint to compare with, and the change would go unheard.
  t.same(changes, ['slow'], 'its entry survived 20 newer ones, so its change was heard')
})
