import type pg from 'pg'
import { connectError, isStatementError } from './connect-error.js'
import type { PoolRecord } from './pool-record.js'
import type { PoolSetLog } from './types.js'
import { inTransaction } from '../pg-transaction.js'

export interface RunContext {
  log: PoolSetLog
  /** Told when taking a connection failed: pg-pool changed its counts without an event. */
  connectFailed (pool: pg.Pool): void
}

// Callbacks rather than promises: this is the hot path, and it must cost no more than
// pool.query. Unlike pool.query, a statement error keeps the connection in the pool.
export function runQuery<R extends pg.QueryResultRow> (
  context: RunContext, name: string, record: PoolRecord, text: string | pg.QueryConfig, values?: unknown[]
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    record.pool.connect((connectFailure, client, release) => {
      if (connectFailure !== undefined || client === undefined) {
        context.connectFailed(record.pool)
        reject(connectError(name, record.target, record.secrets, connectFailure))
        return
      }
      let broken: Error | undefined
      const onError = (err: Error) => { broken = err }
      client.once('error', onError)
      const done = (error: Error | null | undefined, result?: pg.QueryResult<R>) => {
        client.removeListener('error', onError)
        if (error && !isStatementError(error)) broken ??= error
        release(broken)
        if (error) reject(error)
        else resolve(result as pg.QueryResult<R>)
      }
      try {
        client.query<R>(text as string, values as any[], done)
      } catch (error) {
        done(error as Error)
      }
    })
  })
}

/** Runs `work` inside BEGIN/COMMIT, rolling back when it throws; the client is always released. */
export async function runTransaction<T> (
  context: RunContext, name: string, record: PoolRecord, work: (client: pg.PoolClient) => Promise<T>
): Promise<T> {
  const client = await connect(context, name, record)
  return inTransaction(client, work, (err) => {
    context.log.warn({ err, instance: name, target: record.target }, 'Postgres connection lost during a transaction')
  })
}

async function connect (context: RunContext, name: string, record: PoolRecord): Promise<pg.PoolClient> {
  try {
    return await record.pool.connect()
  } catch (error) {
    context.connectFailed(record.pool)
    throw connectError(name, record.target, record.secrets, error)
  }
}
