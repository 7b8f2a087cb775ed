import { type OutboxPool, transaction } from './db.js'

/** A lane this worker leased, and the lane's lowest unfinished entry. */
export interface Claimed {
  instance: string
  lane: string
  /** Unique per claim: the lease is this worker's only while the lane row still names it. */
  token: string
  id: number
  seq: number
  kind: string
  payload: unknown
  attempts: number
  ageMs: number
  /** Where an earlier attempt was aimed (stored before it posted): checked before posting again. */
  conversationId: number | null
  /** The instance was paused and its pause ran out: this entry is its probe. */
  probe: boolean
  /** An earlier attempt started and never recorded its outcome: its worker died or lost the lane mid-attempt. */
  unsettled: boolean
  /** Since that attempt started (0 when there was none). */
  sinceAttemptMs: number
}

export interface ClaimSettings {
  schema: string
  leaseMs: number
  probeMs: number
}

interface LaneRow { instance: string, lane: string, probe: boolean }

/**
 * Leases one ready lane, round-robin: the instance served longest ago first, then its lane served longest
 * ago. A lane whose lease ran out (its worker died) is ready like any other: that is the takeover. One
 * short transaction, committed before anything is sent to Chatwoot. Undefined: nothing ready; null: an
 * empty lane was mended, ask again.
 */
export async function claim (pool: OutboxPool, token: string, settings: ClaimSettings): Promise<Claimed | null | undefined> {
  const { schema: s, leaseMs, probeMs } = settings
  return transaction(pool, async (db) => {
    const lanes = await db.query<LaneRow>(`
      WITH candidate AS (
        SELECT l.instance, l.lane, (i.paused_until IS NOT NULL) AS probe
          FROM ${s}.lanes l LEFT JOIN ${s}.instances i ON i.instance = l.instance
         WHERE l.queued > 0 AND l.ready_at <= now()
           AND (l.lease_until IS NULL OR l.lease_until < now())
           AND (i.paused_until IS NULL OR i.paused_until <= now())
         ORDER BY i.served_at NULLS FIRST, l.served_at NULLS FIRST
         LIMIT 1
           FOR UPDATE OF l SKIP LOCKED
      )
      UPDATE ${s}.lanes l
         SET lease_owner = $1, lease_until = now() + make_interval(secs => $2::float8 / 1000), served_at = clock_timestamp()
        FROM candidate c
       WHERE l.instance = c.instance AND l.lane = c.lane
      RETURNING l.instance, l.lane, c.probe`, [token, leaseMs])
    const lane = lanes.rows[0]
    if (lane === undefined) return undefined
    // A probe pushes the pause on at once, so one entry probes a paused instance, not all of its lanes.
    await db.query(`
      INSERT INTO ${s}.instances AS i (instance, served_at) VALUES ($1, clock_timestamp())
      ON CONFLICT (instance) DO UPDATE SET served_at = excluded.served_at,
        paused_until = CASE WHEN i.paused_until IS NULL THEN NULL ELSE now() + make_interval(secs => $2::float8 / 1000) END`,
    [lane.instance, probeMs])
    const heads = await db.query<{
      id: string, seq: string, kind: string, payload: unknown, attempts: number, age_ms: number, conversation_id: number | null, unsettled: boolean, since_ms: number | null
    }>(`
      SELECT id, seq, kind, payload, attempts, conversation_id, extract(epoch FROM now() - created_at) * 1000 AS age_ms,
             -- startAttempt clears next_attempt_at and every recorded failure sets it: unset after an attempt means no record.
             (attempts > 0 AND next_attempt_at IS NULL) AS unsettled,
             extract(epoch FROM now() - last_attempt_at) * 1000 AS since_ms
        FROM ${s}.entries
       WHERE instance = $1 AND lane = $2 AND state = 'queued'
       ORDER BY seq LIMIT 1`, [lane.instance, lane.lane])
    const head = heads.rows[0]
    if (head === undefined) {
      // The lane's count was off (two enqueues of one key raced): mend it and give the lane back.
      await db.query(`UPDATE ${s}.lanes SET queued = 0, lease_owner = NULL, lease_until = NULL WHERE instance = $1 AND lane = $2`,
        [lane.instance, lane.lane])
      return null
    }
    return {
      instance: lane.instance,
      lane: lane.lane,
      token,
      id: Number(head.id),
      seq: Number(head.seq),
      kind: head.kind,
      payload: head.payload,
      attempts: head.attempts,
      ageMs: Number(head.age_ms),
      conversationId: head.conversation_id,
      probe: lane.probe,
      unsettled: head.unsettled,
      sinceAttemptMs: head.since_ms === null ? 0 : Number(head.since_ms)
    }
  })
}
