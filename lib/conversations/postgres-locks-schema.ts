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
    CREATE INDEX locks_expires_at ON ${s}.locks (expires_at);`,
  // The identity map's durable copy (docs/identity.md): id -> canonical id per instance, ids URI-escaped as
  // in Redis. A canonical id has no row of its own. link_identities is one statement for the caller.
  (s) => `
    CREATE TABLE ${s}.identity_links (
      instance text NOT NULL,
      id text NOT NULL,
      canonical text NOT NULL,
      PRIMARY KEY (instance, id)
    );
    CREATE INDEX identity_links_canonical ON ${s}.identity_links (instance, canonical);
    CREATE FUNCTION ${s}.link_identities (p_instance text, p_ids text[], OUT winner text, OUT losers text[], OUT changed boolean)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      groups text[];
      moved integer;
      written integer;
    BEGIN
      -- One link of an instance at a time, until its commit: under READ COMMITTED each statement of a
      -- volatile function takes a fresh snapshot, so the reads below see every link committed before.
      PERFORM pg_advisory_xact_lock(hashtextextended('fastify-chatwoot-links:' || p_instance, 0));
      -- Compared byte by byte (COLLATE "C"), as Redis's Lua and JavaScript compare the same escaped ids.
      SELECT array_agg(g ORDER BY g COLLATE "C") INTO groups FROM (
        SELECT DISTINCT coalesce(l.canonical, i.id) AS g FROM unnest(p_ids) AS i(id)
          LEFT JOIN ${s}.identity_links l ON l.instance = p_instance AND l.id = i.id) AS found;
      winner := groups[1];
      losers := coalesce(groups[2:], '{}');
      UPDATE ${s}.identity_links l SET canonical = winner WHERE l.instance = p_instance AND l.canonical = ANY (losers);
      GET DIAGNOSTICS moved = ROW_COUNT;
      INSERT INTO ${s}.identity_links AS l (instance, id, canonical)
        SELECT DISTINCT p_instance, u.id, winner FROM unnest(p_ids || losers) AS u(id) WHERE u.id <> winner
        ON CONFLICT (instance, id) DO UPDATE SET canonical = EXCLUDED.canonical WHERE l.canonical <> EXCLUDED.canonical;
      GET DIAGNOSTICS written = ROW_COUNT;
      changed := moved + written > 0;
    END
    $fn$;`
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
