import type { ChatwootClient, ErrorContext, FindMessage, RetryDirective } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import type { RecoveryBreaker } from './breaker.js'
import type { ConversationCache } from './conversation-cache.js'
import type { DeliveryContact } from './get-or-create.js'
import type { ConversationKeys } from './keys.js'
import type { CachedConversation } from './store.js'
import type { ConversationEvent, DeliverOptions, DeliveryResult } from './types.js'

/** What a delivery needs from the layer that made it; nothing here is shared between deliveries. */
export interface CallParts {
  instance: string
  keys: ConversationKeys
  client: ChatwootClient
  contact: DeliveryContact
  cache: ConversationCache
  breaker: RecoveryBreaker
  count: (event: ConversationEvent, instance: string) => void
  /** Finds or makes the contact's conversation through the cache (one per key, across processes). */
  conversationFor: () => Promise<CachedConversation>
  /** The stored message by the instance's database: null when not there, undefined when it cannot tell. */
  findInDatabase: (conversationId: number, sourceId: string) => Promise<Message | null | undefined>
  /** Whether an answer's sender is the contact the conversation was cached for; repairs the cache when it moved. */
  checkSender: (call: DeliveryCall, answer: Message) => Promise<'same' | 'misrouted'>
  options: DeliverOptions
}

const HINT = 'the conversation is gone and a fresh one answered 404 too: check the instance\'s Chatwoot URL and account id'

function stillMissing (error: ChatwootError, why: string): ChatwootError {
  return new ChatwootError({ ...error, message: `${error.message} (${why})`, cause: error })
}

/**
 * One delivery: its conversation, whether it recovered, whether it found its message already stored.
 * The state lives here, in the call: two deliveries that share a source_id (ids repeat across chats
 * and instances) can never see each other's.
 */
export class DeliveryCall {
  readonly parts: CallParts
  current: CachedConversation
  recovered = false
  deduplicated = false

  constructor (parts: CallParts, current: CachedConversation) {
    this.parts = parts
    this.current = current
  }

  /** Posts `message` into the current conversation with this call's own recovery hook and duplicate check. */
  async post (message: CreateMessageInput): Promise<Message> {
    await this.parts.options.beforePost?.({ conversationId: this.current.conversationId })
    return this.parts.client.createMessage(this.current.conversationId, message, {
      onError: this.#recover,
      findExisting: this.#findExisting,
      onFound: () => {
        this.deduplicated = true
        this.parts.count('dedupes', this.parts.instance)
      }
    })
  }

  /** Where an earlier attempt may have landed: the message there, if it is. */
  async landedEarlier (conversationId: number, sourceId: string): Promise<Message | undefined> {
    const stored = await this.parts.findInDatabase(conversationId, sourceId)
    if (stored !== undefined) return stored ?? undefined
    try {
      return await this.parts.client.findMessage(conversationId, sourceId, 0)
    } catch (error) {
      // That conversation is gone: whatever landed there went with it.
      if (error instanceof ChatwootError && error.code === 'FST_CHATWOOT_NOT_FOUND') return undefined
      throw error
    }
  }

  /** Moves this delivery to a fresh conversation (the cached one is gone or someone else's). */
  async moveToFresh (): Promise<CachedConversation> {
    const { cache, keys, breaker, instance } = this.parts
    const stale = this.current
    await cache.evict(keys, stale)
    let fresh: CachedConversation
    try {
      fresh = await this.parts.conversationFor()
    } catch (failure) {
      breaker.failed(instance)
      throw failure
    }
    this.current = fresh
    return fresh
  }

  result (message: Message, cache: 'hit' | 'miss'): DeliveryResult {
    return {
      message,
      conversationId: this.current.conversationId,
      contactId: this.current.contactId,
      cache,
      recovered: this.recovered,
      deduplicated: this.deduplicated
    }
  }

  /** This call's onError hook: a 404 for the cached conversation evicts it and re-posts once into a fresh one. */
  readonly #recover = async (error: ChatwootError, context: ErrorContext): Promise<RetryDirective | undefined> => {
    if (error.code !== 'FST_CHATWOOT_NOT_FOUND' || context.operation !== 'createMessage') return undefined
    const { breaker, instance } = this.parts
    if (this.recovered) {
      breaker.failed(instance)
      throw stillMissing(error, HINT)
    }
    if (breaker.isOpen(instance)) throw stillMissing(error, 'not evicting: recent recoveries for this instance kept failing')
    const stale = this.current
    const fresh = await this.moveToFresh()
    if (fresh.conversationId === stale.conversationId) {
      // Chatwoot still lists what it says is gone (its delete job runs in the background), or the 404 has
      // another cause. Evicting it again would only repeat this; the breaker counts it instead.
      breaker.failed(instance)
      throw stillMissing(error, 'Chatwoot still lists this conversation for the contact')
    }
    this.recovered = true
    this.parts.count('recoveries', instance)
    await this.parts.options.beforePost?.({ conversationId: fresh.conversationId })
    return { retry: { conversationId: fresh.conversationId } }
  }

  /** The check before re-sending a create that may have landed: the instance's database, when it can tell. */
  readonly #findExisting: FindMessage = async (lookup) => {
    const found = await this.parts.findInDatabase(lookup.conversationId, lookup.sourceId)
    return found
  }
}
