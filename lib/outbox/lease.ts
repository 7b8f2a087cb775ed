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

/**
 * Gives the lane back without making the attempt its lease started (the origin's budget is spent, or no
 * handler here for the entry's kind): the attempt is not counted, and the entry is marked settled
 * (next_attempt_at set), so a worker that takes it later does not wait for a post that never happened.
 */
export async function giveBack (db: Queryable, schema: string, lease: LeaseRef, readyInMs: number): Promise<void> {
  await db.query(`
    WITH lane AS (
      UPDATE ${schema}.lanes SET lease_owner = NULL, lease_until = NULL, ready_at = now() + ${ms('$5')}
       WHERE instance = $1 AND lane = $2 AND lease_owner = $3
      RETURNING ready_at
    )
    UPDATE ${schema}.entries SET attempts = greatest(attempts - 1, 0), next_attempt_at = lane.ready_at,
           first_attempt_at = CASE WHEN attempts > 1 THEN first_attempt_at END
      FROM lane WHERE id = $4 AND state = 'queued'`, [lease.instance, lease.lane, lease.token, lease.id, readyInMs])
}
