import { createHash } from 'node:crypto'
import type { InboxRow, Principal } from './data/accounts.js'
import {
  countRecentMessages, insertAttachments, insertMessage, type NewAttachment, touchConversation
} from './data/messages.js'
import type { Queryable } from './data/sql.js'
import { flag, isRecord, type Params, text } from './params.js'
import { type ContactRow, CONTENT_TYPES, type ConversationRow, FILE_TYPES, MESSAGE_TYPES } from './views.js'

export const MAX_CONTENT_LENGTH = 150_000
export const MAX_ATTACHMENTS = 15
const INCOMING = 0
const OUTGOING = 1
const ACTIVITY = 2
const OPEN = 0
const RESOLVED = 1
const PENDING = 2
const SNOOZED = 3

/**
 * A message Chatwoot would not save. `failures` are the model's validation errors (a RecordInvalid);
 * without them it is another exception (a bad enum, an incoming message outside API inboxes). The
 * message action answers both as 422 `{error}`; the conversation create tells them apart.
 */
export class MessageRefused extends Error {
  readonly failures: ReadonlyArray<{ attribute: string, message: string }> | undefined

  constructor (message: string, failures?: ReadonlyArray<{ attribute: string, message: string }>) {
    super(message)
    this.failures = failures
  }
}

export interface BuildMessage {
  conversation: ConversationRow
  /** With `active_bot`: a resolved conversation an incoming message reopens goes pending. */
  inbox: InboxRow
  /** A blocked contact is a muted conversation, which incoming messages do not reopen. */
  contact: ContactRow | null
  principal: Principal
  params: Params
  attachments: NewAttachment[]
  messagesPerMinute: number
}

/** Rails enums take a key or its integer; anything else raises ArgumentError, which the action answers as 422. */
function enumValue (raw: unknown, keys: readonly string[], fallback: string, name: string): number {
  const value = raw === undefined || raw === null || raw === '' ? fallback : raw
  const index = typeof value === 'number' ? (Number.isInteger(value) && value >= 0 && value < keys.length ? value : -1) : keys.indexOf(String(value))
  if (index === -1) throw new MessageRefused(`'${typeof value === 'object' ? JSON.stringify(value) : String(value)}' is not a valid ${name}`)
  return index
}

// MessageBuilder parses a string leniently (a parse error gives {}), and the Rails store keeps only a
// Hash: any other JSON value is stored as {} too.
function contentAttributes (raw: unknown): Params {
  if (typeof raw !== 'string') return isRecord(raw) ? raw : {}
  try {
    const parsed: unknown = JSON.parse(raw)
    return isRecord(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

// FileTypeHelper's fixed lists: image/jpg, video/3gpp and the like are plain files there.
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/bmp', 'image/webp'])
const VIDEO_TYPES = new Set(['video/ogg', 'video/mp4', 'video/webm', 'video/quicktime'])

export function fileType (contentType: string): number {
  if (IMAGE_TYPES.has(contentType)) return FILE_TYPES.indexOf('image')
  if (VIDEO_TYPES.has(contentType)) return FILE_TYPES.indexOf('video')
  // Ruby's `include?('audio/')`: a substring test, not a prefix one.
  if (contentType.includes('audio/')) return FILE_TYPES.indexOf('audio')
  return FILE_TYPES.indexOf('file')
}

/**
 * Messages::MessageBuilder and the Message model's validations, in Chatwoot's order. Runs inside the
 * caller's transaction, with the conversation row locked, so the per-minute limit is exact.
 */
export async function buildMessage (db: Queryable, input: BuildMessage) {
  const { conversation, inbox, principal, params, attachments } = input
  const messageType = enumValue(params.message_type, MESSAGE_TYPES, 'outgoing', 'message_type')
  if (messageType === INCOMING && inbox.channel_type !== 'Channel::Api') {
    throw new MessageRefused('Incoming messages are only allowed in Api inboxes')
  }
  const contentType = enumValue(params.content_type, CONTENT_TYPES, 'text', 'content_type')
  const attributes = contentAttributes(params.content_attributes)
  const content = text(params.content) ?? null

  const failures: Array<{ attribute: string, message: string }> = []
  // Ruby counts characters, JavaScript UTF-16 units: count code points only when it can matter.
  if (content !== null && content.length > MAX_CONTENT_LENGTH && [...content].length > MAX_CONTENT_LENGTH) {
    failures.push({ attribute: 'content', message: `Content is too long (maximum is ${MAX_CONTENT_LENGTH} characters)` })
  }
  if (attachments.length > MAX_ATTACHMENTS) failures.push({ attribute: 'attachments', message: 'Attachments exceeded maximum allowed' })
  if (await countRecentMessages(db, conversation.id, input.messagesPerMinute) >= input.messagesPerMinute) {
    failures.push({ attribute: 'base', message: 'Too many messages' })
  }
  if (failures.length > 0) {
    throw new MessageRefused(`Validation failed: ${failures.map((failure) => failure.message).join(', ')}`, failures)
  }

  // MessageBuilder#sender: the caller for outgoing messages, the conversation's contact for every other type.
  const contactId = conversation.contact_id === null ? null : Number(conversation.contact_id)
  const fromContact = messageType !== OUTGOING
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
    senderType: fromContact ? (contactId === null ? null : 'Contact') : principal.type,
    senderId: fromContact ? contactId : principal.id
  })
  const stored = attachments.length === 0
    ? []
    : await insertAttachments(db, message, attachments.map((file) => ({
      ...file, fileType: fileType(file.contentType), sha256: createHash('sha256').update(file.data).digest('hex')
    })))
  if (messageType !== ACTIVITY) {
    await touchConversation(db, conversation.id, messageType === INCOMING ? reopenedStatus(input) : null, fromContact ? contactId : null)
  }
  return { message, attachments: stored }
}

/**
 * Message#reopen_conversation: an incoming message opens a snoozed conversation and a resolved one
 * (pending when the inbox has an active bot), whatever allow_messages_after_resolved says; never a
 * muted one (Chatwoot's muted? is the contact being blocked).
 */
function reopenedStatus ({ conversation, inbox, contact }: BuildMessage): number | null {
  if (contact?.blocked === true) return null
  if (conversation.status === SNOOZED) return OPEN
  if (conversation.status === RESOLVED) return inbox.active_bot === true ? PENDING : OPEN
  return null
}
