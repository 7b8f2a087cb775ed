import type { DeliveryContact } from '../conversations/get-or-create.js'
import type { Queryable } from './db.js'
import { OutboxRequeuedError } from '../errors.js'

// The delete window. Chatwoot deletes a conversation in a background job: until it runs, the conversation
// answers 200 and posts into it succeed, then vanish with it. So an entry counts as safely delivered only
// once a GET of its conversation answered 200 at least `deleteWindowMs` after the entry was delivered (a
// good check vouches for it: `checked_at`). A 404 queues every entry delivered into that conversation
// since its last good check again; they keep their sequences, so they go before anything later in the lane.

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`

/** How the check asks Chatwoot: answers false when the conversation is gone (404); other failures throw. */
export type ConversationExists = (instance: string, conversationId: number) => Promise<boolean>
/** Forgets the cached conversation of a contact, so the next delivery finds or opens its new one. */
export type EvictConversation = (instance: string, contact: DeliveryContact) => Promise<void>

export interface DueConversation {
  instance: string
  conversationId: number
  /** The database's clock when the conversation was chosen, before it is asked: what a 200 vouches up to. */
  askedAt: Date
}

/**
 * Conversations worth one check (however many entries they hold): every unchecked delivery is at least
 * the delete window old (a 200 vouches for all of them), or, for a conversation that never quiets, the
 * oldest is `settleMs` past the window (a 200 vouches for those old enough; the rest wait for the next).
 */
export async function dueConversations (db: Queryable, schema: string, windows: { deleteWindowMs: number, settleMs: number },
  limit: number): Promise<DueConversation[]> {
  const { rows } = await db.query(`
    SELECT instance, conversation_id, now() AS asked_at FROM ${schema}.entries
     WHERE state = 'delivered' AND checked_at IS NULL AND conversation_id IS NOT NULL
     GROUP BY instance, conversation_id
    HAVING max(delivered_at) <= now() - ${ms('$1')} OR min(delivered_at) <= now() - ${ms('($1::float8 + $2)')}
     ORDER BY min(delivered_at) LIMIT $3`, [windows.deleteWindowMs, windows.settleMs, limit])
  return rows.map((row) => ({ instance: row.instance, conversationId: row.conversation_id, askedAt: row.asked_at }))
}

/** The conversation answered 200 at `askedAt`: vouches for its entries delivered at least the delete window before. */
export async function vouch (db: Queryable, schema: string, due: DueConversation, deleteWindowMs: number): Promise<number> {
  const { rowCount } = await db.query(`
    UPDATE ${schema}.entries SET checked_at = $3
     WHERE instance = $1 AND conversation_id = $2 AND state = 'delivered' AND checked_at IS NULL
       AND delivered_at <= $3::timestamptz - ${ms('$4')}`, [due.instance, due.conversationId, due.askedAt, deleteWindowMs])
  return rowCount ?? 0
}

/** One contact per lane of the conversation's unchecked entries: whose cached conversation to forget. */
async function contactsOf (db: Queryable, schema: string, instance: string, conversationId: number): Promise<DeliveryContact[]> {
  const { rows } = await db.query<{ contact: DeliveryContact | null }>(`
    SELECT DISTINCT ON (lane) payload->'contact' AS contact FROM ${schema}.entries
     WHERE instance = $1 AND conversation_id = $2 AND state = 'delivered' AND checked_at IS NULL`, [instance, conversationId])
  return rows.flatMap((row) => row.contact === null ? [] : [row.contact])
}

/**
 * The conversation is gone: its entries delivered since the last good check are queued again, with their
 * old sequences (ahead of everything queued behind them), no target (nothing to look for in a deleted
 * conversation) and fresh attempts. The contacts' cached conversation is forgotten first, so the first
 * re-delivery opens the new one. Answers how many went back.
 */
export async function requeueVanished (db: Queryable, schema: string, instance: string, conversationId: number,
  evict: EvictConversation): Promise<number> {
  for (const contact of await contactsOf(db, schema, instance, conversationId)) await evict(instance, contact)
  const { rows } = await db.query<{ n: number }>(`
    WITH gone AS (
      UPDATE ${schema}.entries SET state = 'queued', conversation_id = NULL, message_id = NULL, delivered_at = NULL,
             deduplicated = NULL, attempts = 0, first_attempt_at = NULL, last_attempt_at = NULL, next_attempt_at = NULL,
             redeliveries = redeliveries + 1, last_error_code = 'FST_CHATWOOT_OUTBOX_CONVERSATION_DELETED',
             last_error = 'conversation ' || $2::int || ' was deleted after this entry was delivered into it'
       WHERE instance = $1 AND conversation_id = $2 AND state = 'delivered' AND checked_at IS NULL
      RETURNING lane
    ), counted AS (
      SELECT lane, count(*) AS n FROM gone GROUP BY lane
    ), lanes AS (
      UPDATE ${schema}.lanes l SET queued = l.queued + c.n, ready_at = now()
        FROM counted c WHERE l.instance = $1 AND l.lane = c.lane
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`, [instance, conversationId])
  return rows[0]?.n ?? 0
}

/** Checks one due conversation: vouches for its entries, or queues them again if it is gone. */
export async function checkConversation (db: Queryable, schema: string, due: DueConversation, deleteWindowMs: number,
  exists: ConversationExists, evict: EvictConversation): Promise<{ vouched: number, requeued: number }> {
  if (await exists(due.instance, due.conversationId)) return { vouched: await vouch(db, schema, due, deleteWindowMs), requeued: 0 }
  return { vouched: 0, requeued: await requeueVanished(db, schema, due.instance, due.conversationId, evict) }
}

/** Thrown by the worker's guard before a post that would overtake entries queued again ahead of it. */
export { OutboxRequeuedError as LaneRequeuedError }

/**
 * Before a post into `target`: a delivery into another conversation than the lane's unchecked ones means
 * the contact's conversation changed, perhaps because it was deleted. Those are checked now; if gone,
 * their entries are queued again and this post waits behind them (it throws LaneRequeuedError). Also
 * throws when the chore already queued earlier entries of the lane again while this one was claimed.
 */
export async function guardLane (db: Queryable, schema: string, head: { instance: string, lane: string, id: number, seq: number },
  target: number, exists: ConversationExists, evict: EvictConversation): Promise<void> {
  const { instance, lane, id, seq } = head
  const { rows } = await db.query<{ conversation_id: number | null, ahead: boolean }>(`
    (SELECT NULL::int AS conversation_id, true AS ahead FROM ${schema}.entries
      WHERE instance = $1 AND lane = $2 AND seq < $3 AND state = 'queued' LIMIT 1)
    UNION
    SELECT conversation_id, false FROM ${schema}.entries
     WHERE instance = $1 AND lane = $2 AND seq < $3 AND state = 'delivered' AND checked_at IS NULL AND conversation_id <> $4`,
  [instance, lane, seq, target])
  if (rows.some((row) => row.ahead)) throw new OutboxRequeuedError(id)
  let requeued = 0
  for (const { conversation_id: conversationId } of rows) {
    if (conversationId !== null && !await exists(instance, conversationId)) requeued += await requeueVanished(db, schema, instance, conversationId, evict)
  }
  if (requeued > 0) throw new OutboxRequeuedError(id)
}
