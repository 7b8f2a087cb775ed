import type { EntryOutcome } from './entry-kind.js'
import { createHash } from 'node:crypto'
import type { Queryable } from './db.js'
import type { LeaseRef } from './lease.js'
import { performance } from 'node:perf_hooks'
import { type Claimed, claimedOf, FOLLOWER_COLUMNS, guardFacts, headCtes, type HeadRow, otherInstanceReady, withPreAim } from './head.js'

// The outcome of one attempt, written in one statement that also gives the lane back; each is a no-op
// when the lease was taken over meanwhile (the worker that has the lane settles the entry).

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`
const LEASE = (s: string) => `UPDATE ${s}.lanes SET lease_owner = NULL, lease_until = NULL`
const OURS = 'WHERE instance = $1 AND lane = $2 AND lease_owner = $3'

export type Delivered = EntryOutcome

/**
 * Ends the head's attempt for good (delivered or dead) and frees the lane. The lane's count drops only by
 * the entry this statement changed: a race (a sweep, a takeover) can leave the count too high, which the
 * next claim of the lane mends, but never too low, which would strand the lane's other entries.
 */
async function finish (db: Queryable, schema: string, lease: LeaseRef, set: string, values: unknown[]): Promise<boolean> {
  const { rows } = await db.query<{ n: number }>(`
    WITH entry AS (
      UPDATE ${schema}.entries SET ${set}, next_attempt_at = NULL
       WHERE id = $4 AND state = 'queued'
         AND EXISTS (SELECT 1 FROM ${schema}.lanes ${OURS})
      RETURNING 1
    ), lane AS (
      ${LEASE(schema)}, ready_at = now(), queued = greatest(queued - (SELECT count(*) FROM entry), 0) ${OURS}
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM entry)::int AS n`,
  [lease.instance, lease.lane, lease.token, lease.id, ...values])
  return rows[0]?.n === 1
}

export interface KeepLane {
  leaseMs: number
  maxAgeMs: number
  slowChatwootMs: number
  /** How many entries behind the next head to start with it (a batch). */
  followers: number
}

/** After recording: hold the lane (more of the batch to post), give it back, or keep it for its next entries. */
export type AfterRecord = 'hold' | 'release' | KeepLane

export interface DeliveredAnswer {
  /** False: the lane was taken over meanwhile; nothing changed. */
  settled: boolean
  /** The lane's next entry (and its batch), started, when the lane was kept for it (the lease renewed). */
  next?: Claimed
}

/** One posted entry of a batch and what came of it. */
export interface Recorded {
  id: number
  outcome: Delivered
  /** When the post was answered (performance.now()). */
  at: number
}

/**
 * Records the deliveries of a batch in one statement, starts back `unstart` (entries of the batch it will
 * not post: attempts and target undone, as if never taken) and then holds the lane, gives it back, or
 * keeps it and starts its next entries in the same statement instead of a claim of their own. The lane is
 * kept only while no other instance has a ready lane waiting (round-robin across instances holds) and this
 * one is not paused; the caller bounds the run. Nothing changes when the lease was taken over meanwhile.
 */
export async function delivered (db: Queryable, schema: string, lease: Omit<LeaseRef, 'id'>, recorded: Recorded[],
  unstart: number[], after: AfterRecord): Promise<DeliveredAnswer> {
  const s = schema
  const keep = typeof after === 'object' ? after : undefined
  const sent = performance.now()
  const { rows } = await db.query<HeadRow & { n: number, ours: number, id: string | null }>(`
    WITH ours AS (
      SELECT 1 FROM ${s}.lanes ${OURS}
    ), entry AS (
      -- An entry whose outcome lives outside Chatwoot is vouched for at once: the delete window cannot take it.
      -- delivered_at is when the post was answered (recorded later, with its batch), never earlier.
      UPDATE ${s}.entries e SET state = 'delivered', delivered_at = now() - ${ms('o.ago_ms')}, conversation_id = o.conversation_id,
             message_id = o.message_id, deduplicated = o.deduplicated, checked_at = CASE WHEN o.outside THEN now() END,
             next_attempt_at = NULL
        FROM unnest($4::bigint[], $5::int[], $6::bigint[], $7::boolean[], $8::boolean[], $16::float8[])
          AS o(id, conversation_id, message_id, deduplicated, outside, ago_ms)
       WHERE e.id = o.id AND e.instance = $1 AND e.lane = $2 AND e.id = ANY($4::bigint[]) AND e.state = 'queued'
         AND EXISTS (SELECT 1 FROM ours)
      RETURNING 1
    ), unstarted AS (
      UPDATE ${s}.entries e SET attempts = 0, first_attempt_at = NULL, last_attempt_at = NULL, conversation_id = NULL
       WHERE cardinality($9::bigint[]) > 0 AND e.instance = $1 AND e.lane = $2 AND e.id = ANY($9::bigint[])
         AND e.state = 'queued' AND e.attempts = 1 AND e.next_attempt_at IS NULL AND EXISTS (SELECT 1 FROM ours)
      RETURNING 1
    ), kept AS (
      SELECT $1::text AS instance, $2::text AS lane, CASE WHEN ${otherInstanceReady(s, '$1')} THEN 0 ELSE $15::int END AS followers
       WHERE $10 = 'keep' AND (SELECT count(*) FROM entry) = cardinality($4::bigint[])
         AND NOT EXISTS (SELECT 1 FROM ${s}.instances WHERE instance = $1 AND paused_until IS NOT NULL)
         AND NOT ${otherInstanceReady(s, '$1', { unleased: true })}
    ), ${headCtes(s, { instance: '$1::text', lane: '$2::text', when: 'EXISTS (SELECT 1 FROM kept)', where: 'AND e.id <> ALL($4::bigint[])', maxAgeMs: '$11', slowChatwootMs: '$12', preAim: '$14', followers: 'SELECT followers FROM kept' })}, facts AS (
      SELECT ${guardFacts(s, { instance: '$1', lane: '$2', seq: 'h.seq', target: '$14', except: 'ALL($4::bigint[])' })} FROM head h
    ), lane AS (
      UPDATE ${s}.lanes SET queued = greatest(queued - (SELECT count(*) FROM entry), 0),
             ready_at = CASE WHEN $10 = 'hold' THEN ready_at ELSE now() END,
             lease_owner = CASE WHEN $10 = 'hold' OR EXISTS (SELECT 1 FROM taken) THEN lease_owner END,
             lease_until = CASE WHEN EXISTS (SELECT 1 FROM taken) THEN now() + ${ms('$13')} WHEN $10 = 'hold' THEN lease_until END
       ${OURS}
      RETURNING 1
    ), turn AS (
      -- A kept lane is this instance's turn too, when another instance has entries waiting (leased by other
      -- loops, or it would not be kept): the claims' round-robin then sees it served now, not at its claim.
      UPDATE ${s}.instances SET served_at = clock_timestamp()
       WHERE instance = $1 AND EXISTS (SELECT 1 FROM taken)
         AND EXISTS (SELECT 1 FROM ${s}.lanes o WHERE o.instance <> $1 AND o.queued > 0)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM entry)::int AS n, (SELECT count(*) FROM ours)::int AS ours, t.*,
           NOT (f.ahead OR f.elsewhere) AS clear, ${FOLLOWER_COLUMNS}
      FROM (SELECT 1) one LEFT JOIN taken t ON true LEFT JOIN facts f ON true`,
  [lease.instance, lease.lane, lease.token, recorded.map((r) => r.id), recorded.map((r) => r.outcome.conversationId),
    recorded.map((r) => r.outcome.messageId), recorded.map((r) => r.outcome.deduplicated),
    recorded.map((r) => r.outcome.outsideChatwoot === true), unstart, keep === undefined ? after : 'keep',
    keep?.maxAgeMs ?? 0, keep?.slowChatwootMs ?? 0, keep?.leaseMs ?? 0, recorded.at(-1)?.outcome.conversationId ?? null,
    keep?.followers ?? 0, recorded.map((r) => Math.max(0, sent - r.at))])
  const row = rows[0]
  if (row?.ours !== 1 || row.n !== recorded.length) return { settled: false }
  if (row.id === null || keep === undefined) return { settled: true }
  const next = claimedOf(row, { instance: lease.instance, lane: lease.lane, token: lease.token, probe: false })
  return { settled: true, next: withPreAim(next, row, recorded.at(-1)!.outcome.conversationId, sent + keep.leaseMs) }
}

export interface Failed {
  code: string
  /** Never holds a token: Chatwoot's reason and our own words only. */
  message: string
}

/** Tried again after `delayMs`; the lane waits with its head. */
export async function retryLater (db: Queryable, schema: string, lease: LeaseRef, failure: Failed, delayMs: number): Promise<boolean> {
  const { rowCount } = await db.query(`
    WITH lane AS (${LEASE(schema)}, ready_at = now() + ${ms('$7')} ${OURS} RETURNING ready_at)
    UPDATE ${schema}.entries SET last_error_code = $5, last_error = $6, next_attempt_at = lane.ready_at
      FROM lane WHERE id = $4 AND state = 'queued'`,
  [lease.instance, lease.lane, lease.token, lease.id, failure.code, failure.message, delayMs])
  return rowCount === 1
}

/** Dead: its reason kept, and its lane free for the entries behind it. */
export async function dead (db: Queryable, schema: string, lease: LeaseRef, failure: Failed, reason: string): Promise<boolean> {
  return finish(db, schema, lease, 'state = \'dead\', dead_at = now(), last_error_code = $5, last_error = $6, dead_reason = $7',
    [failure.code, failure.message, reason])
}

/** Dead of age (maxAge) before another attempt: the reason names the entry's last failure, which stays recorded. */
export async function expire (db: Queryable, schema: string, lease: LeaseRef, reason: string): Promise<boolean> {
  return finish(db, schema, lease, `state = 'dead', dead_at = now(),
    dead_reason = $5::text || coalesce('; last failure ' || last_error_code || ': ' || last_error, ' (never attempted)')`, [reason])
}

/**
 * A hash of the settings a pause was decided under: a change of them ends the pause. Never the settings
 * themselves: they hold the token (which their toJSON hides, so the fields are read one by one here).
 */
export function settingsHash (settings: { url: string, accountId: number, inboxId: number, token: string }): string {
  const { url, accountId, inboxId, token } = settings
  return createHash('sha256').update(JSON.stringify([url, accountId, inboxId, token])).digest('hex')
}

/**
 * Pauses the whole instance (a wrong token or account): its lanes wait, without attempts, until its
 * settings change or `delayMs` passes and one entry probes it.
 */
export async function pause (db: Queryable, schema: string, lease: LeaseRef, failure: Failed, delayMs: number, configHash: string | null): Promise<boolean> {
  const { rowCount } = await db.query(`
    WITH lane AS (${LEASE(schema)}, ready_at = now() ${OURS} RETURNING 1),
    paused AS (
      INSERT INTO ${schema}.instances AS i (instance, paused_until, paused_since, paused_code, paused_reason, paused_config)
      SELECT $1, now() + ${ms('$7')}, now(), $5, $6, $8 FROM lane
      ON CONFLICT (instance) DO UPDATE SET paused_until = excluded.paused_until, paused_since = coalesce(i.paused_since, now()),
        paused_code = excluded.paused_code, paused_reason = excluded.paused_reason, paused_config = excluded.paused_config
      RETURNING 1
    )
    UPDATE ${schema}.entries SET last_error_code = $5, last_error = $6, next_attempt_at = now() + ${ms('$7')}
     WHERE id = $4 AND state = 'queued' AND EXISTS (SELECT 1 FROM paused)`,
  [lease.instance, lease.lane, lease.token, lease.id, failure.code, failure.message, delayMs, configHash])
  return rowCount === 1
}

/** Ends a pause: a probe went through, or the instance's settings changed since it was paused. */
export async function resume (db: Queryable, schema: string, instance: string, unlessConfig?: string): Promise<boolean> {
  const { rowCount } = await db.query(`
    UPDATE ${schema}.instances SET paused_until = NULL, paused_since = NULL, paused_code = NULL, paused_reason = NULL, paused_config = NULL
     WHERE instance = $1 AND paused_until IS NOT NULL AND ($2::text IS NULL OR paused_config IS DISTINCT FROM $2)`,
  [instance, unlessConfig ?? null])
  return rowCount === 1
}
