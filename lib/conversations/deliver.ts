import { randomUUID } from 'node:crypto'
import type { ChatwootClient } from '../client/client.js'
import type { ChatwootDecorator } from '../client/decorator.js'
import { ChatwootError } from '../client/errors.js'
import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import { DeliveryInvalidError } from '../errors.js'
import type { ChatwootInstances } from '../instances/plugin.js'
import type { ResolvedInstance } from '../instances/config.js'
import type { RecoveryBreaker } from './breaker.js'
import { Claimer } from './claimer.js'
import type { ChatwootIdentity } from './chatwoot-identity.js'
import type { ConversationCache } from './conversation-cache.js'
import { type CallParts, DeliveryCall } from './delivery-call.js'
import { type ConversationPolicy, type DeliveryContact, findContact, getOrCreateConversation, type IdentityPolicy } from './get-or-create.js'
import type { IdentityMap } from './identity-map.js'
import { type ConversationKeys, conversationKeys } from './keys.js'
import { repost } from './misroute.js'
import { KeyedQueue } from './ordering.js'
import { senderMatches, whoOf } from './sender-check.js'
import type { ConversationStore } from './store.js'
import type { ConversationEvent, DeliverOptions, DeliveryInput, DeliveryResult } from './types.js'
import { validateAliases, validateDelivery } from './validate-delivery.js'

export interface DelivererOptions {
  instances: ChatwootInstances
  chatwoot: ChatwootDecorator
  cache: ConversationCache
  store: ConversationStore
  identity: ChatwootIdentity
  keyPrefix: string
  ttlMs: number
  claimTtlMs: number
  contactKey: (contact: DeliveryContact) => string
  /** Canonical ids per person (docs/identity.md). */
  identities: IdentityMap
  aliases?: (instance: string, contact: DeliveryContact) => string[] | Promise<string[]>
  merge: boolean
  policy: ConversationPolicy
  idempotency: 'check' | 'always'
  breaker: RecoveryBreaker
  count: (event: ConversationEvent, instance: string) => void
  /** The message as stored in the instance's own Chatwoot database: null when not there, undefined when it has no database. */
  findInDatabase: (instance: ResolvedInstance, conversationId: number, sourceId: string) => Promise<Message | undefined | null>
  log: { warn (object: object, message: string): void, error (object: object, message: string): void }
}

/** deliver(): the right conversation, exactly once, in call order per contact. */
export class Deliverer {
  readonly #options: DelivererOptions
  readonly #queue = new KeyedQueue()
  // The person's turn, after its canonical id is known: two aliases delivered by one process go one after another.
  readonly #personQueue = new KeyedQueue()
  readonly #claimer: Claimer

  constructor (options: DelivererOptions) {
    this.#options = options
    this.#claimer = new Claimer(options.store, options.ttlMs, options.claimTtlMs)
  }

  deliver (instance: string, input: DeliveryInput, options: DeliverOptions = {}): Promise<DeliveryResult> {
    let contactKey: string
    try {
      // Everything is checked before anything is written: no contact, conversation or key for a message Chatwoot would refuse.
      validateDelivery(input)
      contactKey = this.#options.contactKey(input.contact)
      if (typeof contactKey !== 'string' || contactKey === '') {
        throw new DeliveryInvalidError('the contact has no key: give contact.identifier (or a contactKey option that reads another field)')
      }
    } catch (error) {
      return Promise.reject(error)
    }
    const { contact, message } = input
    // An outgoing message carrying a source_id is never sent to the channel (CONTRACT.md): only the caller's own is kept.
    const type = message.message_type ?? 'incoming'
    const outgoing: CreateMessageInput = { ...message, message_type: type, source_id: message.source_id ?? (type === 'outgoing' ? undefined : randomUUID()) }
    // Queued before anything asynchronous, so the order of calls is the order of posts.
    return this.#queue.run(`${instance}\u0000${contactKey}`, async () => {
      this.#options.count('deliveries', instance)
      try {
        const settings = await this.#options.instances.get(instance)
        const client = this.#options.chatwoot.clientFor(settings)
        const identity = await this.#identity(instance, contactKey, contact)
        return await this.#personQueue.run(`${instance}\u0000${identity.canonical}`, async () => {
          const keys = await this.#keysFor(settings, client, identity.canonical)
          // A late mapping not yet converged: the cached conversation may be one of the old ones, so the person's
          // conversation is found afresh, under the lock, among all its contacts (docs/identity.md).
          if (identity.converging) await this.#options.cache.forget(keys)
          const result = await this.#deliverInTurn(settings, client, keys, contact, outgoing, options, identity.policy)
          if (identity.converging) await this.#options.identities.settle(instance, identity.canonical)
          return result
        })
      } catch (error) {
        this.#options.count('failures', instance)
        throw error
      }
    })
  }

  /**
   * The person `contact` is (its canonical id), linking its aliases as a delivery would: the key a caller orders
   * a person's deliveries by (the outbox's lane), the same for every id of one person once they are linked.
   */
  async person (instance: string, contact: DeliveryContact): Promise<string> {
    const contactKey = this.#options.contactKey(contact)
    if (typeof contactKey !== 'string' || contactKey === '') throw new DeliveryInvalidError('the contact has no key: give contact.identifier')
    validateAliases('contact.aliases', contact.aliases)
    return (await this.#identity(instance, contactKey, contact)).canonical
  }

  async evict (instance: string, contact: DeliveryContact, conversationId?: number): Promise<void> {
    const settings = await this.#options.instances.get(instance)
    const { canonical } = await this.#identity(instance, this.#options.contactKey(contact), contact)
    const keys = await this.#keysFor(settings, this.#options.chatwoot.clientFor(settings), canonical)
    await this.#options.cache.forget(keys, conversationId)
  }

  /** The person behind the delivery: its canonical id, the groups this delivery joined, and how to find it in Chatwoot. */
  async #identity (instance: string, contactKey: string, contact: DeliveryContact) {
    const { aliases, identities, merge } = this.#options
    const known = aliases === undefined ? undefined : await aliases(instance, contact)
    if (known !== undefined) validateAliases('the aliases option\'s answer', known)
    const ids = contact.aliases === undefined && known === undefined ? [contactKey] : [...new Set([contactKey, ...(contact.aliases ?? []), ...(known ?? [])])]
    const link = await identities.link(instance, ids)
    // The canonical id is one of the person's ids: searched too, so a delivery under one alias alone still finds them all.
    const policy: IdentityPolicy | undefined = ids.length > 1 || link.canonical !== contactKey
      ? { ids: [...new Set([...ids, link.canonical])], merge, backfilled: (outcome, found, error) => this.#backfilled(instance, outcome, found, error) }
      : undefined
    return { ...link, policy }
  }

  #backfilled (instance: string, outcome: 'updated' | 'refused', contact: { id: number }, error?: unknown): void {
    this.#options.count(outcome === 'updated' ? 'backfills' : 'backfillsRefused', instance)
    // The contact id and Chatwoot's answer only: the phone number and ids are the customer's, not the log's.
    if (outcome === 'refused') this.#options.log.warn({ err: error, instance, contactId: contact.id }, 'giving the contact its phone number or aliases was refused; the delivery goes on')
  }

  async #keysFor (settings: ResolvedInstance, client: ChatwootClient, contactKey: string): Promise<ConversationKeys> {
    const { accountId, inboxId } = settings.chatwoot
    const database = await this.#options.identity.of(settings.chatwoot, client)
    return conversationKeys(this.#options.keyPrefix, settings.name, accountId, inboxId, contactKey, database)
  }

  async #deliverInTurn (settings: ResolvedInstance, client: ChatwootClient, keys: ConversationKeys,
    contact: DeliveryContact, message: CreateMessageInput, options: DeliverOptions, identity?: IdentityPolicy): Promise<DeliveryResult> {
    const { count, cache } = this.#options
    const instance = settings.name
    const parts: CallParts = {
      instance,
      keys,
      client,
      contact,
      cache,
      breaker: this.#options.breaker,
      count,
      options,
      conversationFor: () => cache.resolve(keys, async () => {
        count('creates', instance)
        return getOrCreateConversation(client, settings.chatwoot.inboxId, contact, this.#options.policy, identity)
      }).then(({ value }) => value),
      findInDatabase: (conversationId, sourceId) => this.#findInDatabase(settings, conversationId, sourceId),
      checkSender: (call, answer) => this.#checkSender(call, answer)
    }
    let hit: 'hit' | 'miss' = 'hit'
    let current = await cache.lookup(keys)
    if (current === undefined) {
      hit = 'miss'
      current = await parts.conversationFor()
    }
    count(hit === 'hit' ? 'hits' : 'misses', instance)
    const call = new DeliveryCall(parts, current)
    // Undefined only for an outgoing message without the caller's own: nothing to claim or look for.
    const sourceId = message.source_id
    const claim = this.#options.idempotency === 'always' && sourceId !== undefined ? await this.#claimer.claim(keys.claim(sourceId), sourceId) : undefined
    if (claim?.settled !== undefined) {
      count('dedupes', instance)
      // Delivered before: the claim kept the message id, not the message.
      const stored = { id: claim.settled, source_id: sourceId, conversation_id: current.conversationId } as Message
      call.deduplicated = true
      return call.result(stored, hit)
    }
    try {
      // A worker that died mid-post (the caller's say, or a claim taken over) may have stored it already.
      const landedIn = options.landedIn ?? (claim?.takenOver === true ? current.conversationId : undefined)
      const earlier = landedIn === undefined || sourceId === undefined ? undefined : await call.landedEarlier(landedIn, sourceId)
      let posted: Message
      if (earlier !== undefined) {
        call.deduplicated = true
        count('dedupes', instance)
        posted = earlier
      } else {
        posted = await call.post(message)
        if (!senderMatches(call.current, posted) && await parts.checkSender(call, posted) === 'misrouted') {
          posted = await repost(call, posted, message, this.#options.log)
        }
      }
      if (call.recovered) this.#options.breaker.succeeded(instance)
      await claim?.settle(posted.id)
      return call.result(posted, hit)
    } catch (error) {
      // A post that may have landed keeps its claim until it expires: the next delivery then takes it
      // over and looks in Chatwoot first. One that surely did not land frees the source_id at once.
      if (!(error instanceof ChatwootError && error.mayHaveLanded)) await claim?.release()
      throw error
    } finally {
      claim?.stop()
    }
  }

  /** A sender that is not the cached contact: a merge or a re-pointed conversation of the same person, or a misroute. */
  async #checkSender (call: DeliveryCall, answer: Message): Promise<'same' | 'misrouted'> {
    const { client, contact, cache, keys } = call.parts
    // Look again before judging: who owns that conversation now, and who is our contact now.
    const [conversation, person] = await Promise.all([client.getConversation(call.current.conversationId), findContact(client, contact)])
    const owner = conversation.meta?.sender
    if (person !== undefined && owner?.id === person.id && (answer.sender as { id?: unknown } | undefined)?.id === person.id) {
      // The same person under a new id (merged, or the conversation moved): keep the message, cache afresh,
      // and answer the contact as it is now (the result named the merged-away contact's id before).
      await cache.evict(keys, call.current)
      call.current = { conversationId: call.current.conversationId, contactId: person.id, who: whoOf(person) }
      return 'same'
    }
    return 'misrouted'
  }

  async #findInDatabase (settings: ResolvedInstance, conversationId: number, sourceId: string): Promise<Message | null | undefined> {
    try {
      return await this.#options.findInDatabase(settings, conversationId, sourceId)
    } catch (error) {
      // The instance's database is unreachable: the API can still answer the question.
      this.#options.log.warn({ err: error, instance: settings.name }, 'checking for a stored message in the instance database failed; asking the API instead')
      return undefined
    }
  }
}
