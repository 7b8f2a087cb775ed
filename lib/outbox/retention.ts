import type { Queryable } from './db.js'

// Retention and data minimisation. A delivered row is kept for the retention window (idempotent enqueue
// answers from it, the delete-window check re-delivers from it), but its content goes as soon as a good
// check vouched for it: after that nothing can need the message again. Every chore works in bounded
// batches, so one run never holds many rows locked nor stalls the workers' short statements.

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`

/** Strips content and attachments of delivered entries a good delete-window check vouched for; their count. */
export async function strip (db: Queryable, schema: string, limit: number): Promise<number> {
  const { rowCount } = await db.query(`
    UPDATE ${schema}.entries SET payload = NULL, stripped_at = now()
     WHERE id IN (SELECT id FROM ${schema}.entries
                   WHERE state = 'delivered' AND checked_at IS NOT NULL AND stripped_at IS NULL LIMIT $1)
       AND state = 'delivered'`, [limit])
  return rowCount ?? 0
}

export interface PruneSettings {
  retentionMs: number
  deadRetentionMs: number
  limit: number
}

/** Deletes delivered rows past the retention window and dead letters past theirs, one batch of each. */
export async function prune (db: Queryable, schema: string, { retentionMs, deadRetentionMs, limit }: PruneSettings): Promise<{ delivered: number, dead: number }> {
  const batch = async (state: 'delivered' | 'dead', column: string, keepMs: number) => {
    const { rowCount } = await db.query(`
      DELETE FROM ${schema}.entries WHERE id IN (
        SELECT id FROM ${schema}.entries WHERE state = $1 AND ${column} < now() - ${ms('$2')} LIMIT $3) AND state = $1`,
    [state, keepMs, limit])
    return rowCount ?? 0
  }
  return { delivered: await batch('delivered', 'delivered_at', retentionMs), dead: await batch('dead', 'dead_at', deadRetentionMs) }
}

/**
 * Deletes lane rows with no entry left and no live lease. A lane's sequence may restart then: no entry of
 * it remains to collide with. An enqueue racing the delete waits on the row's lock; the delete re-reads
 * the row after the enqueue commits (queued > 0) and leaves it, or the enqueue's upsert inserts it anew.
 */
export async function pruneLanes (db: Queryable, schema: string, limit: number): Promise<number> {
  const { rowCount } = await db.query(`
    DELETE FROM ${schema}.lanes l WHERE (l.instance, l.lane) IN (
      SELECT x.instance, x.lane FROM ${schema}.lanes x
       WHERE x.queued = 0 AND (x.lease_until IS NULL OR x.lease_until < now())
         AND NOT EXISTS (SELECT 1 FROM ${schema}.entries e WHERE e.instance = x.instance AND e.lane = x.lane)
       LIMIT $1)
      AND l.queued = 0 AND (l.lease_until IS NULL OR l.lease_until < now())
      AND NOT EXISTS (SELECT 1 FROM ${schema}.entries e WHERE e.instance = l.instance AND e.lane = l.lane)`, [limit])
  return rowCount ?? 0
}

/**
 * Removes every entry of one person (any state) and their lane: a right-to-erasure request. An attempt
 * already under way for them may still reach Chatwoot; its outcome then finds no row and changes nothing.
 */
export async function erase (db: Queryable, schema: string, instance: string, contactKey: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`
    WITH gone AS (DELETE FROM ${schema}.entries WHERE instance = $1 AND contact_key = $2 RETURNING lane),
    lanes AS (DELETE FROM ${schema}.lanes WHERE instance = $1 AND lane IN (SELECT lane FROM gone UNION SELECT $2) RETURNING 1)
    SELECT (SELECT count(*) FROM gone)::int AS n`, [instance, contactKey])
  return rows[0]?.n ?? 0
}
