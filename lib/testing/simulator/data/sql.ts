import type pg from 'pg'

export type Queryable = pg.Pool | pg.PoolClient

/** Runs `work` in one transaction, so a failed create leaves no half-written rows. */
export async function transaction<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

export function isUniqueViolation (error: unknown): boolean {
  return (error as { code?: unknown })?.code === '23505'
}

export async function one<T extends pg.QueryResultRow> (db: Queryable, text: string, values: unknown[]): Promise<T | undefined> {
  const { rows } = await db.query<T>(text, values)
  return rows[0]
}
