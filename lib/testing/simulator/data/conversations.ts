import type { ContactRow, ConversationRow } from '../views.js'
import { INBOX_WITH_BOT, type InboxRow } from './accounts.js'
import { one, type Queryable } from './sql.js'

export const CONVERSATIONS_PER_PAGE = 25
export const CONTACT_CONVERSATIONS_LIMIT = 20

export async function findConversation (db: Queryable, accountId: number, displayId: number | undefined,
  { forUpdate = false } = {}): Promise<ConversationRow | undefined> {
  if (displayId === undefined) return undefined
  // Display ids are per account: the same number in another account is another conversation, or none.
  return one<ConversationRow>(db,
    `SELECT * FROM conversations WHERE account_id = $1 AND display_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [accountId, displayId])
}

export interface LockedConversation {
  conversation: ConversationRow
  inbox: InboxRow
  contact: ContactRow | null
}

/**
 * The conversation, locked for the rest of the transaction, with its inbox and contact in the same
 * round trip: message create is the hot path of every benchmark that runs against the simulator.
 */
export async function lockConversation (db: Queryable, accountId: number, displayId: number | undefined): Promise<LockedConversation | undefined> {
  if (displayId === undefined) return undefined
  const row = await one<ConversationRow & { inbox_row: InboxRow, contact_row: ContactRow | null }>(db,
    `SELECT c.*, ${INBOX_WITH_BOT} AS inbox_row, row_to_json(ct) AS contact_row
       FROM conversations c JOIN inboxes i ON i.id = c.inbox_id LEFT JOIN contacts ct ON ct.id = c.contact_id
      WHERE c.account_id = $1 AND c.display_id = $2 FOR UPDATE OF c`, [accountId, displayId])
  if (row === undefined) return undefined
  const { inbox_row: inbox, contact_row: contact, ...conversation } = row
  return { conversation, inbox, contact }
}

export interface NewConversation {
  accountId: number
  inbox: InboxRow
  contactId: number
  contactInboxId: number
  status: number
  assigneeId?: number
  teamId?: number
  additionalAttributes?: Record<string, unknown>
  customAttributes?: Record<string, unknown>
}

/** ConversationBuilder: an inbox locked to a single conversation gives back the contact's last one. */
export async function buildConversation (db: Queryable, input: NewConversation): Promise<ConversationRow> {
  if (input.inbox.lock_to_single_conversation) {
    const last = await one<ConversationRow>(db,
      'SELECT * FROM conversations WHERE contact_inbox_id = $1 ORDER BY id DESC LIMIT 1', [input.contactInboxId])
    if (last !== undefined) return last
  }
  const row = await one<ConversationRow>(db,
    `INSERT INTO conversations (account_id, inbox_id, contact_id, contact_inbox_id, status, assignee_id, team_id,
       additional_attributes, custom_attributes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8::jsonb, '{}'), coalesce($9::jsonb, '{}')) RETURNING *`,
    [input.accountId, input.inbox.id, input.contactId, input.contactInboxId, input.status, input.assigneeId ?? null,
      input.teamId ?? null, input.additionalAttributes ?? null, input.customAttributes ?? null])
  return row!
}

export async function contactConversations (db: Queryable, accountId: number, contactId: number): Promise<ConversationRow[]> {
  const { rows } = await db.query<ConversationRow>(
    `SELECT * FROM conversations WHERE account_id = $1 AND contact_id = $2
      ORDER BY last_activity_at DESC, id DESC LIMIT ${CONTACT_CONVERSATIONS_LIMIT}`, [accountId, contactId])
  return rows
}

export interface ConversationQuery { status?: number, inboxId?: number, sourceId?: string, page: number, userId: number }

export interface ConversationPage {
  counts: { mine_count: number, assigned_count: number, unassigned_count: number, all_count: number }
  conversations: ConversationRow[]
}

export async function listConversations (db: Queryable, accountId: number, query: ConversationQuery): Promise<ConversationPage> {
  const values: unknown[] = [accountId]
  let where = 'c.account_id = $1'
  if (query.status !== undefined) where += ` AND c.status = $${values.push(query.status)}`
  if (query.inboxId !== undefined) where += ` AND c.inbox_id = $${values.push(query.inboxId)}`
  if (query.sourceId !== undefined) {
    where += ` AND c.contact_inbox_id IN (SELECT id FROM contact_inboxes WHERE source_id = $${values.push(query.sourceId)})`
  }
  const counts = await one<ConversationPage['counts']>(db,
    `SELECT count(*) FILTER (WHERE c.assignee_id = $${values.length + 1})::int AS mine_count,
            count(*) FILTER (WHERE c.assignee_id IS NOT NULL)::int AS assigned_count,
            count(*) FILTER (WHERE c.assignee_id IS NULL)::int AS unassigned_count,
            count(*)::int AS all_count
       FROM conversations c WHERE ${where}`, [...values, query.userId])
  const { rows } = await db.query<ConversationRow>(
    `SELECT c.* FROM conversations c WHERE ${where} ORDER BY c.last_activity_at DESC, c.id DESC
     LIMIT ${CONVERSATIONS_PER_PAGE} OFFSET ${(query.page - 1) * CONVERSATIONS_PER_PAGE}`, values)
  return { counts: counts!, conversations: rows }
}

export async function setConversationStatus (db: Queryable, conversationId: number, status: number,
  snoozedUntil: Date | null): Promise<ConversationRow> {
  const row = await one<ConversationRow>(db,
    'UPDATE conversations SET status = $2, snoozed_until = $3, updated_at = utc_now() WHERE id = $1 RETURNING *',
    [conversationId, status, snoozedUntil])
  return row!
}

/** A hard delete, as Chatwoot's DeleteObjectJob does: the conversation, its messages and their attachments. */
export async function deleteConversation (db: Queryable, accountId: number, displayId: number): Promise<boolean> {
  const deleted = await one<{ id: number }>(db,
    `WITH conversation AS (DELETE FROM conversations WHERE account_id = $1 AND display_id = $2 RETURNING id),
          message AS (DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversation) RETURNING id),
          attachment AS (DELETE FROM attachments WHERE message_id IN (SELECT id FROM message) RETURNING id)
     SELECT id FROM conversation`, [accountId, displayId])
  return deleted !== undefined
}
