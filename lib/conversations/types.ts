import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import type { DeliveryContact } from './get-or-create.js'

export interface DeliveryInput {
  contact: DeliveryContact
  /** `message_type` defaults to 'incoming'; a `source_id` is generated when absent, except for an outgoing message (Chatwoot would not send it to the channel). */
  message: CreateMessageInput
}

/** What one call of deliver() brings of its own (the outbox's worker uses them). */
export interface DeliverOptions {
  /**
   * The display id of the conversation an earlier attempt of this message was aimed at (a worker that died
   * mid-post): it is searched for the message's source_id (database, else API) before anything is posted.
   */
  landedIn?: number
  /** Awaited before each post with the conversation it is aimed at, so a caller can record it first. */
  beforePost?: (target: { conversationId: number }) => Promise<void> | void
}

export interface DeliveryResult {
  message: Message
  /** The display id the message landed in. */
  conversationId: number
  contactId: number
  cache: 'hit' | 'miss'
  /** The cached conversation was gone (404) or belonged to someone else, and the message went to a new one. */
  recovered: boolean
  /** The message was already stored (an answer lost, or idempotency 'always'): not posted again. */
  deduplicated: boolean
}

export interface ConversationsApi {
  /**
   * Forgets the cached conversation of `contact` in `instance` (for host apps that learn of a deletion or a
   * resolve otherwise); with `conversationId`, only while that conversation is the one cached, so a late
   * event about an old conversation never drops a newer one.
   */
  evict (instance: string, contact: DeliveryContact, conversationId?: number): Promise<void>
  /**
   * The person behind `contact` (its canonical id, docs/identity.md), its aliases linked as a delivery links
   * them: two ids of one person answer the same key once linked, an id never linked answers itself.
   */
  person (instance: string, contact: DeliveryContact): Promise<string>
}

export interface ConversationStats {
  deliveries: number
  hits: number
  misses: number
  /** Get-or-create runs (a conversation found or made for a contact). */
  creates: number
  recoveries: number
  dedupes: number
  /** Answers whose sender was another person: the message was deleted there and delivered to the right conversation. */
  misroutes: number
  lockWaits: number
  evictions: number
  storeErrors: number
  failures: number
  /** A found contact given the phone number or aliases it lacked (docs/identity.md). */
  backfills: number
  /** Such an update Chatwoot refused (the delivery went on). */
  backfillsRefused: number
}

export type ConversationEvent = keyof ConversationStats

declare module '../client/decorator.js' {
  interface ChatwootExtensions {
    /** Delivers one message into `instance`'s right conversation, exactly once, in call order per contact (chatwootConversations). */
    deliver (instance: string, input: DeliveryInput, options?: DeliverOptions): Promise<DeliveryResult>
    /** The conversation cache (chatwootConversations). */
    conversations: ConversationsApi
    /** Counters of the conversations plugin. */
    stats (): ConversationStats
  }
  interface RequestChatwootExtensions {
    /** Delivers one message into the request's instance (chatwootConversations). */
    deliver (input: DeliveryInput, options?: DeliverOptions): Promise<DeliveryResult>
  }
}
