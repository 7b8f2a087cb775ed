import { channel } from 'node:diagnostics_channel'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { RecoveryBreaker } from './breaker.js'
import { ChatwootIdentity } from './chatwoot-identity.js'
import { ConversationCache } from './conversation-cache.js'
import { findInDatabase } from './database-lookup.js'
import { Deliverer } from './deliver.js'
import { GuardedStore } from './guarded-store.js'
import { PostgresLinks } from './identity-links-postgres.js'
import { IdentityMap } from './identity-map.js'
import { MemoryStore } from './memory-store.js'
import { type ChatwootConversationsOptions, conversationsOptions } from './options.js'
import { LockChain } from './postgres-locks-chain.js'
import { postgresLocks } from './postgres-locks-option.js'
import { resolveRedis } from './redis-option.js'
import { RedisStore } from './redis-store.js'
import type { ConversationEvent, ConversationStats, DeliverOptions, DeliveryInput } from './types.js'

export type { ChatwootConversationsOptions } from './options.js'

/** `{ event, instance }` for every counted event (hits, misses, creates, recoveries, dedupes, ...). */
export const CONVERSATIONS_CHANNEL = 'fastify-chatwoot:conversations'
const events = channel(CONVERSATIONS_CHANNEL)

const plugin: FastifyPluginAsync<ChatwootConversationsOptions> = async (fastify, given) => {
  const log = fastify.log.child({ plugin: 'chatwootConversations' })
  const options = conversationsOptions(given)
  const { keyPrefix, ttlMs, maxEntries } = options
  const stats: ConversationStats = {
    deliveries: 0, hits: 0, misses: 0, creates: 0, recoveries: 0, dedupes: 0, misroutes: 0, lockWaits: 0, evictions: 0, storeErrors: 0, failures: 0, backfills: 0, backfillsRefused: 0
  }
  const count = (event: ConversationEvent, instance?: string) => {
    stats[event]++
    if (events.hasSubscribers) events.publish({ event, instance })
  }

  const redis = resolveRedis(fastify, options.redis)
  const postgres = await postgresLocks(fastify, options, () => count('storeErrors'), log)
  if (redis === undefined) {
    log.info(postgres === undefined
      ? 'no Redis: conversation ids are cached per process, and locks are per process'
      : 'no Redis: conversation ids are cached per process; the get-or-create lock is taken in Postgres')
  }
  const store = new GuardedStore(redis === undefined ? new MemoryStore() : new RedisStore(redis, `${keyPrefix}conversations`), {
    // ioredis queues commands while disconnected and runs them, stale, on reconnect: ask only a ready client.
    ready: () => redis === undefined || redis.status === 'ready',
    timeoutMs: options.redisTimeoutMs,
    health: {
      failed: () => count('storeErrors'),
      down: (error) => log.warn({ err: error }, postgres === undefined
        ? 'Redis unavailable: deliveries go on without the shared cache and lock'
        : 'Redis unavailable: deliveries go on without the shared cache; the get-or-create lock is taken in Postgres'),
      up: () => log.info('Redis available again: the shared cache and lock are back')
    }
  })
  // Redis first while it answers (a warm, healthy delivery never asks Postgres), Postgres while it does not;
  // without Redis, Postgres first and the in-process lock only while Postgres is down too.
  const locks = postgres === undefined ? store : new LockChain(redis === undefined ? [postgres.locks, store] : [store, postgres.locks])
  const cache = new ConversationCache({ store, locks, ttlMs, localTtlMs: options.localTtlMs, lockTtlMs: options.lockTtlMs, maxEntries, count })
  const identities = new IdentityMap({
    redis,
    keyPrefix,
    maxEntries,
    localTtlMs: options.localTtlMs,
    guard: (call) => store.guard(call),
    announce: (key) => store.announce(key),
    // A durable copy of the links beside the lock store: read back when Redis lost them, used while it is down.
    durable: postgres === undefined
      ? undefined
      : new PostgresLinks(postgres.pool, options.postgresSchema, postgres.guard, () => postgres.store.migrate()),
    healthy: () => store.healthy
  })
  const stopListening = await store.listen((key) => {
    cache.forgetLocal(key)
    identities.heard(key)
  })

  const deliverer = new Deliverer({
    instances: fastify.chatwootInstances,
    chatwoot: fastify.chatwoot,
    cache,
    store,
    identity: new ChatwootIdentity(maxEntries),
    keyPrefix,
    ttlMs,
    claimTtlMs: options.claimTtlMs,
    contactKey: options.contactKey,
    identities,
    aliases: options.aliases,
    merge: options.merge,
    policy: options.policy,
    idempotency: options.idempotency,
    breaker: new RecoveryBreaker(options.breaker),
    count,
    findInDatabase: (settings, conversationId, sourceId) => findInDatabase(fastify, settings, conversationId, sourceId),
    log
  })
  // Added for this scope and its children only: a parent scope's fastify.chatwoot is left as it was.
  fastify.chatwoot.extend(fastify, {
    deliver: (instance: string, input: DeliveryInput, deliverOptions?: DeliverOptions) => deliverer.deliver(instance, input, deliverOptions),
    conversations: { evict: (instance, contact, conversationId) => deliverer.evict(instance, contact, conversationId), person: (instance, contact) => deliverer.person(instance, contact) },
    stats: () => ({ ...stats })
  }, {
    deliver (this: { instance: string }, input: DeliveryInput, deliverOptions?: DeliverOptions) {
      return deliverer.deliver(this.instance, input, deliverOptions)
    }
  })
  fastify.addHook('onClose', async () => {
    await stopListening()
    await postgres?.close()
  })
}

export const chatwootConversations = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-conversations',
  dependencies: ['fastify-chatwoot-instances', 'fastify-chatwoot-client']
})
