import type { Queryable } from './db.js'
import { resume } from './settle.js'

// Chores no single attempt does: entries of a paused instance that outlived maxAge (no worker claims
// them while the pause lasts), and pauses whose instance's settings have changed since.

/** Declares dead every queued entry older than maxAgeMs in a lane no live lease holds; their count. */
export async function sweepExpired (db: Queryable, schema: string, maxAgeMs: number, limit = 1000): Promise<number> {
  const { rows } = await db.query<{ count: string }>(`
    WITH old AS (
      SELECT e.id FROM ${schema}.entries e JOIN ${schema}.lanes l ON l.instance = e.instance AND l.lane = e.lane
       WHERE e.state = 'queued' AND e.created_at < now() - make_interval(secs => $1::float8 / 1000)
         AND (l.lease_until IS NULL OR l.lease_until < now())
       ORDER BY e.id LIMIT $2
    ), gone AS (
      UPDATE ${schema}.entries e SET state = 'dead', dead_at = now(), next_attempt_at = NULL,
             dead_reason = 'maxAge: not delivered within ' || $1::float8::bigint || ' ms' ||
               coalesce('; last failure ' || e.last_error_code || ': ' || e.last_error, ' (never attempted: its instance was paused)')
        FROM old WHERE e.id = old.id AND e.state = 'queued'
      RETURNING e.instance, e.lane
    ), counted AS (
      SELECT instance, lane, count(*) AS n FROM gone GROUP BY instance, lane
    ), lanes AS (
      UPDATE ${schema}.lanes l SET queued = greatest(l.queued - c.n, 0), ready_at = now()
        FROM counted c WHERE l.instance = c.instance AND l.lane = c.lane
      RETURNING 1
    )
    SELECT count(*) AS count FROM gone`, [maxAgeMs, limit])
  return Number(rows[0]?.count ?? 0)
}

export interface PausedInstance {
  instance: string
  config: string | null
}

export async function pausedInstances (db: Queryable, schema: string): Promise<PausedInstance[]> {
  const { rows } = await db.query<PausedInstance>(
    `SELECT instance, paused_config AS config FROM ${schema}.instances WHERE paused_until IS NOT NULL ORDER BY instance`)
  return rows
}

/**
 * Ends the pauses of instances whose settings changed since they were paused. `hashOf` answers the
 * settings' hash now, or undefined when it cannot tell (the host's store is down): those stay paused.
 */
export async function resumeChanged (db: Queryable, schema: string, hashOf: (instance: string) => Promise<string | undefined>,
  only?: string): Promise<string[]> {
  const resumed: string[] = []
  for (const { instance, config } of await pausedInstances(db, schema)) {
    if (only !== undefined && instance !== only) continue
    const now = await hashOf(instance)
    if (now === undefined || now === config) continue
    if (await resume(db, schema, instance, now)) resumed.push(instance)
  }
  return resumed
}
