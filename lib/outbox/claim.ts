import { type OutboxPool, transaction } from './db.js'
import { performance } from 'node:perf_hooks'
import { type Claimed, claimedOf, FOLLOWER_COLUMNS, guardFacts, headCtes, type HeadRow, otherInstanceReady, withPreAim } from './head.js'

export type { Claimed } from './head.js'

export interface ClaimSettings {
  schema: string
  leaseMs: number
  probeMs: number
  maxAgeMs: number
  slowChatwootMs: number
  /** Entries behind the head started with it when no other instance waits (a batch): one statement for several posts. */
  followers: number
}

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`
// The candidate lane as scalars, so its entries are found through their index (see HeadPlace).
const INSTANCE = '(SELECT c.instance FROM candidate c)'
const LANE = '(SELECT c.lane FROM candidate c)'

/**
 * Leases one ready lane, round-robin: the instance served longest ago first, then its lane served longest
 * ago. A lane whose lease ran out (its worker died) is ready like any other: that is the takeover. One
 * statement (lease, the instance's turn, the head read and its attempt started), committed before anything
 * is sent to Chatwoot. Undefined: nothing ready; null: the lane's head had changed or its count was off
 * (mended), ask again.
 */
export async function claim (pool: OutboxPool, token: string, settings: ClaimSettings): Promise<Claimed | null | undefined> {
  const { schema: s, leaseMs, probeMs, maxAgeMs, slowChatwootMs, followers } = settings
  const sent = performance.now()
  const { rows } = await pool.query<HeadRow & { instance: string, lane: string, probe: boolean, id: string | null, last_conversation: number | null }>(`
    WITH candidate AS (
      SELECT l.instance, l.lane, (i.paused_until IS NOT NULL) AS probe
        FROM ${s}.lanes l LEFT JOIN ${s}.instances i ON i.instance = l.instance
       WHERE l.queued > 0 AND l.ready_at <= now()
         AND (l.lease_until IS NULL OR l.lease_until < now())
         AND (i.paused_until IS NULL OR i.paused_until <= now())
       ORDER BY i.served_at NULLS FIRST, l.served_at NULLS FIRST
       LIMIT 1
         FOR UPDATE OF l SKIP LOCKED
    ), last AS (
      -- The conversation the lane's latest delivery went to: its next post most likely goes there too.
      SELECT e.conversation_id FROM ${s}.entries e
       WHERE e.instance = ${INSTANCE} AND e.lane = ${LANE} AND e.state = 'delivered' AND e.conversation_id IS NOT NULL
       ORDER BY e.seq DESC LIMIT 1
    ), batch AS (
      -- A batch only while no other instance has entries ready, leased or not: a batch holds its loop for
      -- several posts, and round-robin across instances holds post by post.
      SELECT CASE WHEN c.probe OR ${otherInstanceReady(s, 'c.instance')} THEN 0 ELSE $6::int END AS n
        FROM candidate c
    ), ${headCtes(s, { instance: INSTANCE, lane: LANE, maxAgeMs: '$4', slowChatwootMs: '$5', preAim: '(SELECT conversation_id FROM last)', followers: 'SELECT n FROM batch' })}, facts AS (
      SELECT l.conversation_id AS last_conversation,
             ${guardFacts(s, { instance: 'c.instance', lane: 'c.lane', seq: 'h.seq', target: 'l.conversation_id' })}
        FROM candidate c, head h, last l
    ), lane AS (
      UPDATE ${s}.lanes l
         SET lease_owner = $1, lease_until = now() + ${ms('$2')}, served_at = clock_timestamp()
        FROM candidate c
       WHERE l.instance = c.instance AND l.lane = c.lane AND EXISTS (SELECT 1 FROM taken)
      RETURNING 1
    ), served AS (
      -- A probe pushes the pause on at once, so one entry probes a paused instance, not all of its lanes.
      INSERT INTO ${s}.instances AS i (instance, served_at)
      SELECT c.instance, clock_timestamp() FROM candidate c WHERE EXISTS (SELECT 1 FROM taken)
      ON CONFLICT (instance) DO UPDATE SET served_at = excluded.served_at,
        paused_until = CASE WHEN i.paused_until IS NULL THEN NULL ELSE now() + ${ms('$3')} END
      RETURNING 1
    )
    SELECT c.instance, c.lane, c.probe, t.*, f.last_conversation, NOT (f.ahead OR f.elsewhere) AS clear, ${FOLLOWER_COLUMNS}
      FROM candidate c LEFT JOIN taken t ON true LEFT JOIN facts f ON true`,
  [token, leaseMs, probeMs, maxAgeMs, slowChatwootMs, followers])
  const row = rows[0]
  if (row === undefined) return undefined
  if (row.id === null) {
    await mend(pool, s, row)
    return null
  }
  return withPreAim(claimedOf(row, { instance: row.instance, lane: row.lane, token, probe: row.probe }), row, row.last_conversation, sent + leaseMs)
}

/**
 * The lane looked ready but had no head to take: its head was settled after this statement's snapshot
 * (asking again sees it), or its count was off (two enqueues of one key raced). The count is mended only
 * under the lane's lock, read again afterwards: an enqueue committing meanwhile is never counted away.
 */
async function mend (pool: OutboxPool, s: string, lane: { instance: string, lane: string }): Promise<void> {
  await transaction(pool, async (db) => {
    const locked = await db.query(`
      SELECT 1 FROM ${s}.lanes WHERE instance = $1 AND lane = $2 AND queued > 0 AND (lease_until IS NULL OR lease_until < now())
         FOR UPDATE SKIP LOCKED`, [lane.instance, lane.lane])
    if (locked.rows.length === 0) return
    const head = await db.query(`SELECT 1 FROM ${s}.entries WHERE instance = $1 AND lane = $2 AND state = 'queued' LIMIT 1`,
      [lane.instance, lane.lane])
    if (head.rows.length === 0) await db.query(`UPDATE ${s}.lanes SET queued = 0 WHERE instance = $1 AND lane = $2`, [lane.instance, lane.lane])
  })
}
