import type { InboxRow } from './data/accounts.js'
import { attachmentsOf, lastMessage, senderRow, unreadCount } from './data/messages.js'
import type { Queryable } from './data/sql.js'
import {
  botSender, type ContactRow, contactSender, type ConversationRow, conversationView, type MessageRow, messageView, type Sender,
  userSender
} from './views.js'

// Reads what the views need beyond a row (sender, attachments, last message) and builds the answers.

export async function senderOf (db: Queryable, message: MessageRow, contact: ContactRow | null): Promise<Sender> {
  if (message.sender_type === 'Contact') return contact === null ? null : contactSender(contact)
  const row = await senderRow(db, message.sender_type, message.sender_id)
  if (row === undefined) return null
  return message.sender_type === 'AgentBot' ? botSender(row.id, row.name) : userSender(row.id, row.name)
}

export async function presentMessages (db: Queryable, messages: MessageRow[], conversation: ConversationRow,
  contact: ContactRow | null, baseUrl: string, echoId?: string) {
  const attachments = await attachmentsOf(db, messages.map((message) => message.id))
  const views = []
  for (const message of messages) {
    views.push(messageView(message, {
      displayId: conversation.display_id,
      sender: await senderOf(db, message, contact),
      attachments: attachments.get(message.id),
      baseUrl,
      echoId
    }))
  }
  return views
}

export async function presentConversations (db: Queryable, conversations: ConversationRow[], baseUrl: string) {
  const views = []
  for (const conversation of conversations) {
    const [contact, inbox] = await Promise.all([
      db.query<ContactRow>('SELECT * FROM contacts WHERE id = $1', [conversation.contact_id]),
      db.query<InboxRow>('SELECT * FROM inboxes WHERE id = $1', [conversation.inbox_id])
    ])
    const contactRow = contact.rows[0] ?? null
    const last = await lastMessage(db, conversation.id)
    const [lastView] = last === undefined ? [] : await presentMessages(db, [last], conversation, contactRow, baseUrl)
    views.push(conversationView(conversation, {
      contact: contactRow,
      inbox: inbox.rows[0]!,
      lastMessage: lastView ?? null,
      unreadCount: await unreadCount(db, conversation.id, conversation.agent_last_seen_at)
    }))
  }
  return views
}

export async function presentConversation (db: Queryable, conversation: ConversationRow, baseUrl: string) {
  const [view] = await presentConversations(db, [conversation], baseUrl)
  return view!
}
