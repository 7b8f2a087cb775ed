import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { OutageGuard } from './guarded-store.js'
import { guardedLocks } from './postgres-locks-chain.js'
import { type LockStore, PostgresLocks } from './postgres-locks.js'

export interface PostgresLocksSetup {
  /** The lock store, bounded by postgresTimeoutMs: unavailable (StoreUnavailableError) while Postgres is down. */
  locks: LockStore
  /** The unguarded store (tests read and prune it). */
  store: PostgresLocks
  /** The pool and its outage guard, shared by the identity map's durable links (one outage, one timeout). */
  pool: pg.Pool
  guard: OutageGuard
  /** Ends the pool if it was made here; a pool of the host's is left to the host. */
  close (): Promise<void>
}

interface Log {
  info (object: object, message: string): void
  warn (object: object, message: string): void
}

// Registration waits this long for the table at most: a Postgres that is down at start-up must not keep the
// app from starting (the lock falls back to in-process until it answers, and the migration is tried again).
const MIGRATE_WAIT_MS = 5000

/** The pool the option names: the one given, one made on a connection string, or @fastify/postgres'; none for false. */
function poolOf (fastify: FastifyInstance, option: pg.Pool | string | false | undefined): { pool: pg.Pool, owned: boolean } | undefined {
  if (option === false) return undefined
  if (typeof option === 'string') {
    const pool = new pg.Pool({ connectionString: option, max: 4, connectionTimeoutMillis: MIGRATE_WAIT_MS, application_name: 'fastify-chatwoot-locks' })
    return { pool, owned: true }
  }
  if (option !== undefined) return { pool: option, owned: false }
  const host = fastify.hasDecorator('pg') ? (fastify as unknown as { pg: { pool?: pg.Pool } }).pg.pool : undefined
  return host === undefined ? undefined : { pool: host, owned: false }
}

/** The Postgres lock store of chatwootConversations' `postgres` option, migrated; undefined when there is none. */
export async function postgresLocks (fastify: FastifyInstance,
  options: { postgres?: pg.Pool | string | false, postgresSchema: string, postgresTimeoutMs: number },
  count: () => void, log: Log): Promise<PostgresLocksSetup | undefined> {
  const found = poolOf(fastify, options.postgres)
  if (found === undefined) return undefined
  const { pool, owned } = found
  // An idle connection of ours that the server drops emits 'error' on the pool: unheard, it would end the process.
  if (owned) pool.on('error', (error) => log.warn({ err: error }, 'Postgres lock store: an idle connection failed'))
  const store = new PostgresLocks(pool, { schema: options.postgresSchema })
  const guard = new OutageGuard({
    ready: () => true,
    timeoutMs: options.postgresTimeoutMs,
    health: {
      failed: count,
      down: (error) => log.warn({ err: error }, 'Postgres lock store unavailable: get-or-create falls back to in-process locks'),
      up: () => log.info({}, 'Postgres lock store available again')
    }
  })
  let timer: NodeJS.Timeout | undefined
  const waited = new Promise<'waited'>((resolve) => { timer = setTimeout(() => resolve('waited'), MIGRATE_WAIT_MS) })
  const outcome = await Promise.race([store.migrate().then(() => 'done' as const), waited]).catch((error: unknown) => error)
  clearTimeout(timer)
  if (outcome !== 'done') {
    log.warn({ err: outcome === 'waited' ? undefined : outcome, schema: options.postgresSchema },
      'Postgres lock store: its table could not be created yet; it is tried again at the first lock')
  }
  return {
    locks: guardedLocks(store, guard),
    store,
    pool,
    guard,
    close: async () => {
      if (owned) await pool.end()
    }
  }
}
