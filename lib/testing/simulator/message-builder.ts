import { createHash } from 'node:crypto'
import { couldNotCreate } from './answers.js'
import type { InboxRow, Principal } from './data/accounts.js'
import {
  countRecentMessages, insertAttachments, insertMessage, type NewAttachment, touchConversation
} from './data/messages.js'
import type { Queryable } from './data/sql.js'
import { flag, isRecord, type Params, text } from './params.js'
import { CONTENT_TYPES, type ConversationRow, FILE_TYPES, MESSAGE_TYPES } from './views.js'

export const MAX_CONTENT_LENGTH = 150_000
export const MAX_ATTACHMENTS = 15
const INCOMING = 0
const ACTIVITY = 2
const RESOLVED = 1
const SNOOZED = 3

export interface BuildMessage {
  conversation: ConversationRow
  inbox: InboxRow
  principal: Principal
  params: Params
  attachments: NewAttachment[]
  messagesPerMinute: number
}

/** Rails enums take a key or its integer; anything else raises ArgumentError, which the action answers as 422. */
function enumValue (raw: unknown, keys: readonly string[], fallback: string, name: string): number {
  const value = raw === undefined || raw === null || raw === '' ? fallback : raw
  const index = typeof value === 'number' ? (Number.isInteger(value) && value >= 0 && value < keys.length ? value : -1) : keys.indexOf(String(value))
  if (index === -1) throw couldNotCreate(`'${typeof value === 'object' ? JSON.stringify(value) : String(value)}' is not a valid ${name}`)
  return index
}

function contentAttributes (raw: unknown): unknown {
  if (typeof raw !== 'string') return isRecord(raw) ? raw : {}
  try {
    return JSON.parse(raw)
  } catch {
    throw couldNotCreate(`unexpected token at '${raw.slice(0, 64)}'`)
  }
}

function fileType (contentType: string): number {
  const kind = FILE_TYPES.indexOf(contentType.split('/')[0] as typeof FILE_TYPES[number])
  return kind === -1 ? FILE_TYPES.indexOf('file') : kind
}

/**
 * Messages::MessageBuilder and the Message model's validations, in Chatwoot's order. Runs inside the
 * caller's transaction, with the conversation row locked, so the per-minute limit is exact.
 */
export async function buildMessage (db: Queryable, input: BuildMessage) {
  const { conversation, inbox, principal, params, attachments } = input
  const messageType = enumValue(params.message_type, MESSAGE_TYPES, 'outgoing', 'message_type')
  if (messageType === INCOMING && inbox.channel_type !== 'Channel::Api') {
    throw couldNotCreate('Incoming messages are only allowed in Api inboxes')
  }
  const contentType = enumValue(params.content_type, CONTENT_TYPES, 'text', 'content_type')
  const attributes = contentAttributes(params.content_attributes)
  const content = text(params.content) ?? null

  const failures: string[] = []
  // Ruby counts characters, JavaScript UTF-16 units: count code points only when it can matter.
  if (content !== null && content.length > MAX_CONTENT_LENGTH && [...content].length > MAX_CONTENT_LENGTH) {
    failures.push(`Content is too long (maximum is ${MAX_CONTENT_LENGTH} characters)`)
  }
  if (attachments.length > MAX_ATTACHMENTS) failures.push('Attachments exceeded maximum allowed')
  if (await countRecentMessages(db, conversation.id, input.messagesPerMinute) >= input.messagesPerMinute) failures.push('Too many messages')
  if (failures.length > 0) throw couldNotCreate(`Validation failed: ${failures.join(', ')}`)

  const fromContact = messageType === INCOMING
  const message = await insertMessage(db, {
    accountId: conversation.account_id,
    inboxId: conversation.inbox_id,
    conversationId: conversation.id,
    content,
    messageType,
    private: flag(params.private) ?? false,
    sourceId: text(params.source_id) ?? null,
    contentType,
    contentAttributes: attributes,
    senderType: fromContact ? 'Contact' : principal.type,
    senderId: fromContact ? Number(conversation.contact_id) : principal.id
  })
  const stored = attachments.length === 0
    ? []
    : await insertAttachments(db, message, attachments.map((file) => ({
      ...file, fileType: fileType(file.contentType), sha256: createHash('sha256').update(file.data).digest('hex')
    })))
  if (messageType !== ACTIVITY) {
    const reopen = fromContact && ((conversation.status === RESOLVED && inbox.allow_messages_after_resolved) ||
      conversation.status === SNOOZED)
    await touchConversation(db, conversation.id, reopen, fromContact ? Number(conversation.contact_id) : null)
  }
  return { message, attachments: stored }
}
