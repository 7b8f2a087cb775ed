import type { FastifyInstance } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import { OptionsInvalidError } from '../errors.js'

/** The `redis` option of chatwootConversations: a client, false for none, or unset for @fastify/redis's. */
export type RedisOption = Redis | Cluster | false | undefined

// ioredis is the host's (a peer of @fastify/redis), not ours: a client is recognised by what the
// store uses of it, so a client from another copy of ioredis (or a compatible one) passes too.
const METHODS = ['get', 'set', 'eval', 'evalsha', 'defineCommand', 'publish', 'subscribe', 'duplicate'] as const

export function isRedisClient (value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false
  const client = value as Record<string, unknown>
  return typeof client.status === 'string' && METHODS.every((method) => typeof client[method] === 'function')
}

/**
 * The client the conversations store uses: `redis` when given, none for `false`, else @fastify/redis's
 * `fastify.redis` when it is registered. A namespaced @fastify/redis decorates `fastify.redis` with an
 * object of clients, not a client: which one to use is the host's choice, so it is asked for.
 */
export function resolveRedis (fastify: FastifyInstance, option: unknown): Redis | Cluster | undefined {
  if (option === false) return undefined
  if (option !== undefined) {
    if (isRedisClient(option)) return option
    throw new OptionsInvalidError('chatwootConversations',
      `option "redis" must be an ioredis Redis or Cluster client, or false for none, got ${describe(option)}`)
  }
  if (!fastify.hasDecorator('redis')) return undefined
  const decorated: unknown = (fastify as FastifyInstance & { redis: unknown }).redis
  if (isRedisClient(decorated)) return decorated
  const names = typeof decorated === 'object' && decorated !== null
    ? Object.keys(decorated).filter((name) => isRedisClient((decorated as Record<string, unknown>)[name]))
    : []
  if (names.length > 0) {
    throw new OptionsInvalidError('chatwootConversations',
      `fastify.redis is not a client but @fastify/redis namespaces (${names.join(', ')}): pass the one to use, e.g. redis: ${access(names[0]!)}, or redis: false for none`)
  }
  throw new OptionsInvalidError('chatwootConversations',
    `fastify.redis is not a Redis client, got ${describe(decorated)}: pass option "redis" an ioredis Redis or Cluster client, or false for none`)
}

/** What was received, never its content when it is a string (a Redis URL may hold a password). */
function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return 'a string (a URL is not accepted: pass a client)'
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') {
    const name = Object.getPrototypeOf(value)?.constructor?.name
    const keys = Object.keys(value).slice(0, 5)
    return `${typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object'} with keys [${keys.join(', ')}]`
  }
  return `${typeof value} ${String(value)}`
}

function access (name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `fastify.redis.${name}` : `fastify.redis[${JSON.stringify(name)}]`
}
