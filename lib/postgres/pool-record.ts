import pg from 'pg'
import { fingerprint } from '../fingerprint.js'
import { connectError } from './connect-error.js'
import { Connections } from './drain.js'
import { describeTarget, secretsOf } from './target.js'
import type { DatabaseSource, PoolSetLog } from './types.js'

// One pool per distinct connection setting, shared by every instance that resolves to it:
// gateways often point many instances at one Chatwoot database, and a pool per name would
// multiply the connections to it.
export interface PoolRecord {
  readonly key: string
  readonly pool: pg.Pool
  /** Only pools made here are ever ended here. */
  readonly owned: boolean
  /** Where the pool connects, password masked: the only form of the settings that is ever shown. */
  readonly target: string
  /** The settings' secrets, kept to scrub them from a driver's message; never shown. */
  readonly secrets: readonly string[]
  readonly names: Set<string>
  readonly connections: Connections
  lastUsed: number
}

const DEFAULT_POOL: pg.PoolConfig = { max: 5, connectionTimeoutMillis: 5000, application_name: 'fastify-chatwoot' }

export function isPool (source: DatabaseSource): source is pg.Pool {
  return typeof source === 'object' && typeof (source as pg.Pool).connect === 'function' &&
    typeof (source as pg.Pool).end === 'function'
}

/** Equal for equal settings, whatever their key order; a pool of yours is keyed by its identity. */
export function keyOf (source: DatabaseSource): string {
  return isPool(source) ? `pool:${fingerprint(source)}` : fingerprint(typeof source === 'string' ? { connectionString: source } : source)
}

/** A pool not made here (@fastify/postgres's, or one passed in): used, counted apart, never ended. */
export function foreignRecord (key: string, pool: pg.Pool, target: string): PoolRecord {
  return { key, pool, owned: false, target, secrets: [], names: new Set(), connections: new Connections(), lastUsed: Date.now() }
}

/** The settings a pool is made with: ours, then the plugin's `pool` option, then the instance's own. */
export function poolConfig (source: string | pg.PoolConfig, poolDefaults: pg.PoolConfig): pg.PoolConfig {
  return { ...DEFAULT_POOL, ...poolDefaults, ...(typeof source === 'string' ? { connectionString: source } : source) }
}

/**
 * Makes a pool and connects it once before it is published: a wrong setting fails here, for
 * this caller only, and leaves nothing behind, so the next call tries again.
 */
export async function openPool (name: string, key: string, config: pg.PoolConfig, log: PoolSetLog): Promise<PoolRecord> {
  const target = describeTarget(config)
  const secrets = secretsOf(config)
  const pool = new pg.Pool(config)
  const connections = new Connections()
  connections.track(pool)
  // An idle client's error (server restart, pg_terminate_backend) is emitted on the pool;
  // without a listener Node turns it into an uncaught exception.
  pool.on('error', (err) => {
    log.warn({ err, target }, 'idle Postgres connection failed; the pool replaces it')
  })
  try {
    const client = await pool.connect()
    client.release()
  } catch (error) {
    pool.end().catch(() => {})
    throw connectError(name, target, secrets, error)
  }
  log.debug({ instance: name, target }, 'created a Postgres pool')
  return { key, pool, owned: true, target, secrets, names: new Set(), connections, lastUsed: Date.now() }
}
