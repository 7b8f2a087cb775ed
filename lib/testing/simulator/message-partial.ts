import {
  attachmentView, type AttachmentRow, CONTENT_TYPES, MESSAGE_STATUSES, type MessageRow, type Sender, unix
} from './views.js'

// The answers of the message actions (create, update, destroy) are built by Chatwoot's message
// partial, not by push_event_data: no account_id, updated_at, sender_type or sender_id in them.

export interface PartialContext {
  displayId: number
  sender: Sender
  attachments?: AttachmentRow[]
  baseUrl: string
  echoId?: string
  /** The destroy view has no `status`; create and update answers do. */
  status?: boolean
}

export function messagePartial (message: MessageRow, context: PartialContext) {
  const view: Record<string, unknown> = {
    id: message.id,
    content: message.content,
    inbox_id: message.inbox_id,
    conversation_id: context.displayId,
    message_type: message.message_type,
    content_type: CONTENT_TYPES[message.content_type] ?? 'text',
    content_attributes: message.content_attributes ?? {},
    created_at: unix(message.created_at),
    private: message.private,
    source_id: message.source_id
  }
  if (context.status !== false) view.status = MESSAGE_STATUSES[message.status] ?? 'sent'
  // jbuilder leaves `sender` out when the message has none (a deleted contact), not null.
  if (context.sender !== null) view.sender = context.sender
  if (context.attachments !== undefined && context.attachments.length > 0) {
    view.attachments = context.attachments.map((attachment) => attachmentView(attachment, context.baseUrl))
  }
  if (context.echoId !== undefined) view.echo_id = context.echoId
  return view
}
