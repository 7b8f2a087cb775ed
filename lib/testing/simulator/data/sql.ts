import type pg from 'pg'
import { inTransaction } from '../../../pg-transaction.js'

export type Queryable = pg.Pool | pg.PoolClient

/** Runs `work` in one transaction, so a failed create leaves no half-written rows. */
export async function transaction<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(await pool.connect(), work)
}

export function isUniqueViolation (error: unknown): boolean {
  return (error as { code?: unknown })?.code === '23505'
}

export async function one<T extends pg.QueryResultRow> (db: Queryable, text: string, values: unknown[]): Promise<T | undefined> {
  const { rows } = await db.query<T>(text, values)
  return rows[0]
}
