import type pg from 'pg'
import { DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import { OptionsInvalidError } from '../errors.js'
import { withRenamedOptions } from '../options.js'
import type { BreakerOptions } from './breaker.js'
import type { ConversationPolicy, DeliveryContact } from './get-or-create.js'
import { LOCK_SCHEMA_NAME } from './postgres-locks-schema.js'

/**
 * An ioredis `Redis` or `Cluster`, described by what the plugin checks of it, so the published types need
 * no ioredis of the user's (a gateway without Redis has none). The client is checked again at registration.
 */
export interface RedisClientLike {
  readonly status: string
  duplicate (...args: any[]): unknown
  publish (...args: any[]): unknown
  subscribe (...args: any[]): unknown
}

export interface ChatwootConversationsOptions {
  /** The ioredis client (Redis or Cluster) for the shared cache, lock and claims; false for none. Default: `fastify.redis`. */
  redis?: RedisClientLike | false
  /**
   * A Postgres for the get-or-create lock while Redis is unavailable, or always when there is no Redis, so
   * replicas still make one conversation per new contact: a pg.Pool, a connection string (a pool of its own,
   * ended on close), or false for none. Default: @fastify/postgres' `fastify.pg.pool` when registered.
   */
  postgres?: pg.Pool | string | false
  /** The schema of the lock table. Default 'fastify_chatwoot'. */
  postgresSchema?: string
  /** The longest a lock call waits on Postgres before going on without it. Default 1000. */
  postgresTimeoutMs?: number
  /** Prefix of every key. Default 'fcw:'. */
  keyPrefix?: string
  /** How long a conversation id is cached. Default 8 h. */
  ttlMs?: number
  /** How long a process keeps an id without asking Redis; other processes' changes reach it at once through pub/sub. Default 60 000. */
  localTtlMs?: number
  /** The identity a conversation is kept for. Default: the contact's identifier. */
  contactKey?: (contact: DeliveryContact) => string
  /**
   * Other ids of the contact's person, from the host's own mapping (a WhatsApp gateway's lid/phone table):
   * added to `contact.aliases`. A function because instance configs are data. See docs/identity.md.
   */
  aliases?: (instance: string, contact: DeliveryContact) => string[] | Promise<string[]>
  /** When a delivery finds two Chatwoot contacts to be one person, also merge them (Chatwoot's contact merge). Default false. */
  merge?: boolean
  reuse?: ConversationPolicy['reuse']
  reopenResolved?: boolean
  createStatus?: ConversationPolicy['createStatus']
  /** 'check' (default): look before re-sending a create that may have landed. 'always': also refuse a second delivery of a delivered source_id. */
  idempotency?: 'check' | 'always'
  /** How long the cross-process get-or-create lock lives if its holder dies (its holder keeps it alive). Default 30 000. */
  lockTtlMs?: number
  /** How long an 'always' claim lives if its holder dies (its holder keeps it alive). Default 30 000. */
  claimTtlMs?: number
  /** The longest a delivery waits on Redis before going on without it. Default 250. */
  redisTimeoutMs?: number
  breaker?: BreakerOptions
  /** Most conversation ids (and Chatwoot identities) a process keeps in memory; Redis keeps them all. Default 100 000. */
  maxEntries?: number
  /** @deprecated since 0.2: use ttlMs. */
  ttl?: number
  /** @deprecated since 0.2: use localTtlMs. */
  localTtl?: number
  /** @deprecated since 0.2: use lockTtlMs. */
  lockTtl?: number
  /** @deprecated since 0.2: use redisTimeoutMs. */
  redisTimeout?: number
}

const HOUR = 3_600_000
const RENAMED = { ttl: 'ttlMs', localTtl: 'localTtlMs', lockTtl: 'lockTtlMs', redisTimeout: 'redisTimeoutMs' } as const

function option (condition: boolean, name: string, expected: string, got: unknown) {
  if (!condition) throw new OptionsInvalidError('chatwootConversations', `option "${name}" must be ${expected}, got ${String(got)}`)
}

const isDuration = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

/** The options with their defaults, checked; a deprecated name is warned of once per registration. */
export function conversationsOptions (given: ChatwootConversationsOptions | undefined) {
  const renamed = withRenamedOptions(given, RENAMED, 'chatwootConversations')
  const {
    redis,
    postgres,
    postgresSchema = 'fastify_chatwoot',
    postgresTimeoutMs = 1000,
    keyPrefix = 'fcw:',
    ttlMs = 8 * HOUR,
    localTtlMs = 60_000,
    contactKey = (contact: DeliveryContact) => contact.identifier,
    aliases,
    merge = false,
    reuse = 'open-or-pending',
    reopenResolved = false,
    createStatus = 'open',
    idempotency = 'check',
    lockTtlMs = 30_000,
    claimTtlMs = 30_000,
    redisTimeoutMs = 250,
    breaker = {},
    maxEntries = DEFAULT_MAX_ENTRIES
  } = renamed as ChatwootConversationsOptions
  option(typeof keyPrefix === 'string', 'keyPrefix', 'a string', keyPrefix)
  // The connection string is never shown: it can carry a password.
  option(postgres === undefined || postgres === false || (typeof postgres === 'string' && /^postgres(ql)?:\/\//.test(postgres)) ||
    (typeof postgres === 'object' && postgres !== null && typeof (postgres as { connect?: unknown }).connect === 'function'),
  'postgres', 'a pg.Pool, a postgres:// connection string or false', typeof postgres === 'string' ? 'a string that is not one' : typeof postgres)
  option(typeof postgresSchema === 'string' && LOCK_SCHEMA_NAME.test(postgresSchema), 'postgresSchema', 'a lowercase SQL identifier',
    typeof postgresSchema === 'string' && postgresSchema.length <= 64 ? JSON.stringify(postgresSchema) : typeof postgresSchema)
  for (const [name, value] of Object.entries({ ttlMs, localTtlMs, lockTtlMs, claimTtlMs, redisTimeoutMs, postgresTimeoutMs })) {
    option(isDuration(value), name, 'a number of milliseconds > 0', value)
  }
  option(Number.isSafeInteger(maxEntries) && maxEntries >= 1, 'maxEntries', 'a positive integer', maxEntries)
  option(typeof contactKey === 'function', 'contactKey', 'a function', typeof contactKey)
  option(aliases === undefined || typeof aliases === 'function', 'aliases', 'a function (instance, contact) => string[]', typeof aliases)
  option(typeof merge === 'boolean', 'merge', 'a boolean', merge)
  option(reuse === 'open-or-pending' || reuse === 'never', 'reuse', "'open-or-pending' or 'never'", reuse)
  option(typeof reopenResolved === 'boolean', 'reopenResolved', 'a boolean', reopenResolved)
  option(createStatus === 'open' || createStatus === 'pending', 'createStatus', "'open' or 'pending'", createStatus)
  option(idempotency === 'check' || idempotency === 'always', 'idempotency', "'check' or 'always'", idempotency)
  return {
    redis,
    postgres,
    postgresSchema,
    postgresTimeoutMs,
    keyPrefix,
    ttlMs,
    localTtlMs,
    contactKey,
    aliases,
    merge,
    idempotency,
    lockTtlMs,
    claimTtlMs,
    redisTimeoutMs,
    breaker,
    maxEntries,
    policy: { reuse, reopenResolved, createStatus } satisfies ConversationPolicy
  }
}
