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
  /**
   * The lane's next entries, started by the same statement behind this one (a batch): fresh entries of the
   * same kind, posted after it in order, their outcomes recorded in one statement. Not on the head of a batch's own followers.
   */
  followers?: Claimed[]
  /** Entries started behind a gap in the batch (one was changed meanwhile): never posted, started back at the batch's end. */
  strays?: number[]
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
  /** The batch behind the head: every fresh entry chosen, in lane order, and those of them this statement started. */
  follower_ids?: string[] | null
  followers?: Array<{ id: number, seq: number, payload: unknown, age_ms: number }> | null
}

export interface HeadPlace {
  /**
   * The lane, as scalar SQL (a parameter, or a scalar subquery of a CTE), never a join: the entries are then
   * found through their (instance, lane, seq) index, whatever the table's statistics say, not by filtering
   * every queued entry of the table (a statement's cost would grow with the whole backlog).
   */
  instance: string
  lane: string
  /** A condition that must hold for the lane to be worked at all (e.g. the statement keeps the lane). */
  when?: string
  /** Extra conditions on the entries (e), e.g. leaving out the one this statement settles. */
  where?: string
  /** Parameters holding maxAgeMs and slowChatwootMs. */
  maxAgeMs: string
  slowChatwootMs: string
  /** A parameter holding a conversation to store as the started head's target, where it has none yet. */
  preAim?: string
  /** An expression for how many entries behind a started head to start with it (a batch); 0 for none. */
  followers: string
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
  // Also in the updates by id: without statistics the planner may walk the queued index rather than the
  // primary key, and the lane bounds that walk by the lane, not the table.
  const lane = `e.instance = ${place.instance} AND e.lane = ${place.lane} AND e.state = 'queued' ${place.where ?? ''}`
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
        FROM ${schema}.entries e
       WHERE ${lane} ${place.when === undefined ? '' : `AND ${place.when}`}
       ORDER BY e.seq LIMIT 1
    ), started AS (
      UPDATE ${schema}.entries e
         SET attempts = e.attempts + 1, first_attempt_at = coalesce(e.first_attempt_at, now()), last_attempt_at = now(),
             next_attempt_at = NULL${place.preAim === undefined ? '' : `, conversation_id = coalesce(e.conversation_id, ${place.preAim}::int)`}
       WHERE e.id = (SELECT h.id FROM head h WHERE NOT h.expired AND NOT h.settling) AND ${lane}
      RETURNING e.id, e.attempts - 1 AS attempts, (SELECT h.conversation_id IS NULL FROM head h) AS pre_aimed
    ), taken AS (
      SELECT h.id, h.seq, h.kind, h.payload, coalesce(s.attempts, h.attempts) AS attempts, h.conversation_id, h.age_ms,
             h.unsettled, h.since_ms, h.expired, (s.id IS NOT NULL) AS started, coalesce(s.pre_aimed, false) AS pre_aimed
        FROM head h LEFT JOIN started s ON s.id = h.id
       WHERE s.id IS NOT NULL OR h.expired OR h.settling
    ), behind AS (
      SELECT e.id, e.seq, (e.kind = (SELECT h.kind FROM head h) AND e.attempts = 0 AND e.conversation_id IS NULL
               AND now() - e.created_at < ${ms(place.maxAgeMs)}) AS fresh
        FROM ${schema}.entries e
       WHERE ${lane} AND e.seq > (SELECT h.seq FROM head h) AND EXISTS (SELECT 1 FROM started)
       ORDER BY e.seq LIMIT coalesce((${place.followers}), 0)
    ), followers AS (
      -- Fresh entries right behind the head, up to the first that is not: never tried, so nothing to check first.
      SELECT b.id, b.seq FROM (SELECT b.*, bool_and(b.fresh) OVER (ORDER BY b.seq) AS run FROM behind b) b WHERE b.run
    ), followed AS (
      UPDATE ${schema}.entries e
         SET attempts = 1, first_attempt_at = now(), last_attempt_at = now(), next_attempt_at = NULL,
             conversation_id = ${place.preAim === undefined ? 'NULL' : `${place.preAim}::int`}
       WHERE e.id = ANY (ARRAY(SELECT f.id FROM followers f)) AND ${lane} AND e.attempts = 0 AND e.conversation_id IS NULL
      RETURNING e.id, e.seq, e.payload, extract(epoch FROM now() - e.created_at) * 1000 AS age_ms
    )`
}

/**
 * Whether an instance other than `instance` has a lane with entries ready now (and is not paused): leased
 * by a worker or not, or with `unleased` only those no worker holds (waiting for a claim). The clock, not
 * now(): a lane given back by a statement that began after this one's transaction and committed before its
 * snapshot has a ready_at later than this one's now().
 */
export function otherInstanceReady (schema: string, instance: string, { unleased = false } = {}): string {
  return `EXISTS (SELECT 1 FROM ${schema}.lanes o LEFT JOIN ${schema}.instances oi ON oi.instance = o.instance
     WHERE o.instance <> ${instance} AND o.queued > 0 AND o.ready_at <= clock_timestamp()
       ${unleased ? 'AND (o.lease_until IS NULL OR o.lease_until < now())' : ''}
       AND (oi.paused_until IS NULL OR oi.paused_until <= now()))`
}

/** Columns follower_ids and followers (HeadRow) of the batch started behind the head. */
export const FOLLOWER_COLUMNS = `(SELECT array_agg(f.id ORDER BY f.seq) FROM followers f) AS follower_ids,
  (SELECT json_agg(json_build_object('id', d.id, 'seq', d.seq, 'payload', d.payload, 'age_ms', d.age_ms)) FROM followed d) AS followers`

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
 * Notes the target the leasing statement stored for a started head that had none (`preAim`), and the batch
 * it started behind the head (aimed there too). The lease was renewed by that statement, so it runs at least
 * leaseMs from before the statement was sent: `leaseUntil`.
 */
export function withPreAim (claimed: Claimed, row: HeadRow, conversationId: number | null, leaseUntil: number): Claimed {
  const preAimed = conversationId === null ? undefined : { conversationId, clear: row.clear === true, leaseUntil }
  if (row.started && row.pre_aimed === true) claimed.preAimed = preAimed
  const started = new Map((row.followers ?? []).map((follower) => [String(follower.id), follower]))
  if (started.size === 0) return claimed
  claimed.followers = []
  // Posted in lane order, so only up to a gap: one changed meanwhile (erased) breaks the run there.
  for (const id of row.follower_ids ?? []) {
    const follower = started.get(id)
    if (follower === undefined) break
    started.delete(id)
    claimed.followers.push({
      instance: claimed.instance,
      lane: claimed.lane,
      token: claimed.token,
      probe: false,
      id: Number(follower.id),
      seq: Number(follower.seq),
      kind: claimed.kind,
      payload: follower.payload,
      attempts: 0,
      ageMs: Number(follower.age_ms),
      conversationId: null,
      unsettled: false,
      sinceAttemptMs: 0,
      started: true,
      expired: false,
      preAimed
    })
  }
  if (started.size > 0) claimed.strays = [...started.keys()].map(Number)
  return claimed
}
