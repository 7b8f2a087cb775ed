import { randomUUID } from 'node:crypto'
import type { ChatwootClient, ErrorContext, FindMessage, OnErrorHook } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import type { ChatwootDecorator } from '../client/plugin.js'
import { DeliveryInFlightError, DeliveryInvalidError } from '../errors.js'
import type { ChatwootInstances } from '../instances/plugin.js'
import type { RecoveryBreaker } from './breaker.js'
import type { ConversationCache } from './conversation-cache.js'
import { type ConversationPolicy, type DeliveryContact, getOrCreateConversation } from './get-or-create.js'
import { StoreUnavailableError } from './guarded-store.js'
import { type ConversationKeys, conversationKeys } from './keys.js'
import { KeyedQueue } from './ordering.js'
import type { CachedConversation, ConversationStore } from './store.js'
import type { ConversationEvent, DeliveryInput, DeliveryResult } from './types.js'

export interface DelivererOptions {
  instances: ChatwootInstances
  chatwoot: ChatwootDecorator
  cache: ConversationCache
  store: ConversationStore
  keyPrefix: string
  ttlMs: number
  contactKey: (contact: DeliveryContact) => string
  policy: ConversationPolicy
  idempotency: 'check' | 'always'
  breaker: RecoveryBreaker
  count: (event: ConversationEvent, instance: string) => void
  /** The message as stored in the instance's own Chatwoot database: null when not there, undefined when it has no database. */
  findInDatabase: (instance: string, conversationId: number, sourceId: string) => Promise<Message | undefined | null>
  onDatabaseError: (error: unknown, instance: string) => void
}

interface Delivery {
  instance: string
  keys: ConversationKeys
  client: ChatwootClient
  inboxId: number
  contact: DeliveryContact
  current: CachedConversation
  recovered: boolean
  deduplicated: boolean
}

const HINT = 'the conversation is gone and a fresh one answered 404 too: check the instance\'s Chatwoot URL and account id'

function stillMissing (error: ChatwootError, why: string): ChatwootError {
  return new ChatwootError({ ...error, message: `${error.message} (${why})`, cause: error })
}

const runningKey = (instance: string, sourceId: string) => `${instance}\u0000${sourceId}`

function ignoreUnavailable (error: unknown): undefined {
  if (error instanceof StoreUnavailableError) return undefined
  throw error
}

/** deliver(): the right conversation, exactly once, in call order per contact. */
export class Deliverer {
  readonly #options: DelivererOptions
  readonly #queue = new KeyedQueue()
  // The recovery hook and the lookup learn which delivery a client call belongs to from its instance and source_id.
  readonly #running = new Map<string, Delivery>()

  constructor (options: DelivererOptions) {
    this.#options = options
  }

  async deliver (instance: string, input: DeliveryInput): Promise<DeliveryResult> {
    const { contact, message } = input ?? {}
    if (typeof contact !== 'object' || contact === null) throw new DeliveryInvalidError('contact must be an object')
    if (typeof message !== 'object' || message === null) throw new DeliveryInvalidError('message must be an object')
    const contactKey = this.#options.contactKey(contact)
    if (typeof contactKey !== 'string' || contactKey === '') {
      throw new DeliveryInvalidError('the contact has no key: give contact.identifier (or a contactKey option that reads another field)')
    }
    const outgoing: CreateMessageInput = { ...message, message_type: message.message_type ?? 'incoming', source_id: message.source_id ?? randomUUID() }
    // Queued before anything asynchronous, so the order of calls is the order of posts.
    return this.#queue.run(`${instance}\u0000${contactKey}`, async () => {
      this.#options.count('deliveries', instance)
      try {
        const settings = (await this.#options.instances.get(instance)).chatwoot
        const client = await this.#options.chatwoot.client(instance)
        const keys = conversationKeys(this.#options.keyPrefix, instance, settings.accountId, settings.inboxId, contactKey)
        return await this.#deliverInTurn(instance, client, keys, settings.inboxId, contact, outgoing)
      } catch (error) {
        this.#options.count('failures', instance)
        throw error
      }
    })
  }

  async evict (instance: string, contact: DeliveryContact): Promise<void> {
    const settings = (await this.#options.instances.get(instance)).chatwoot
    await this.#options.cache.forget(conversationKeys(this.#options.keyPrefix, instance, settings.accountId, settings.inboxId, this.#options.contactKey(contact)))
  }

  async #deliverInTurn (instance: string, client: ChatwootClient, keys: ConversationKeys, inboxId: number,
    contact: DeliveryContact, message: CreateMessageInput): Promise<DeliveryResult> {
    const { count } = this.#options
    let cache: 'hit' | 'miss' = 'hit'
    let current = await this.#options.cache.lookup(keys)
    if (current === undefined) {
      cache = 'miss'
      current = await this.#conversationFor(instance, client, keys, inboxId, contact)
    }
    count(cache === 'hit' ? 'hits' : 'misses', instance)
    const claimKey = keys.claim(message.source_id!)
    if (this.#options.idempotency === 'always') {
      const earlier = await this.#claim(claimKey, message, instance)
      if (earlier !== undefined) {
        // Delivered before: the claim kept the message id, not the message.
        const stored = { id: earlier, source_id: message.source_id, conversation_id: current.conversationId } as Message
        return { message: stored, conversationId: current.conversationId, contactId: current.contactId, cache, recovered: false, deduplicated: true }
      }
    }
    const delivery: Delivery = { instance, keys, client, inboxId, contact, current, recovered: false, deduplicated: false }
    const sourceKey = runningKey(instance, message.source_id!)
    this.#running.set(sourceKey, delivery)
    try {
      const posted = await client.createMessage(current.conversationId, message)
      if (delivery.recovered) this.#options.breaker.succeeded(instance)
      if (this.#options.idempotency === 'always') await this.#options.store.settle(claimKey, posted.id, this.#options.ttlMs).catch(ignoreUnavailable)
      return {
        message: posted,
        conversationId: delivery.current.conversationId,
        contactId: delivery.current.contactId,
        cache,
        recovered: delivery.recovered,
        deduplicated: delivery.deduplicated
      }
    } catch (error) {
      if (this.#options.idempotency === 'always') await this.#options.store.release(claimKey).catch(ignoreUnavailable)
      throw error
    } finally {
      if (this.#running.get(sourceKey) === delivery) this.#running.delete(sourceKey)
    }
  }

  /** Claims the source_id; the id of the message it was delivered as, when it was. */
  async #claim (claimKey: string, message: CreateMessageInput, instance: string): Promise<number | undefined> {
    const claim = await this.#options.store.claim(claimKey, this.#options.ttlMs).catch(ignoreUnavailable)
    // No store: go on unclaimed rather than lose the message; the check before a retry still guards.
    if (claim === undefined || claim.claimed) return undefined
    if (claim.messageId === undefined) throw new DeliveryInFlightError(message.source_id)
    this.#options.count('dedupes', instance)
    return claim.messageId
  }

  #conversationFor (instance: string, client: ChatwootClient, keys: ConversationKeys, inboxId: number, contact: DeliveryContact) {
    return this.#options.cache.resolve(keys, async () => {
      this.#options.count('creates', instance)
      return getOrCreateConversation(client, inboxId, contact, this.#options.policy)
    }).then(({ value }) => value)
  }

  /** The onError hook: a 404 for a cached conversation evicts it and re-posts once into a fresh one. */
  readonly recover: OnErrorHook = async (error: ChatwootError, context: ErrorContext) => {
    if (error.code !== 'FST_CHATWOOT_NOT_FOUND' || context.operation !== 'createMessage') return undefined
    const sourceId = (context as ErrorContext<'createMessage'>).params.message.source_id
    const delivery = context.instance === undefined || sourceId === undefined ? undefined : this.#running.get(runningKey(context.instance, sourceId))
    if (delivery === undefined) return undefined
    const { instance, keys, breaker } = { ...delivery, breaker: this.#options.breaker }
    if (delivery.recovered) {
      breaker.failed(instance)
      throw stillMissing(error, HINT)
    }
    if (breaker.isOpen(instance)) throw stillMissing(error, 'not evicting: recent recoveries for this instance kept failing')
    const stale = delivery.current
    await this.#options.cache.evict(keys, stale)
    let fresh: CachedConversation
    try {
      fresh = await this.#conversationFor(instance, delivery.client, keys, delivery.inboxId, delivery.contact)
    } catch (failure) {
      breaker.failed(instance)
      throw failure
    }
    if (fresh.conversationId === stale.conversationId) {
      // Chatwoot still lists what it says is gone (its delete job runs in the background), or the 404 has
      // another cause. Evicting it again would only repeat this; the breaker counts it instead.
      breaker.failed(instance)
      throw stillMissing(error, 'Chatwoot still lists this conversation for the contact')
    }
    delivery.current = fresh
    delivery.recovered = true
    this.#options.count('recoveries', instance)
    return { retry: { conversationId: fresh.conversationId } }
  }

  /** The client's check before re-sending a create that may have landed: the database when there is one. */
  readonly findMessage: FindMessage = async (lookup) => {
    const instance = lookup.client.instance
    let fromDatabase: Message | null | undefined
    try {
      fromDatabase = instance === undefined ? undefined : await this.#options.findInDatabase(instance, lookup.conversationId, lookup.sourceId)
    } catch (error) {
      // The instance's database is unreachable: the API can still answer the question.
      this.#options.onDatabaseError(error, instance!)
      fromDatabase = undefined
    }
    const found = fromDatabase === undefined ? await lookup.byApi() : fromDatabase
    if (found && instance !== undefined) {
      const delivery = this.#running.get(runningKey(instance, lookup.sourceId))
      if (delivery !== undefined) delivery.deduplicated = true
      this.#options.count('dedupes', instance)
    }
    return found
  }
}
