import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import type { DeliveryContact } from './get-or-create.js'

export interface DeliveryInput {
  contact: DeliveryContact
  /** `message_type` defaults to 'incoming'; a `source_id` is generated when absent. */
  message: CreateMessageInput
}

export interface DeliveryResult {
  message: Message
  /** The display id the message landed in. */
  conversationId: number
  contactId: number
  cache: 'hit' | 'miss'
  /** The cached conversation was gone (404) and the message went to a new one. */
  recovered: boolean
  /** The message was already stored (an answer lost, or idempotency 'always'): not posted again. */
  deduplicated: boolean
}

export interface ConversationsApi {
  /** Forgets the cached conversation of `contact` in `instance` (for host apps that learn of a deletion otherwise). */
  evict (instance: string, contact: DeliveryContact): Promise<void>
}

export interface ConversationStats {
  deliveries: number
  hits: number
  misses: number
  /** Get-or-create runs (a conversation found or made for a contact). */
  creates: number
  recoveries: number
  dedupes: number
  lockWaits: number
  evictions: number
  storeErrors: number
  failures: number
}

export type ConversationEvent = keyof ConversationStats
