import { randomUUID } from 'node:crypto'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import {
  chatwootClient, type ChatwootClientPluginOptions, chatwootConversations, type ChatwootConversationsOptions, chatwootInstances,
  type InstanceConfig, instancePostgres, type InstancePostgresOptions
} from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { redisUrl, requireServers } from '../setup/servers.js'

/** The Redis the suite runs against (the one requireServers('redis') checks). */
export const REDIS_URL = redisUrl()

/** Quick retries, so failing calls end soon. */
export const QUICK_RETRY = { minDelayMs: 1, maxDelayMs: 20 }

/** Instance name -> config; read at every resolve, so a test may change an entry (and invalidate it). */
export type InstanceTable = Record<string, InstanceConfig | undefined>

export interface GatewayOptions {
  /** The instances chatwootInstances resolves. Default none (with `resolve`, unused). */
  instances?: InstanceTable
  /** Instead of reading `instances`: the host's own lookup (e.g. one that fails, or builds configs). */
  resolve?: (name: string) => unknown
  /** The app to build on (e.g. appWithLogs().app); default a fresh Fastify without logs. */
  app?: FastifyInstance
  /** chatwootInstances' ttlMs. Default the plugin's own. */
  instancesTtlMs?: number
  /** @deprecated use instancesTtlMs. */
  instancesTtl?: number
  /** Register @fastify/redis: true (default) for REDIS_URL, a URL for another server, false for none. */
  redis?: boolean | string
  /** chatwootClient's options. Default `{ retry: QUICK_RETRY }`; false to leave the plugin out. */
  client?: ChatwootClientPluginOptions | false
  /** Register instancePostgres (true: its defaults). Default false. */
  postgres?: boolean | InstancePostgresOptions
  /** chatwootConversations' options (a unique keyPrefix is added when none is given); false to leave the plugin out. */
  conversations?: ChatwootConversationsOptions | false
  /** Routes and other plugins, registered last. */
  setup?: (app: FastifyInstance) => unknown
  /** Await app.ready(). Default true. */
  ready?: boolean
}

export interface Gateway {
  app: FastifyInstance
  /** The table given in the options (the same object). */
  instances: InstanceTable
  /** chatwootConversations' key prefix ('' when the plugin is left out). */
  keyPrefix: string
  /** The app's Redis client; undefined without @fastify/redis. */
  redis: Redis | undefined
  /** Every name chatwootInstances asked to resolve, in order (a cached instance is not asked again). */
  resolved: string[]
}

/** An instance config for one simulated account. */
export function instanceOf (sim: ChatwootSimulator, account: CreatedAccount, extra: Partial<InstanceConfig> = {}): InstanceConfig {
  return {
    chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token },
    ...extra
  }
}

/**
 * A gateway as a host app builds it: chatwootInstances (from `instances`), optionally @fastify/redis,
 * chatwootClient, optionally instancePostgres, and chatwootConversations. Closed at teardown, after
 * its conversation keys are removed from Redis.
 */
export async function gateway (t: { teardown: (fn: () => unknown) => void }, options: GatewayOptions): Promise<Gateway> {
  const { instances = {}, redis = true, client = { retry: QUICK_RETRY }, postgres = false, conversations = {}, ready = true } = options
  const { resolve = (name: string) => instances[name], instancesTtlMs = options.instancesTtl } = options
  const resolved: string[] = []
  const app = options.app ?? Fastify()
  // Another URL is a test's own server (a proxy, a stopped one): only the suite's Redis is checked.
  if (redis === true) await requireServers('redis')
  const keyPrefix = conversations === false ? '' : conversations.keyPrefix ?? `t${randomUUID()}:`
  let closed = false
  t.teardown(async () => {
    if (!closed && keyPrefix !== '' && app.hasDecorator('redis')) await deleteKeys(app.redis, keyPrefix).catch(() => {})
    await app.close()
  })
  app.addHook('onClose', async () => {
    closed = true
  })

  await app.register(chatwootInstances, {
    resolve: (name) => {
      resolved.push(name)
      return resolve(name) as InstanceConfig | undefined
    },
    ...(instancesTtlMs === undefined ? {} : { ttlMs: instancesTtlMs })
  })
  if (redis !== false) await app.register(fastifyRedis, { url: redis === true ? REDIS_URL : redis })
  if (client !== false) await app.register(chatwootClient, client)
  if (postgres !== false) await app.register(instancePostgres, postgres === true ? {} : postgres)
  if (conversations !== false) await app.register(chatwootConversations, { ...conversations, keyPrefix })
  if (options.setup !== undefined) await options.setup(app)
  if (ready) await app.ready()
  return { app, instances, keyPrefix, redis: app.hasDecorator('redis') ? app.redis : undefined, resolved }
}

/** Removes every key under `prefix` (prefixes are unique per test, so this is tidying only). */
export async function deleteKeys (redis: Redis, prefix: string): Promise<void> {
  // Braces and other glob characters in a prefix would widen the match: escape them.
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (character) => `\\${character}`)}*`
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
}

/** The rejection of a call that must fail; a call that succeeds fails the test. */
export async function failure (promise: Promise<unknown>): Promise<Error & { code?: string, statusCode?: number }> {
  let answer: unknown
  try {
    answer = await promise
  } catch (error) {
    return error as Error
  }
  throw new Error(`expected a failure, got ${JSON.stringify(answer)}`)
}
