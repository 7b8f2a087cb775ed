import { channel } from 'node:diagnostics_channel'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { Message } from '../client/types.js'
import { OptionsInvalidError } from '../errors.js'
import { type BreakerOptions, RecoveryBreaker } from './breaker.js'
import { ConversationCache } from './conversation-cache.js'
import { Deliverer } from './deliver.js'
import type { ConversationPolicy, DeliveryContact } from './get-or-create.js'
import { GuardedStore } from './guarded-store.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore } from './redis-store.js'
import type { ConversationEvent, ConversationStats } from './types.js'

/** `{ event, instance }` for every counted event (hits, misses, creates, recoveries, dedupes, ...). */
export const CONVERSATIONS_CHANNEL = 'fastify-chatwoot:conversations'
const events = channel(CONVERSATIONS_CHANNEL)

export interface ChatwootConversationsOptions {
  /** Prefix of every key. Default 'fcw:'. */
  keyPrefix?: string
  /** How long a conversation id is cached. Default 8 h. */
  ttl?: number
  /** How long a process keeps an id without asking Redis; other processes' changes reach it at once through pub/sub. Default 60 000. */
  localTtl?: number
  /** The identity a conversation is kept for. Default: the contact's identifier. */
  contactKey?: (contact: DeliveryContact) => string
  reuse?: ConversationPolicy['reuse']
  reopenResolved?: boolean
  createStatus?: ConversationPolicy['createStatus']
  /** 'check' (default): look before re-sending a create that may have landed. 'always': also refuse a second delivery of a delivered source_id. */
  idempotency?: 'check' | 'always'
  /** How long the cross-process get-or-create lock lives if its holder dies. Default 30 000. */
  lockTtl?: number
  /** The longest a delivery waits on Redis before going on without it. Default 250. */
  redisTimeout?: number
  breaker?: BreakerOptions
}

const HOUR = 3_600_000

function option (condition: boolean, name: string, expected: string, got: unknown) {
  if (!condition) throw new OptionsInvalidError('chatwootConversations', `option "${name}" must be ${expected}, got ${String(got)}`)
}

const isDuration = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

const plugin: FastifyPluginAsync<ChatwootConversationsOptions> = async (fastify, options) => {
  const {
    keyPrefix = 'fcw:',
    ttl = 8 * HOUR,
    localTtl = 60_000,
    contactKey = (contact: DeliveryContact) => contact.identifier,
    reuse = 'open-or-pending',
    reopenResolved = false,
    createStatus = 'open',
    idempotency = 'check',
    lockTtl = 30_000,
    redisTimeout = 250,
    breaker = {}
  } = options ?? {}
  option(typeof keyPrefix === 'string', 'keyPrefix', 'a string', keyPrefix)
  for (const [name, value] of Object.entries({ ttl, localTtl, lockTtl, redisTimeout })) option(isDuration(value), name, 'a number of milliseconds > 0', value)
  option(typeof contactKey === 'function', 'contactKey', 'a function', typeof contactKey)
  option(reuse === 'open-or-pending' || reuse === 'never', 'reuse', "'open-or-pending' or 'never'", reuse)
  option(typeof reopenResolved === 'boolean', 'reopenResolved', 'a boolean', reopenResolved)
  option(createStatus === 'open' || createStatus === 'pending', 'createStatus', "'open' or 'pending'", createStatus)
  option(idempotency === 'check' || idempotency === 'always', 'idempotency', "'check' or 'always'", idempotency)

  const log = fastify.log.child({ plugin: 'chatwootConversations' })
  const stats: ConversationStats = {
    deliveries: 0, hits: 0, misses: 0, creates: 0, recoveries: 0, dedupes: 0, lockWaits: 0, evictions: 0, storeErrors: 0, failures: 0
  }
  const count = (event: ConversationEvent, instance?: string) => {
    stats[event]++
    if (events.hasSubscribers) events.publish({ event, instance })
  }

  const redis = fastify.hasDecorator('redis') ? (fastify as FastifyInstance & { redis: Redis }).redis : undefined
  if (redis === undefined) log.info('no @fastify/redis registered: conversation ids are cached per process, and locks are per process')
  const store = new GuardedStore(redis === undefined ? new MemoryStore() : new RedisStore(redis, `${keyPrefix}conversations`), {
    // ioredis queues commands while disconnected and runs them, stale, on reconnect: ask only a ready client.
    ready: () => redis === undefined || redis.status === 'ready',
    timeoutMs: redisTimeout,
    health: {
      failed: () => count('storeErrors'),
      down: (error) => log.warn({ err: error }, 'Redis unavailable: deliveries go on without the shared cache and lock'),
      up: () => log.info('Redis available again: the shared cache and lock are back')
    }
  })
  const cache = new ConversationCache({ store, ttlMs: ttl, localTtlMs: localTtl, lockTtlMs: lockTtl, count })
  const stopListening = await store.listen((key) => cache.forgetLocal(key))

  const deliverer = new Deliverer({
    instances: fastify.chatwootInstances,
    chatwoot: fastify.chatwoot,
    cache,
    store,
    keyPrefix,
    ttlMs: ttl,
    contactKey,
    policy: { reuse, reopenResolved, createStatus },
    idempotency,
    breaker: new RecoveryBreaker(breaker),
    count,
    findInDatabase: (instance, conversationId, sourceId) => findInDatabase(fastify, instance, conversationId, sourceId),
    onDatabaseError: (error, instance) => log.warn({ err: error, instance }, 'checking for a stored message in the instance database failed; asking the API instead')
  })
  fastify.chatwoot.addHook('onError', deliverer.recover)
  fastify.chatwoot.useFindMessage(deliverer.findMessage)
  fastify.chatwoot.deliver = (instance, input) => deliverer.deliver(instance, input)
  fastify.chatwoot.conversations = { evict: (instance, contact) => deliverer.evict(instance, contact) }
  fastify.chatwoot.stats = () => ({ ...stats })
  fastify.addHook('onClose', async () => {
    await stopListening()
  })
}

/**
 * The stored message, read from the instance's own Chatwoot database when it has one. The path's
 * id is the display id; messages.conversation_id is the internal id, hence the join.
 */
async function findInDatabase (fastify: FastifyInstance, instance: string, conversationId: number, sourceId: string): Promise<Message | null | undefined> {
  if (!fastify.hasDecorator('instancePg')) return undefined
  const settings = await fastify.chatwootInstances.get(instance)
  if (settings.database === undefined) return undefined
  const { rows } = await fastify.instancePg.query(instance,
      `SELECT m.id, m.content, m.inbox_id, m.message_type, m.private, m.source_id,
              floor(extract(epoch FROM m.created_at))::int AS created_at
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.account_id = $1 AND c.display_id = $2 AND m.source_id = $3
        ORDER BY m.id LIMIT 1`, [settings.chatwoot.accountId, conversationId, sourceId])
  const row = rows[0]
  return row === undefined ? null : { ...row, conversation_id: conversationId }
}

export const chatwootConversations = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-conversations',
  dependencies: ['fastify-chatwoot-instances', 'fastify-chatwoot-client']
})
