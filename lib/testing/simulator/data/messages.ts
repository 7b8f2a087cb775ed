import type { AttachmentRow, MessageRow } from '../views.js'
import { one, type Queryable } from './sql.js'

export const MESSAGES_PAGE = 20
const MESSAGES_AFTER_LIMIT = 100
const MESSAGES_BETWEEN_LIMIT = 1000

export interface NewAttachment { filename: string, contentType: string, data: Buffer }

export interface NewMessage {
  accountId: number
  inboxId: number
  conversationId: number
  content: string | null
  messageType: number
  private: boolean
  sourceId: string | null
  contentType: number
  contentAttributes: unknown
  senderType: string | null
  senderId: number | null
}

/** Messages of the last minute, counted up to `limit`: the check never scans more than it needs. */
export async function countRecentMessages (db: Queryable, conversationId: number, limit: number): Promise<number> {
  const row = await one<{ count: number }>(db,
    `SELECT count(*)::int AS count FROM (SELECT 1 FROM messages
      WHERE conversation_id = $1 AND created_at >= utc_now() - interval '1 minute' LIMIT $2) recent`,
    [conversationId, limit])
  return row!.count
}

export async function insertMessage (db: Queryable, message: NewMessage): Promise<MessageRow> {
  const row = await one<MessageRow>(db,
    `INSERT INTO messages (account_id, inbox_id, conversation_id, content, message_type, private, source_id,
       content_type, content_attributes, sender_type, sender_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
    [message.accountId, message.inboxId, message.conversationId, message.content, message.messageType, message.private,
      message.sourceId, message.contentType, JSON.stringify(message.contentAttributes ?? {}), message.senderType,
      message.senderId])
  return row!
}

export async function insertAttachments (db: Queryable, message: MessageRow, files: Array<NewAttachment & { fileType: number, sha256: string }>) {
  const rows: AttachmentRow[] = []
  for (const file of files) {
    const extension = /\.([A-Za-z0-9]{1,10})$/.exec(file.filename)?.[1] ?? null
    const meta = { filename: file.filename, content_type: file.contentType, byte_size: file.data.length, sha256: file.sha256 }
    rows.push((await one<AttachmentRow>(db,
      `INSERT INTO attachments (account_id, message_id, file_type, extension, meta) VALUES ($1, $2, $3, $4, $5)
       RETURNING id, account_id, message_id, file_type, extension, meta`,
      [message.account_id, message.id, file.fileType, extension, meta]))!)
  }
  return rows
}

/**
 * What a stored message does to its conversation (activity, a reopening to `status`) and, for a
 * contact's message, to the contact's last activity; one statement for both. A status other than
 * snoozed clears snoozed_until, as Conversation's before_save does.
 */
export async function touchConversation (db: Queryable, conversationId: number, status: number | null, contactId: number | null): Promise<void> {
  await db.query(
    `WITH contact AS (UPDATE contacts SET last_activity_at = utc_now() WHERE id = $3)
     UPDATE conversations SET last_activity_at = utc_now(), updated_at = utc_now(),
       status = coalesce($2, status), snoozed_until = CASE WHEN $2::int IS NULL THEN snoozed_until END
     WHERE id = $1`, [conversationId, status, contactId])
}

/**
 * MessageFinder's pages, ordered by created_at (set when the row is written, so under concurrent posts
 * it can disagree with the id order) while the bounds compare ids. The id only breaks created_at ties,
 * which Postgres would otherwise order at random.
 */
export async function listMessages (db: Queryable, conversationId: number, before?: number, after?: number): Promise<MessageRow[]> {
  const base = 'SELECT * FROM messages WHERE conversation_id = $1'
  if (after !== undefined && before !== undefined) {
    return rows(db, `${base} AND id >= $2 AND id < $3 ORDER BY created_at ASC, id ASC LIMIT ${MESSAGES_BETWEEN_LIMIT}`, [conversationId, after, before])
  }
  if (after !== undefined) {
    return rows(db, `${base} AND id > $2 ORDER BY created_at ASC, id ASC LIMIT ${MESSAGES_AFTER_LIMIT}`, [conversationId, after])
  }
  // The latest page, or the one before a message: newest first, then reversed.
  const values: unknown[] = [conversationId]
  const bound = before === undefined ? '' : ` AND id < $${values.push(before)}`
  const latest = await rows(db, `${base}${bound} ORDER BY created_at DESC, id DESC LIMIT ${MESSAGES_PAGE}`, values)
  return latest.reverse()
}

async function rows (db: Queryable, sql: string, values: unknown[]): Promise<MessageRow[]> {
  return (await db.query<MessageRow>(sql, values)).rows
}

export async function lastMessage (db: Queryable, conversationId: number): Promise<MessageRow | undefined> {
  return one<MessageRow>(db,
    'SELECT * FROM messages WHERE conversation_id = $1 AND message_type <> 2 ORDER BY created_at DESC, id DESC LIMIT 1', [conversationId])
}

export async function unreadCount (db: Queryable, conversationId: number, agentLastSeenAt: unknown): Promise<number> {
  const row = await one<{ count: number }>(db,
    `SELECT count(*)::int AS count FROM messages
      WHERE conversation_id = $1 AND message_type = 0 AND ($2::timestamp IS NULL OR created_at > $2::timestamp)`,
    [conversationId, agentLastSeenAt ?? null])
  return row!.count
}

export async function attachmentsOf (db: Queryable, messageIds: number[]): Promise<Map<number, AttachmentRow[]>> {
  const byMessage = new Map<number, AttachmentRow[]>()
  if (messageIds.length === 0) return byMessage
  const { rows } = await db.query<AttachmentRow>(
    'SELECT id, account_id, message_id, file_type, extension, meta FROM attachments WHERE message_id = ANY($1) ORDER BY id',
    [messageIds])
  for (const row of rows) {
    const list = byMessage.get(row.message_id) ?? []
    list.push(row)
    byMessage.set(row.message_id, list)
  }
  return byMessage
}

export async function senderRow (db: Queryable, type: string | null, id: string | number | null) {
  if (id === null) return undefined
  if (type === 'User') return one<{ id: number, name: string }>(db, 'SELECT id, name FROM users WHERE id = $1', [id])
  if (type === 'AgentBot') return one<{ id: number, name: string }>(db, 'SELECT id::int, name FROM agent_bots WHERE id = $1', [id])
  return undefined
}

export async function findMessage (db: Queryable, conversationId: number, messageId: number | undefined): Promise<MessageRow | undefined> {
  if (messageId === undefined) return undefined
  return one<MessageRow>(db, 'SELECT * FROM messages WHERE id = $1 AND conversation_id = $2', [messageId, conversationId])
}

/** Chatwoot's destroy: the row stays, with its source_id; content and attributes are replaced, the files go. */
export async function softDeleteMessage (db: Queryable, messageId: number): Promise<MessageRow> {
  const row = await one<MessageRow>(db,
    `WITH attachment AS (DELETE FROM attachments WHERE message_id = $1)
     UPDATE messages SET content = 'This message was deleted', content_type = 0, content_attributes = '{"deleted":true}',
       updated_at = utc_now() WHERE id = $1 RETURNING *`, [messageId])
  return row!
}

/**
 * Messages::StatusUpdateService: `external_error` lives in content_attributes (a Rails store) and is
 * set only with `failed`; any other status clears it, and Rails writes the key only when it changes.
 */
export async function setMessageStatus (db: Queryable, messageId: number, status: number, externalError: string | null): Promise<void> {
  await db.query(
    `UPDATE messages SET status = $2, updated_at = utc_now(),
       content_attributes = CASE WHEN (content_attributes::jsonb ->> 'external_error') IS NOT DISTINCT FROM $3 THEN content_attributes
         ELSE (coalesce(content_attributes::jsonb, '{}') || jsonb_build_object('external_error', $3::text))::json END
     WHERE id = $1`, [messageId, status, externalError])
}
