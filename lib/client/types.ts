// Request and answer shapes of Chatwoot v4.9.1's Application API (CONTRACT.md). Answers carry more
// fields than listed; the ones a bridge relies on are typed.

export type ConversationStatus = 'open' | 'resolved' | 'pending' | 'snoozed'
export type MessageType = 'incoming' | 'outgoing' | 'activity' | 'template'
export type MessageStatus = 'sent' | 'delivered' | 'read' | 'failed'

/** A delivery receipt for a message of an API inbox (`PATCH .../messages/{id}`). */
export interface UpdateMessageStatusInput {
  /** Chatwoot ignores read -> delivered, and any status it does not know, without an error. */
  status: MessageStatus
  /** Why the channel failed to deliver it; stored with status 'failed' only. */
  external_error?: string
}

export interface Inbox {
  id: number
  name: string
  channel_type: string
  channel_id?: number
  lock_to_single_conversation?: boolean
  [field: string]: unknown
}

export interface ContactInbox { source_id: string, inbox: Inbox }

export interface Contact {
  id: number
  name: string | null
  email: string | null
  phone_number: string | null
  identifier: string | null
  blocked?: boolean
  additional_attributes: Record<string, unknown>
  custom_attributes: Record<string, unknown>
  contact_inboxes?: ContactInbox[]
  [field: string]: unknown
}

export interface ContactPage { meta: { count: number, current_page: number | string }, payload: Contact[] }

export interface Message {
  id: number
  content: string | null
  inbox_id: number
  /** The conversation's display id. */
  conversation_id: number
  /** 0 incoming, 1 outgoing, 2 activity, 3 template. */
  message_type: number
  private: boolean
  source_id: string | null
  created_at: number
  /** The contact for every type but outgoing (then the agent or bot that posted it, or none). */
  sender?: MessageSender
  attachments?: Array<Record<string, unknown>>
  [field: string]: unknown
}

/** A message's sender as its answer carries it: a contact, a user or an agent bot. */
export interface MessageSender {
  id: number
  name?: string | null
  /** 'contact', 'user' or 'agent_bot'. */
  type?: string
  [field: string]: unknown
}

export interface Conversation {
  /** The display id: what every conversation path takes. */
  id: number
  account_id: number
  inbox_id: number
  status: ConversationStatus
  uuid?: string
  meta: { sender?: Contact | null, [field: string]: unknown }
  messages: Message[]
  created_at: number
  last_activity_at: number
  [field: string]: unknown
}

export interface ConversationList {
  data: {
    meta: { mine_count: number, assigned_count: number, unassigned_count: number, all_count: number }
    payload: Conversation[]
  }
}

export interface MessageList { meta: Record<string, unknown>, payload: Message[] }

export interface ToggleStatusAnswer {
  meta: Record<string, unknown>
  payload: {
    /** null when a bot hands a pending conversation over (Chatwoot's bot_handoff! returns nothing). */
    success: boolean | null
    conversation_id: number
    current_status: ConversationStatus
    /** An ISO 8601 datetime (a Rails time), not the unix integer of the other answers; null unless snoozed until a time. */
    snoozed_until: string | null
  }
}

export interface CreateContactInput {
  name?: string
  identifier?: string
  email?: string
  phone_number?: string
  avatar_url?: string
  blocked?: boolean
  additional_attributes?: Record<string, unknown>
  custom_attributes?: Record<string, unknown>
  /** Creates the contact_inbox in the same transaction. */
  inbox_id?: number
  source_id?: string
}

/**
 * `PUT /contacts/{id}`: only the fields given change. `additional_attributes` and `custom_attributes` are
 * merged into the stored ones key by key (top level only: a key given replaces that key's whole value).
 */
export type UpdateContactInput = Omit<CreateContactInput, 'inbox_id' | 'source_id'>

export interface CreatedContact { payload: { contact: Contact, contact_inbox: { inbox: Inbox | null, source_id: string | null } } }

export interface ContactFilter {
  attribute_key: 'name' | 'email' | 'phone_number' | 'identifier' | (string & {})
  filter_operator: 'equal_to' | 'not_equal_to' | 'contains' | 'does_not_contain' | 'starts_with'
  values: string[]
  /** Between this condition and the next (default 'and'); the client drops it from the last one. */
  query_operator?: 'and' | 'or' | 'AND' | 'OR' | null
}

export interface CreateConversationInput {
  inbox_id: number
  contact_id: number
  /** Pass the contact's existing contact_inbox source_id: without it Chatwoot makes a second contact_inbox. */
  source_id?: string
  status?: ConversationStatus
  assignee_id?: number
  team_id?: number
  additional_attributes?: Record<string, unknown>
  custom_attributes?: Record<string, unknown>
  message?: { content: string }
}

export interface ListConversationsQuery {
  status?: ConversationStatus | 'all'
  inbox_id?: number
  source_id?: string
  page?: number
}
