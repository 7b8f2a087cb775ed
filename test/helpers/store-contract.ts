// What every ConversationStore must do, run against each store (Redis, Redis Cluster, memory) by
// test/conversations/stores.test.ts and cluster.test.ts.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster, Redis } from 'ioredis'
import { type Test, test } from 'tap'
import { RedisStore } from '../../lib/conversations/redis-store.js'
import type { CachedConversation, Claim, ConversationStore } from '../../lib/conversations/store.js'

export const OLD: CachedConversation = { conversationId: 7, contactId: 3 }
export const FRESH: CachedConversation = { conversationId: 8, contactId: 3 }
export const LONG = 60_000

export interface Subject {
  store: ConversationStore
  /** Unique to the test: keys under it are the test's own. */
  prefix: string
}

type Make = (t: Test) => Subject | Promise<Subject>

function claimed (claim: Claim): { token: string, takenOver: boolean } {
  if (!claim.claimed) throw new Error(`expected the claim to be taken, got ${JSON.stringify(claim)}`)
  return claim
}

export function storeContract (name: string, make: Make): void {
  test(`${name}: get and set, with a ttl that expires`, async (t) => {
    const { store, prefix } = await make(t)
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
    const { store, prefix } = await make(t)
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
    const { store, prefix } = await make(t)
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

  test(`${name}: extendLock: only the owner can push the expiry out`, async (t) => {
    const { store, prefix } = await make(t)
    const key = `${prefix}lock`
    const token = await store.tryLock(key, 80)
    t.ok(token !== undefined)
    t.equal(await store.extendLock(key, 'someone else', 10_000), false, 'a wrong token does not extend it')
    t.equal(await store.extendLock(key, token!, 400), true, 'the owner does')
    await sleep(150)
    t.equal(await store.tryLock(key, 80), undefined, 'still held after its first ttl')
    await store.unlock(key, token!)
    t.equal(await store.extendLock(key, token!, 400), false, 'nothing to extend once released')
  })

  test(`${name}: claim, extendClaim, settle and release`, async (t) => {
    const { store, prefix } = await make(t)
    const key = `${prefix}claim`
    const first = claimed(await store.claim(key, LONG, LONG))
    t.equal(first.takenOver, false, 'the first claim wins, taking over nothing')
    t.type(first.token, 'string', 'with an owner token')
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: undefined }, 'a second claim is refused, no message id yet')
    t.equal(await store.extendClaim(key, 'not-the-owner', LONG), false, 'a wrong token does not extend it')
    t.equal(await store.extendClaim(key, first.token, LONG), true, 'the holder does')
    await store.release(key, 'not-the-owner')
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: undefined }, 'a wrong token does not release it')
    await store.settle(key, 42, LONG)
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: 42 }, 'once settled a refused claim tells the message id')
    t.equal(await store.extendClaim(key, first.token, LONG), false, 'a settled claim is not extended')
    await store.release(key, first.token)
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: 42 }, 'a late release does not undo a settle')

    const released = `${prefix}released`
    const holder = claimed(await store.claim(released, LONG, LONG))
    await store.release(released, holder.token)
    const again = claimed(await store.claim(released, LONG, LONG))
    t.equal(again.takenOver, false, 'after a release the source_id is claimed afresh: nothing was attempted')
    t.not(again.token, holder.token, 'with a new token')
    t.equal(await store.extendClaim(released, holder.token, LONG), false, 'the released holder cannot extend the new claim')

    const raced = `${prefix}raced`
    const claims = await Promise.all(Array.from({ length: 100 }, () => store.claim(raced, LONG, LONG)))
    t.equal(claims.filter((claim) => claim.claimed).length, 1, '100 concurrent claims: exactly one wins')
  })

  test(`${name}: a claim whose holder stopped extending it is taken over, and says so`, async (t) => {
    const { store, prefix } = await make(t)
    const key = `${prefix}claim`
    const dead = claimed(await store.claim(key, 50, LONG))
    await sleep(150)
    const next = claimed(await store.claim(key, LONG, LONG))
    t.equal(next.takenOver, true, 'the expired claim is taken, and the new holder learns an attempt never ended')
    t.not(next.token, dead.token)
    t.equal(await store.extendClaim(key, dead.token, LONG), false, 'the first holder cannot extend it back')
    await store.release(key, dead.token)
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: undefined }, 'nor release the new holder\'s claim')
    await store.settle(key, 43, LONG)
    t.same(await store.claim(key, LONG, LONG), { claimed: false, messageId: 43 }, 'the new holder settles it')

    const kept = `${prefix}kept`
    const alive = claimed(await store.claim(kept, 80, LONG))
    t.equal(await store.extendClaim(kept, alive.token, 400), true)
    await sleep(150)
    t.same(await store.claim(kept, LONG, LONG), { claimed: false, messageId: undefined }, 'an extended claim outlives its first ttl')
    await sleep(350)
    t.equal(claimed(await store.claim(kept, LONG, LONG)).takenOver, true, 'and runs out once no longer extended')

    const late = `${prefix}late`
    const slow = claimed(await store.claim(late, 50, LONG))
    await sleep(150)
    t.equal(await store.extendClaim(late, slow.token, LONG), true, 'a holder late to extend, but not taken over, keeps its claim')
    t.same(await store.claim(late, LONG, LONG), { claimed: false, messageId: undefined }, 'so it is refused to others')
  })

  test(`${name}: the marker of an unended attempt lives attemptTtlMs, a settled claim its ttl`, async (t) => {
    const { store, prefix } = await make(t)
    const marked = `${prefix}marked`
    claimed(await store.claim(marked, 50, 200))
    await sleep(300)
    t.equal(claimed(await store.claim(marked, LONG, LONG)).takenOver, false, 'past attemptTtlMs the marker is gone too')

    const settled = `${prefix}settled`
    claimed(await store.claim(settled, LONG, LONG))
    await store.settle(settled, 44, 100)
    t.same(await store.claim(settled, LONG, LONG), { claimed: false, messageId: 44 })
    await sleep(200)
    t.equal(claimed(await store.claim(settled, LONG, LONG)).takenOver, false, 'a settled claim is forgotten after its ttl, with no marker')
  })
}

/** Connections subscribed to `channel` on every node (listen() does not await its subscribe). */
async function subscribed (redis: Redis | Cluster, channel: string): Promise<number> {
  const nodes = redis.isCluster ? (redis as Cluster).nodes('all') : [redis as Redis]
  const counts = await Promise.all(nodes.map((node) => node.pubsub('NUMSUB', channel) as Promise<[string, number]>))
  return counts.reduce((sum, [, count]) => sum + Number(count), 0)
}

/**
 * Polls until `channel` has `count` subscribers (at least or at most), for `timeoutMs` at most, and
 * answers the last count read: the caller asserts it, so a subscription that never changes fails the test.
 */
async function subscribers (redis: Redis | Cluster, channel: string, count: number, bound: 'at least' | 'at most' = 'at least',
  timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = await subscribed(redis, channel)
    if ((bound === 'at least' ? now >= count : now <= count) || Date.now() > deadline) return now
    await sleep(10)
  }
}

/** Announcements between stores on one channel; `client` gives the test a client of its own, closed at teardown. */
export function announcementContract (name: string, client: (t: Test) => Promise<Redis | Cluster>, prefix: string): void {
  test(`${name}: an announcement reaches the other stores on the channel, not the sender's own listener`, async (t) => {
    const channel = `${prefix}conversations`
    const one = new RedisStore(await client(t), channel)
    const twoRedis = await client(t)
    const two = new RedisStore(twoRedis, channel)
    const elsewhere = new RedisStore(await client(t), `${prefix}another-channel`)
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
    t.ok(await subscribers(twoRedis, channel, 2) >= 2, 'both listeners on the channel are subscribed')

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
    t.ok(await subscribers(twoRedis, channel, 1, 'at most') <= 1, 'a stopped listener unsubscribes its connection')
    await one.announce(`${prefix}fourth`)
    await sleep(100)
    t.same(heard.two, [first], 'a stopped listener hears no more')
  })
}
