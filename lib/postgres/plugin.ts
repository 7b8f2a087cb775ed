import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type pg from 'pg'
import { OptionsInvalidError } from '../errors.js'
import { PoolSet, type PoolSetStats, type PoolState, type ResolveDatabase } from './pool-set.js'

export interface InstancePostgresOptions {
  /**
   * Connection settings of an instance's database: a connection string, a `pg.PoolConfig`,
   * or a `pg.Pool` of yours (never ended by this plugin). `undefined` falls back to
   * @fastify/postgres's pool when registered. Default: the instance's `database` from
   * `fastify.chatwootInstances`.
   */
  resolve?: ResolveDatabase
  /** Most pools kept open at once; the least recently used is drained beyond. Default 50. */
  maxPools?: number
  /** A pool unused for this long is ended. Default 300 000 (5 min). */
  idleTimeoutMs?: number
  /** How long resolved settings are trusted before `resolve` is asked again. Default 30 000. */
  revalidateMs?: number
  /** Defaults for every pool created, under the resolved settings. Default `{ max: 5, connectionTimeoutMillis: 5000 }`. */
  pool?: pg.PoolConfig
}

export interface InstancePg {
  /** The pool of `name`'s database, created on first use. */
  pool (name: string): Promise<pg.Pool>
  query<R extends pg.QueryResultRow = any> (name: string, text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>
  /** Runs `work` inside BEGIN/COMMIT, rolling back when it throws; the client is always released. */
  transact<T> (name: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T>
  /** Forgets `name`'s pool; it is drained and ended once no other instance shares it. */
  evict (name: string): Promise<void>
  stats (): PoolSetStats
  /** Each open pool with the instances bound to it (for a health page). */
  pools (): PoolState[]
}

declare module 'fastify' {
  interface FastifyInstance {
    instancePg: InstancePg
  }
}

const plugin: FastifyPluginAsync<InstancePostgresOptions> = async (fastify, options) => {
  const {
    resolve = defaultResolve(fastify),
    maxPools = 50,
    idleTimeoutMs = 300_000,
    revalidateMs = 30_000,
    pool: poolDefaults = {}
  } = options ?? {}
  positiveNumber('maxPools', maxPools, true)
  positiveNumber('idleTimeoutMs', idleTimeoutMs)
  positiveNumber('revalidateMs', revalidateMs)

  const log = fastify.log.child({ plugin: 'instancePostgres' })
  const pools = new PoolSet({
    resolve,
    fallback: () => fallbackPool(fastify),
    maxPools,
    idleTimeoutMs,
    revalidateMs,
    poolDefaults,
    log: {
      warn: (details, message) => log.warn(details, message),
      debug: (details, message) => log.debug(details, message)
    }
  })

  // Invalidating an instance must reach its pool at once, not after revalidateMs.
  const unsubscribe = fastify.hasDecorator('chatwootInstances')
    ? fastify.chatwootInstances.onChange((name) => pools.markStale(name))
    : undefined

  const instancePg: InstancePg = {
    pool: (name) => pools.pool(name),
    query: (name, text, values) => pools.query(name, text, values),
    transact: (name, work) => pools.transact(name, work),
    evict: (name) => pools.evict(name),
    stats: () => pools.stats(),
    pools: () => pools.pools()
  }
  fastify.decorate('instancePg', instancePg)

  fastify.addHook('onClose', async () => {
    unsubscribe?.()
    await pools.close()
  })
}

function defaultResolve (fastify: FastifyInstance): ResolveDatabase {
  if (!fastify.hasDecorator('chatwootInstances')) {
    throw new OptionsInvalidError('instancePostgres',
      'give a "resolve" option, or register chatwootInstances before instancePostgres')
  }
  return async (name) => (await fastify.chatwootInstances.get(name)).database
}

// Looked up at use time: @fastify/postgres may be registered after this plugin.
function fallbackPool (fastify: FastifyInstance): pg.Pool | undefined {
  const pool = (fastify as unknown as { pg?: { pool?: pg.Pool } }).pg?.pool
  return typeof pool?.connect === 'function' ? pool : undefined
}

function positiveNumber (option: string, value: unknown, integer = false): void {
  const ok = typeof value === 'number' && value > 0 && (integer ? Number.isSafeInteger(value) : Number.isFinite(value))
  if (!ok) {
    throw new OptionsInvalidError('instancePostgres',
      `option "${option}" must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`)
  }
}

export const instancePostgres = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-postgres'
})
