import type pg from 'pg'
import { inTransaction } from '../pg-transaction.js'

/** A schema name that is safe to interpolate into SQL (it cannot be a bind parameter). */
export const LOCK_SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

// Versioned steps, each run once, in order, under an advisory lock: replicas that start together wait for
// one another instead of racing on CREATE (whose IF NOT EXISTS is not safe against a concurrent CREATE).
// A new version appends a step; a released step is never edited.
const STEPS: ReadonlyArray<(schema: string) => string> = [
  (s) => `
    CREATE TABLE ${s}.locks (
      key text PRIMARY KEY,
      -- Only the holder of this token may extend or release the lease.
      token text NOT NULL,
      -- On the database's clock: the replicas' own clocks never decide who holds a lock.
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX locks_expires_at ON ${s}.locks (expires_at);`
]

export const LOCK_SCHEMA_VERSION = STEPS.length

/** Creates or upgrades the lock store's tables; safe when several replicas run it at once. */
export async function migrateLocks (pool: pg.Pool, schema: string): Promise<{ from: number, to: number }> {
  return inTransaction(await pool.connect(), async (db) => {
    await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-chatwoot-locks:${schema}`])
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    // A table of its own: another part of the library may version the same schema differently.
    await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.locks_meta (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)`)
    const { rows } = await db.query<{ version: number }>(`SELECT version FROM ${schema}.locks_meta WHERE id = 1`)
    const from = rows[0]?.version ?? 0
    // A newer replica migrated further: its tables serve this one's queries too.
    if (from >= LOCK_SCHEMA_VERSION) return { from, to: from }
    for (let step = from; step < LOCK_SCHEMA_VERSION; step++) await db.query(STEPS[step]!(schema))
    await db.query(`INSERT INTO ${schema}.locks_meta (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = $1`, [LOCK_SCHEMA_VERSION])
    return { from, to: LOCK_SCHEMA_VERSION }
  })
}
