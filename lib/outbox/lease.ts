import type { Queryable } from './db.js'

// Every statement here names the claim's token: a worker whose lease was taken over changes nothing.

export interface LeaseRef {
  instance: string
  lane: string
  token: string
  id: number
}

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`

/** Pushes the lease's expiry to leaseMs from now (the database's now). False: the lane is no longer ours. */
export async function renew (db: Queryable, schema: string, lease: LeaseRef, leaseMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${schema}.lanes SET lease_until = now() + ${ms('$4')} WHERE instance = $1 AND lane = $2 AND lease_owner = $3`,
    [lease.instance, lease.lane, lease.token, leaseMs])
  return rowCount === 1
}

/** Counts an attempt before it starts, and when the first one started. False: the lane is no longer ours. */
export async function startAttempt (db: Queryable, schema: string, lease: LeaseRef): Promise<boolean> {
  const { rowCount } = await db.query(`
    UPDATE ${schema}.entries e
       SET attempts = e.attempts + 1, first_attempt_at = coalesce(e.first_attempt_at, now()), last_attempt_at = now(),
           next_attempt_at = NULL
      FROM ${schema}.lanes l
     WHERE e.id = $4 AND e.state = 'queued'
       AND l.instance = $1 AND l.lane = $2 AND l.lease_owner = $3`, [lease.instance, lease.lane, lease.token, lease.id])
  return rowCount === 1
}

/**
 * Before each post: stores the conversation it is aimed at (a worker that takes the entry over checks
 * there before posting) and renews the lease, so the post starts with a whole lease ahead of it. The
 * answer is the milliseconds of lease left; 0 when the lane is no longer ours.
 */
export async function aimAt (db: Queryable, schema: string, lease: LeaseRef, conversationId: number, leaseMs: number): Promise<number> {
  const { rows } = await db.query<{ left_ms: number }>(`
    WITH lease AS (
      UPDATE ${schema}.lanes SET lease_until = now() + ${ms('$5')}
       WHERE instance = $1 AND lane = $2 AND lease_owner = $3
      RETURNING lease_until
    )
    UPDATE ${schema}.entries e SET conversation_id = $6
      FROM lease
     WHERE e.id = $4 AND e.state = 'queued'
    RETURNING extract(epoch FROM lease.lease_until - now()) * 1000 AS left_ms`,
  [lease.instance, lease.lane, lease.token, lease.id, leaseMs, conversationId])
  return rows[0] === undefined ? 0 : Number(rows[0].left_ms)
}

/** Gives the lane back at once (a closing worker), ready when `readyInMs` has passed. */
export async function release (db: Queryable, schema: string, lease: Omit<LeaseRef, 'id'>, readyInMs = 0): Promise<void> {
  await db.query(`
    UPDATE ${schema}.lanes SET lease_owner = NULL, lease_until = NULL, ready_at = now() + ${ms('$4')}
     WHERE instance = $1 AND lane = $2 AND lease_owner = $3`, [lease.instance, lease.lane, lease.token, readyInMs])
}
