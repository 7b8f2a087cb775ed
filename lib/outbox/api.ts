import { DeliveryInvalidError } from '../errors.js'
import { type OutboxPool, type Queryable, transaction } from './db.js'

export interface DeadEntry {
  id: number
  instance: string
  kind: string
  lane: string
  sourceId: string
  attempts: number
  reason: string
  lastErrorCode: string | null
  lastError: string | null
  /** The conversation the last attempt was aimed at: `replay` checks there before posting again. */
  conversationId: number | null
  createdAt: Date
  deadAt: Date
}

export interface DeadPage {
  entries: DeadEntry[]
  /** Give it back as `cursor` for the next page; null on the last. */
  cursor: number | null
}

export interface OutboxStats {
  queued: number
  /** Lanes a worker holds a live lease on. */
  inFlight: number
  dead: number
  delivered: number
  /** Milliseconds since the oldest queued entry was enqueued; 0 when none. */
  oldestQueuedAgeMs: number
  paused: Array<{ instance: string, since: Date, code: string | null, reason: string | null, probeAt: Date }>
}

function ids (value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((id) => Number.isSafeInteger(id) && id > 0)) {
    throw new DeliveryInvalidError(`${what} expects an array of entry ids (positive integers)`)
  }
  return value as number[]
}

export async function deadPage (db: Queryable, schema: string, query: { instance?: string, limit?: number, cursor?: number | null } = {}): Promise<DeadPage> {
  const { instance, limit = 50, cursor = null } = query
  if (!(Number.isInteger(limit) && limit > 0 && limit <= 1000)) throw new DeliveryInvalidError(`dead(): limit must be an integer from 1 to 1000, got ${String(limit)}`)
  const { rows } = await db.query(`
    SELECT id, instance, kind, lane, source_id, attempts, dead_reason, last_error_code, last_error, conversation_id, created_at, dead_at
      FROM ${schema}.entries
     WHERE state = 'dead' AND ($1::text IS NULL OR instance = $1) AND id > $2
     ORDER BY id LIMIT $3`, [instance ?? null, cursor ?? 0, limit])
  const entries: DeadEntry[] = rows.map((row) => ({
    id: Number(row.id),
    instance: row.instance,
    kind: row.kind,
    lane: row.lane,
    sourceId: row.source_id,
    attempts: row.attempts,
    reason: row.dead_reason,
    lastErrorCode: row.last_error_code,
    lastError: row.last_error,
    conversationId: row.conversation_id,
    createdAt: row.created_at,
    deadAt: row.dead_at
  }))
  return { entries, cursor: entries.length === limit ? entries.at(-1)!.id : null }
}

/**
 * Puts dead entries back at the end of their lanes (in their old order), as new sequences taken under
 * each lane's lock. Attempts start again from 0; the conversation an earlier attempt was aimed at is
 * kept, so the first new attempt checks it before posting (a 422 can follow a stored message).
 */
export async function replay (pool: OutboxPool, schema: string, which: number[] | { instance: string }, batch = 1000): Promise<number> {
  const chosen = Array.isArray(which) ? ids(which, 'replay()') : undefined
  if (chosen === undefined && (typeof which !== 'object' || which === null || typeof (which as { instance?: unknown }).instance !== 'string')) {
    throw new DeliveryInvalidError('replay() expects an array of entry ids or { instance }')
  }
  return transaction(pool, async (db) => {
    const { rows } = await db.query<{ id: string }>(`
      SELECT id FROM ${schema}.entries
       WHERE state = 'dead' AND (id = ANY($1::bigint[]) OR ($1 IS NULL AND instance = $2))
       ORDER BY instance, lane, seq LIMIT $3 FOR UPDATE`,
    [chosen ?? null, chosen === undefined ? (which as { instance: string }).instance : null, batch])
    for (const { id } of rows) {
      await db.query(`
        WITH lane AS (
          UPDATE ${schema}.lanes l SET next_seq = l.next_seq + 1, queued = l.queued + 1,
                 ready_at = CASE WHEN l.queued = 0 THEN now() ELSE l.ready_at END
            FROM ${schema}.entries e
           WHERE e.id = $1 AND l.instance = e.instance AND l.lane = e.lane
          RETURNING l.next_seq
        )
        UPDATE ${schema}.entries SET state = 'queued', seq = lane.next_seq, attempts = 0, replays = replays + 1,
               dead_at = NULL, dead_reason = NULL, next_attempt_at = NULL, first_attempt_at = NULL
          FROM lane WHERE id = $1`, [id])
    }
    return rows.length
  })
}

/** Deletes dead entries for good; their count. Queued or delivered entries are never touched. */
export async function discard (db: Queryable, schema: string, which: number[]): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM ${schema}.entries WHERE state = 'dead' AND id = ANY($1::bigint[])`, [ids(which, 'discard()')])
  return rowCount ?? 0
}

export async function stats (db: Queryable, schema: string): Promise<OutboxStats> {
  const [counts, leases, paused] = await Promise.all([
    db.query(`
      SELECT count(*) FILTER (WHERE state = 'queued') AS queued, count(*) FILTER (WHERE state = 'dead') AS dead,
             count(*) FILTER (WHERE state = 'delivered') AS delivered,
             coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'queued')) * 1000, 0) AS oldest_ms
        FROM ${schema}.entries`),
    db.query(`SELECT count(*) AS in_flight FROM ${schema}.lanes WHERE lease_until > now()`),
    db.query(`SELECT instance, paused_since, paused_code, paused_reason, paused_until FROM ${schema}.instances
               WHERE paused_until IS NOT NULL ORDER BY instance`)
  ])
  const row = counts.rows[0]
  return {
    queued: Number(row.queued),
    inFlight: Number(leases.rows[0].in_flight),
    dead: Number(row.dead),
    delivered: Number(row.delivered),
    oldestQueuedAgeMs: Math.round(Number(row.oldest_ms)),
    paused: paused.rows.map((p) => ({ instance: p.instance, since: p.paused_since, code: p.paused_code, reason: p.paused_reason, probeAt: p.paused_until }))
  }
}
