import type { Queryable } from './db.js'
import { guardFacts } from './head.js'

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

export interface Aimed {
  /** Milliseconds of lease left; 0 when the lane is no longer ours. */
  leftMs: number
  /** The guard's facts (guardFacts): an earlier entry queued again, an unchecked delivery into another conversation. */
  ahead: boolean
  elsewhere: boolean
}

/**
 * Before each post: stores the conversation it is aimed at (a worker that takes the entry over checks
 * there before posting), renews the lease, so the post starts with a whole lease ahead of it, and reads
 * the guard's facts about the lane's earlier entries: one statement.
 */
export async function aimAt (db: Queryable, schema: string, lease: LeaseRef & { seq: number }, conversationId: number, leaseMs: number): Promise<Aimed> {
  const { rows } = await db.query<Aimed & { left_ms: number }>(`
    WITH lease AS (
      UPDATE ${schema}.lanes SET lease_until = now() + ${ms('$5')}
       WHERE instance = $1 AND lane = $2 AND lease_owner = $3
      RETURNING lease_until
    ), aimed AS (
      UPDATE ${schema}.entries e SET conversation_id = $6
        FROM lease
       WHERE e.id = $4 AND e.state = 'queued'
      RETURNING lease.lease_until
    )
    SELECT extract(epoch FROM a.lease_until - now()) * 1000 AS left_ms,
           ${guardFacts(schema, { instance: '$1', lane: '$2', seq: '$7', target: '$6' })}
      FROM aimed a`,
  [lease.instance, lease.lane, lease.token, lease.id, leaseMs, conversationId, lease.seq])
  const row = rows[0]
  return row === undefined ? { leftMs: 0, ahead: false, elsewhere: false } : { leftMs: Number(row.left_ms), ahead: row.ahead, elsewhere: row.elsewhere }
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
