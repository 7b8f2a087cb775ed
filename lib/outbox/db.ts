import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { OutboxStorageError } from '../errors.js'
import { inTransaction } from '../pg-transaction.js'

/** Anything that runs one statement: a pg.Pool, a checked-out client (the host's transaction), @fastify/postgres' pool. */
export interface Queryable {
  query<R extends pg.QueryResultRow = any> (text: string, values?: unknown[]): Promise<{ rows: R[], rowCount: number | null }>
}

/** A pool the outbox checks connections out of for its own short transactions. */
export interface OutboxPool extends Queryable {
  connect (): Promise<pg.PoolClient>
}

/**
 * Runs `work` in one short transaction on a connection of its own. Never held across a Chatwoot call:
 * the embedded PGlite runs one transaction at a time, and a lock held across a slow call stalls every replica.
 */
export async function transaction<T> (pool: OutboxPool, work: (db: Queryable) => Promise<T>): Promise<T> {
  return inTransaction(await pool.connect(), work)
}

/** A schema name that is safe to interpolate into SQL (it cannot be a bind parameter). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** Embedded PGlite serves every connection from one session: see exclusive(). */
export async function isEmbedded (pool: Queryable): Promise<boolean> {
  const { rows } = await pool.query<{ version: string }>('SELECT version() AS version')
  return /PGlite/.test(rows[0]?.version ?? '')
}

/**
 * The pool with one statement or transaction of ours at a time. PGlite's socket server interleaves the
 * protocol messages of concurrent connections outside transactions, and one connection's unnamed
 * prepared statement then replaces another's ("unnamed prepared statement does not exist").
 */
export function exclusive (pool: OutboxPool): OutboxPool {
  let tail: Promise<unknown> = Promise.resolve()
  const turn = <T>(work: () => Promise<T>): Promise<T> => {
    const result = tail.then(work)
    tail = result.catch(() => {})
    return result
  }
  return {
    query: (text, values) => turn(() => pool.query(text, values)),
    // The turn lasts from checkout to release: a transaction's statements keep it.
    connect: () => new Promise<pg.PoolClient>((resolve, reject) => {
      turn(() => new Promise<void>((_resolve) => {
        pool.connect().then((client) => {
          const release = client.release.bind(client)
          client.release = (error?: Error | boolean) => {
            release(error)
            _resolve()
          }
          resolve(client)
        }, (error: unknown) => {
          _resolve()
          reject(error)
        })
      })).catch(reject)
    })
  }
}

/** The outbox's pool: the host's, one of its own on a connection string (owned: ended on close), else @fastify/postgres'. */
export function storage (fastify: FastifyInstance, pool: pg.Pool | undefined, connectionString: string | undefined, max: number) {
  if (pool !== undefined) return { pool: pool as OutboxPool, owned: false }
  if (connectionString !== undefined) return { pool: new pg.Pool({ connectionString, max, application_name: 'fastify-chatwoot-outbox' }) as OutboxPool, owned: true }
  const host = fastify.hasDecorator('pg') ? (fastify as unknown as { pg: { pool?: pg.Pool } }).pg.pool : undefined
  if (host === undefined) throw new OutboxStorageError()
  return { pool: host as OutboxPool, owned: false }
}
