import type { InboxRow } from './data/accounts.js'

// The simulator's table rows as node-postgres answers them (Chatwoot's own layout, schema.ts), and the enums' names by value.

export interface ContactRow {
  id: number
  name: string | null
  email: string | null
  phone_number: string | null
  identifier: string | null
  account_id: number
  additional_attributes: Record<string, unknown> | null
  custom_attributes: Record<string, unknown> | null
  blocked: boolean
  last_activity_at: Date | string | null
  created_at: Date | string
}

export interface ContactInboxRow { source_id: string, inbox: InboxRow }

export interface ConversationRow {
  id: number
  display_id: number
  account_id: number
  inbox_id: number
  status: number
  uuid: string
  contact_id: string | number | null
  contact_inbox_id: string | number | null
  assignee_id: number | null
  team_id: number | null
  priority: number | null
  additional_attributes: Record<string, unknown> | null
  custom_attributes: Record<string, unknown> | null
  agent_last_seen_at: Date | string | null
  contact_last_seen_at: Date | string | null
  snoozed_until: Date | string | null
  last_activity_at: Date | string
  created_at: Date | string
  updated_at: Date | string
}

export interface MessageRow {
  id: number
  content: string | null
  account_id: number
  inbox_id: number
  conversation_id: number
  message_type: number
  private: boolean
  status: number
  source_id: string | null
  content_type: number
  content_attributes: unknown
  sender_type: string | null
  sender_id: string | number | null
  external_source_ids: unknown
  additional_attributes: unknown
  created_at: Date | string
  updated_at: Date | string
}

export interface AttachmentRow {
  id: number
  message_id: number
  account_id: number
  file_type: number
  extension: string | null
  meta: { filename: string, content_type: string, byte_size: number, sha256: string }
}

export type Sender = Record<string, unknown> | null

export const CONVERSATION_STATUSES = ['open', 'resolved', 'pending', 'snoozed'] as const
export const MESSAGE_TYPES = ['incoming', 'outgoing', 'activity', 'template'] as const
export const CONTENT_TYPES = ['text', 'input_text', 'input_textarea', 'input_email', 'input_select', 'cards',
  'form', 'article', 'incoming_email', 'input_csat', 'integrations', 'sticker', 'voice_call'] as const
export const MESSAGE_STATUSES = ['sent', 'delivered', 'read', 'failed'] as const
export const FILE_TYPES = ['image', 'audio', 'video', 'file'] as const
