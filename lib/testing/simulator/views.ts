import type { InboxRow } from './data/accounts.js'
import {
  type AttachmentRow, type ContactInboxRow, type ContactRow, CONTENT_TYPES, CONVERSATION_STATUSES, type ConversationRow, FILE_TYPES,
  MESSAGE_STATUSES, type MessageRow, type Sender
} from './rows.js'

export * from './rows.js'

// Answer shapes as Chatwoot's jbuilder views and push_event_data build them (CONTRACT.md, "Operations").

// row_to_json gives timestamps as ISO text without a zone; they hold UTC, like the typed columns.
function toDate (value: Date | string): Date {
  return value instanceof Date ? value : new Date(/[zZ+]/.test(value.slice(10)) ? value : `${value}Z`)
}

export function unix (value: Date | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Math.floor(toDate(value).getTime() / 1000)
}

function iso (value: Date | string): string {
  return toDate(value).toISOString()
}

export function inboxView (inbox: InboxRow) {
  return {
    id: inbox.id,
    avatar_url: '',
    channel_id: inbox.channel_id,
    name: inbox.name,
    channel_type: inbox.channel_type,
    greeting_enabled: false,
    greeting_message: null,
    working_hours_enabled: false,
    enable_email_collect: true,
    csat_survey_enabled: false,
    enable_auto_assignment: true,
    out_of_office_message: null,
    timezone: 'UTC',
    allow_messages_after_resolved: inbox.allow_messages_after_resolved,
    lock_to_single_conversation: inbox.lock_to_single_conversation,
    // Chatwoot answers the channel's identifier for API inboxes (listed inboxes only here).
    ...(inbox.inbox_identifier === undefined ? {} : { inbox_identifier: inbox.inbox_identifier })
  }
}

export function contactView (contact: ContactRow, contactInboxes: ContactInboxRow[]) {
  return {
    additional_attributes: contact.additional_attributes ?? {},
    availability_status: 'offline',
    email: contact.email,
    id: contact.id,
    name: contact.name,
    phone_number: contact.phone_number,
    blocked: contact.blocked,
    identifier: contact.identifier,
    thumbnail: '',
    custom_attributes: contact.custom_attributes ?? {},
    last_activity_at: unix(contact.last_activity_at),
    created_at: unix(contact.created_at),
    contact_inboxes: contactInboxes.map((contactInbox) => contactInboxView(contactInbox))
  }
}

export function contactInboxView ({ source_id: sourceId, inbox }: ContactInboxRow) {
  return { source_id: sourceId, inbox: inboxView(inbox) }
}

export function contactSender (contact: ContactRow) {
  return {
    additional_attributes: contact.additional_attributes ?? {},
    custom_attributes: contact.custom_attributes ?? {},
    email: contact.email,
    id: contact.id,
    identifier: contact.identifier,
    name: contact.name,
    phone_number: contact.phone_number,
    thumbnail: '',
    blocked: contact.blocked,
    type: 'contact'
  }
}

export function userSender (id: number, name: string) {
  return { id, name, available_name: name, avatar_url: '', type: 'user', availability_status: null, thumbnail: '' }
}

export function botSender (id: number, name: string) {
  return { id, name, avatar_url: '', type: 'agent_bot' }
}

export function attachmentView (attachment: AttachmentRow, baseUrl: string) {
  const { filename, byte_size: byteSize, sha256 } = attachment.meta
  const dataUrl = `${baseUrl}/rails/active_storage/blobs/${sha256}/${encodeURIComponent(filename)}`
  return {
    id: attachment.id,
    message_id: attachment.message_id,
    file_type: FILE_TYPES[attachment.file_type] ?? 'file',
    account_id: attachment.account_id,
    extension: attachment.extension,
    data_url: dataUrl,
    thumb_url: attachment.file_type === 0 ? dataUrl : '',
    file_size: byteSize,
    width: null,
    height: null
  }
}

export interface MessageContext {
  displayId: number
  sender: Sender
  attachments?: AttachmentRow[]
  baseUrl: string
  echoId?: string
}

/** Message#push_event_data: the stored attributes, with message_type as its integer and the display id. */
export function messageView (message: MessageRow, context: MessageContext) {
  const view: Record<string, unknown> = {
    id: message.id,
    content: message.content,
    account_id: message.account_id,
    inbox_id: message.inbox_id,
    conversation_id: context.displayId,
    message_type: message.message_type,
    created_at: unix(message.created_at),
    updated_at: iso(message.updated_at),
    private: message.private,
    status: MESSAGE_STATUSES[message.status] ?? 'sent',
    source_id: message.source_id,
    content_type: CONTENT_TYPES[message.content_type] ?? 'text',
    content_attributes: message.content_attributes ?? {},
    sender_type: message.sender_type,
    sender_id: message.sender_id === null ? null : Number(message.sender_id),
    external_source_ids: message.external_source_ids ?? {},
    additional_attributes: message.additional_attributes ?? {},
    processed_message_content: message.content,
    sentiment: {},
    sender: context.sender
  }
  if (context.attachments !== undefined && context.attachments.length > 0) {
    view.attachments = context.attachments.map((attachment) => attachmentView(attachment, context.baseUrl))
  }
  if (context.echoId !== undefined) view.echo_id = context.echoId
  return view
}

export interface ConversationContext {
  contact: ContactRow | null
  inbox: InboxRow
  lastMessage: Record<string, unknown> | null
  unreadCount: number
}

export function conversationView (conversation: ConversationRow, context: ConversationContext) {
  return {
    meta: {
      sender: context.contact === null ? null : contactSender(context.contact),
      channel: context.inbox.channel_type,
      assignee: null,
      team: null,
      hmac_verified: false
    },
    id: conversation.display_id,
    messages: context.lastMessage === null ? [] : [context.lastMessage],
    account_id: conversation.account_id,
    uuid: conversation.uuid,
    additional_attributes: conversation.additional_attributes ?? {},
    agent_last_seen_at: unix(conversation.agent_last_seen_at) ?? 0,
    assignee_last_seen_at: 0,
    can_reply: true,
    contact_last_seen_at: unix(conversation.contact_last_seen_at) ?? 0,
    custom_attributes: conversation.custom_attributes ?? {},
    inbox_id: conversation.inbox_id,
    labels: [],
    muted: false,
    snoozed_until: unix(conversation.snoozed_until),
    status: CONVERSATION_STATUSES[conversation.status] ?? 'open',
    created_at: unix(conversation.created_at),
    updated_at: toDate(conversation.updated_at).getTime() / 1000,
    timestamp: unix(conversation.last_activity_at),
    first_reply_created_at: 0,
    unread_count: context.unreadCount,
    last_non_activity_message: context.lastMessage,
    last_activity_at: unix(conversation.last_activity_at),
    priority: conversation.priority,
    waiting_since: 0,
    sla_policy_id: null
  }
}
