// A lane's head, read and started in the statement that leases the lane (claim.ts) or that settles the
// lane's previous entry and keeps the lane (settle.ts): one round trip instead of a claim's transaction
// plus a separate start. Shared, so both count and time an attempt the same way.

/** A lane this worker leased, and the lane's lowest unfinished entry. */
export interface Claimed {
  instance: string
  lane: string
  /** Unique per lease: the lane is this worker's only while the lane row still names it. */
  token: string
  id: number
  seq: number
  kind: string
  payload: unknown
  /** Attempts made before this one. */
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
  /**
   * The attempt was counted and timed by the statement that leased it (attempts + 1, next_attempt_at unset).
   * False when the entry is past maxAge, or an earlier attempt may still land (a slow Chatwoot): the worker
   * settles it without an attempt.
   */
  started: boolean
  /** Past maxAge: dead without another attempt. */
  expired: boolean
  /**
   * Kept from the lane's previous entry: the conversation that one went to, stored as this entry's target
   * by the same statement, and whether the lane's earlier entries were clear for a post there (nothing
   * queued again ahead, no unchecked delivery elsewhere). A post to it needs no statement of its own while
   * the lease, renewed by that statement, has a client timeout left (`leaseUntil`, performance.now()).
   */
  preAimed?: { conversationId: number, clear: boolean, leaseUntil: number }
}

export interface HeadRow {
  id: string
  seq: string
  kind: string
  payload: unknown
  attempts: number
  conversation_id: number | null
  age_ms: number
  unsettled: boolean
  since_ms: number | null
  expired: boolean
  started: boolean
  pre_aimed?: boolean
  clear?: boolean
}

export interface HeadPlace {
  /** A FROM item naming the lane (columns instance, lane). */
  from: string
  /** Extra conditions on the entries (e), e.g. leaving out the one this statement settles. */
  where?: string
  /** Parameters holding maxAgeMs and slowChatwootMs. */
  maxAgeMs: string
  slowChatwootMs: string
  /** A parameter holding a conversation to store as the started head's target, where it has none yet. */
  preAim?: string
}

/**
 * The guard's facts before a post of the entry at `seq` into `target` (see guardLane in deletion.ts): an
 * earlier entry of the lane queued again (its conversation was deleted), and an unchecked delivery of the
 * lane into another conversation (the contact's conversation changed, perhaps deleted). Columns ahead, elsewhere.
 */
export function guardFacts (schema: string, at: { instance: string, lane: string, seq: string, target: string, except?: string }): string {
  const earlier = `FROM ${schema}.entries q WHERE q.instance = ${at.instance} AND q.lane = ${at.lane} AND q.seq < ${at.seq}`
  return `EXISTS (SELECT 1 ${earlier} AND q.state = 'queued' ${at.except === undefined ? '' : `AND q.id <> ${at.except}`}) AS ahead,
    EXISTS (SELECT 1 ${earlier} AND q.state = 'delivered' AND q.checked_at IS NULL AND q.conversation_id <> ${at.target}) AS elsewhere`
}

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`

/**
 * CTEs `head` (the lane's lowest queued entry), `started` (its attempt counted) and `taken` (the head, if it
 * is this worker's to work: started, or to be settled without an attempt). `taken` is empty when the head
 * read in this statement's snapshot was settled meanwhile: the caller then gives the lane back, or never
 * leases it. The start re-checks `state` on the row's latest version, so a stale head is never started.
 */
export function headCtes (schema: string, place: HeadPlace): string {
  return `head AS (
      SELECT e.id, e.seq, e.kind, e.payload, e.attempts, e.conversation_id,
             extract(epoch FROM now() - e.created_at) * 1000 AS age_ms,
             -- The start clears next_attempt_at and every recorded failure sets it: unset after an attempt means no record.
             (e.attempts > 0 AND e.next_attempt_at IS NULL) AS unsettled,
             extract(epoch FROM now() - e.last_attempt_at) * 1000 AS since_ms,
             (now() - e.created_at >= ${ms(place.maxAgeMs)}) AS expired,
             -- Taken over from a worker that died mid-post: a slow Chatwoot may still store that post, so the
             -- next attempt waits as after a timeout, then checks before posting.
             coalesce(e.attempts > 0 AND e.next_attempt_at IS NULL AND e.conversation_id IS NOT NULL
               AND now() - e.last_attempt_at < ${ms(place.slowChatwootMs)}, false) AS settling
        FROM ${place.from}, ${schema}.entries e
       WHERE e.instance = c.instance AND e.lane = c.lane AND e.state = 'queued' ${place.where ?? ''}
       ORDER BY e.seq LIMIT 1
    ), started AS (
      UPDATE ${schema}.entries e
         SET attempts = e.attempts + 1, first_attempt_at = coalesce(e.first_attempt_at, now()), last_attempt_at = now(),
             next_attempt_at = NULL${place.preAim === undefined ? '' : `, conversation_id = coalesce(e.conversation_id, ${place.preAim}::int)`}
        FROM head h
       WHERE e.id = h.id AND e.state = 'queued' AND NOT h.expired AND NOT h.settling
      RETURNING e.id, e.attempts - 1 AS attempts, (h.conversation_id IS NULL) AS pre_aimed
    ), taken AS (
      SELECT h.id, h.seq, h.kind, h.payload, coalesce(s.attempts, h.attempts) AS attempts, h.conversation_id, h.age_ms,
             h.unsettled, h.since_ms, h.expired, (s.id IS NOT NULL) AS started, coalesce(s.pre_aimed, false) AS pre_aimed
        FROM head h LEFT JOIN started s ON s.id = h.id
       WHERE s.id IS NOT NULL OR h.expired OR h.settling
    )`
}

/** The claimed head as the worker uses it. */
export function claimedOf (row: HeadRow, lane: { instance: string, lane: string, token: string, probe: boolean }): Claimed {
  // Spelled out, not spread: one object shape for every claimed head (this runs once per entry).
  return {
    instance: lane.instance,
    lane: lane.lane,
    token: lane.token,
    probe: lane.probe,
    id: Number(row.id),
    seq: Number(row.seq),
    kind: row.kind,
    payload: row.payload,
    attempts: row.attempts,
    ageMs: Number(row.age_ms),
    conversationId: row.conversation_id,
    unsettled: row.unsettled,
    sinceAttemptMs: row.since_ms === null ? 0 : Number(row.since_ms),
    started: row.started,
    expired: row.expired
  }
}

/**
 * Notes the target the leasing statement stored for a started head that had none (`preAim`). The lease
 * was renewed by that statement, so it runs at least leaseMs from before the statement was sent: `leaseUntil`.
 */
export function withPreAim (claimed: Claimed, row: HeadRow, conversationId: number | null, leaseUntil: number): Claimed {
  if (row.started && row.pre_aimed === true && conversationId !== null) claimed.preAimed = { conversationId, clear: row.clear === true, leaseUntil }
  return claimed
}
