// The conversations store on a Redis Cluster (three masters on loopback, started by the helper if need be).
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster } from 'ioredis'
import t, { type Test } from 'tap'
import { ConversationCache } from '../../lib/conversations/conversation-cache.js'
import { GuardedStore, StoreUnavailableError } from '../../lib/conversations/guarded-store.js'
import { conversationKeys } from '../../lib/conversations/keys.js'
import { RedisStore } from '../../lib/conversations/redis-store.js'
import { connectRedisCluster, deleteClusterKeys } from '../helpers/redis-cluster.js'
import { announcementContract, FRESH, LONG, storeContract } from '../helpers/store-contract.js'

/** A Cluster client of the test's own; keys under `prefix` deleted and the client closed at teardown. */
async function clusterFor (test: Test, prefix: string): Promise<Cluster> {
  const cluster = await connectRedisCluster()
  test.teardown(async () => {
    await deleteClusterKeys(cluster, prefix)
    await cluster.quit()
  })
  return cluster
}

storeContract('RedisStore on a Cluster', async (test) => {
  const prefix = `t${randomUUID()}:`
  return { store: new RedisStore(await clusterFor(test, prefix), `${prefix}channel`), prefix }
})

const announced = `t${randomUUID()}:`
announcementContract('RedisStore on a Cluster', (test) => clusterFor(test, announced), announced)

t.test('a conversation\'s keys share one slot, and the keys of many conversations spread over every master', async (t) => {
  const prefix = `t${randomUUID()}:`
  const cluster = await clusterFor(t, prefix)
  const store = new RedisStore(cluster, `${prefix}channel`)
  const nodes = new Set<string>()
  for (let i = 0; i < 30; i++) {
    const keys = conversationKeys(prefix, 'acme', 1, 2, `contact-${i}`)
    const all = [keys.conversation, keys.lock, keys.claim('s1'), keys.claim('s}2')]
    const slots = await Promise.all(all.map((key) => cluster.cluster('KEYSLOT', key)))
    t.equal(new Set(slots).size, 1, `contact-${i}: one slot for its conversation, lock and claims`)
    // Every script of the store on this conversation's keys, on whichever node holds its slot.
    const lock = await store.tryLock(keys.lock, LONG)
    t.ok(lock)
    t.equal(await store.extendLock(keys.lock, lock!, LONG), true)
    await store.unlock(keys.lock, lock!)
    await store.set(keys.conversation, FRESH, LONG)
    t.equal(await store.compareAndDelete(keys.conversation, FRESH), true)
    const claim = await store.claim(keys.claim('s1'), LONG, LONG)
    if (!claim.claimed) throw new Error('claim refused')
    t.equal(await store.extendClaim(keys.claim('s1'), claim.token, LONG), true)
    await store.release(keys.claim('s1'), claim.token)
    nodes.add(nodeOf(cluster, Number(slots[0])))
  }
  t.equal(nodes.size, 3, 'the conversations landed on all three masters')
})

/** The master serving `slot`, as host:port. */
function nodeOf (cluster: Cluster, slot: number): string {
  return cluster.slots[slot]![0]!
}

t.test('GuardedStore over a Cluster: status === \'ready\' lets calls through, a disconnected Cluster fails them at once', async (t) => {
  const prefix = `t${randomUUID()}:`
  const cluster = await clusterFor(t, prefix)
  const events: string[] = []
  const store = new GuardedStore(new RedisStore(cluster, `${prefix}channel`), {
    ready: () => cluster.status === 'ready',
    timeoutMs: 60_000,
    health: { failed: () => events.push('failed'), down: () => events.push('down'), up: () => events.push('up') },
    probeIntervalMs: 0
  })
  t.equal(cluster.status, 'ready', 'a connected Cluster says ready')
  await store.set(`${prefix}{a}k`, FRESH, LONG)
  t.same(await store.get(`${prefix}{a}k`), FRESH, 'calls go through')

  cluster.disconnect()
  const started = Date.now()
  await t.rejects(store.get(`${prefix}{a}k`), StoreUnavailableError, 'disconnected: StoreUnavailableError')
  t.ok(Date.now() - started < 1000, 'at once, not after the timeout (ioredis would have queued it)')
  t.same(events, ['down'])

  await cluster.connect()
  t.equal(cluster.status, 'ready')
  t.same(await store.get(`${prefix}{a}k`), FRESH, 'reconnected: calls go through again')
  t.same(events, ['down', 'up'])
})

t.test('ConversationCache on a Cluster: 100 concurrent resolve() from two clients (two processes) run create once', async (t) => {
  const prefix = `t${randomUUID()}:`
  const caches = await Promise.all([0, 1].map(async () => new ConversationCache({
    store: new RedisStore(await clusterFor(t, prefix), `${prefix}channel`),
    ttlMs: LONG,
    localTtlMs: LONG,
    lockTtlMs: LONG,
    count: () => {}
  })))
  for (const contact of ['bob', 'alice', 'carol']) {
    const keys = conversationKeys(prefix, 'acme', 1, 2, contact)
    let creates = 0
    const create = async () => {
      creates++
      await sleep(100)
      return { conversationId: 100 + creates, contactId: 5 }
    }
    const results = await Promise.all(caches.flatMap((cache) => Array.from({ length: 50 }, () => cache.resolve(keys, create))))
    t.equal(creates, 1, `${contact}: create ran once across the two clients`)
    t.ok(results.every((result) => result.value.conversationId === 101), `${contact}: all 100 callers got the one conversation`)
    t.equal(results.filter((result) => result.created).length, 50, `${contact}: only the creating client's callers saw it created`)
  }
})
