import { randomUUID } from 'node:crypto'
import { type Dispatcher, Pool } from 'undici'
import { OptionsInvalidError } from '../errors.js'
import {
  apiToken, durationMs, httpUrl, optionalFunction, optionsInvalid, positiveInteger, RENAMED_RETRY_OPTIONS, type RetryOptions, retryPolicy,
  withRenamedOptions
} from '../options.js'
import { CallLoop } from './call-loop.js'
import { Deadlines } from './deadlines.js'
import type { CallHooks, ClientLogger, FindMessage, OnErrorHook } from './hooks.js'
import type { CreateMessageInput } from './operations.js'
import type {
  ContactFilter, ConversationStatus, CreateContactInput, CreateConversationInput, ListConversationsQuery, Message, UpdateContactInput, UpdateMessageStatusInput
} from './types.js'

// The class: its options checked, and one method per operation. The rooms behind it: call-loop.ts
// (retries, the check before a re-send, onError hooks: policy), transport.ts (one attempt: mechanism),
// hooks.ts (the hook types and chain), deadlines.ts (one timer for every attempt's deadline).

export { CLIENT_CHANNEL } from './transport.js'
export type { ClientCallEvent } from './transport.js'
export type { CallHooks, ClientLogger, ErrorContext, FindMessage, OnErrorHook, RetryDirective } from './hooks.js'

export interface ChatwootClientOptions {
  /** Chatwoot's base URL; a path (Chatwoot behind a prefix) is kept. */
  url: string
  accountId: number
  token: string
  /** Named in logs and diagnostics. */
  instance?: string
  /** A shared undici dispatcher for the origin; without one the client makes its own and closes it in `close()`. */
  dispatcher?: Dispatcher
  /** Milliseconds one attempt may take, from sending to the end of the answer. Default 5000. */
  timeoutMs?: number
  /** @deprecated use timeoutMs (read as it until 1.0). */
  timeout?: number
  retry?: RetryOptions
  findMessage?: FindMessage
  logger?: ClientLogger
}

const DEFAULT_TIMEOUT_MS = 5000
// Chatwoot takes an OUTGOING message with a source_id for one that came from the channel and never sends it
// there (WhatsApp, SMS, Email...): only the other types, named explicitly, may be given one to look for.
const NOT_OUTGOING = new Set<unknown>(['incoming', 'activity', 'template'])
const silent: ClientLogger = { debug () {} }

/** One Chatwoot account through one token: typed operations, coded errors, bounded retries and onError hooks. */
export class ChatwootClient {
  readonly instance: string | undefined
  readonly accountId: number
  readonly origin: string
  /** Milliseconds one attempt may take: a caller that must outlast an attempt (the outbox's lease) reads it here. */
  readonly timeoutMs: number
  readonly #dispatcher: Dispatcher
  readonly #ownsDispatcher: boolean
  readonly #hooks: OnErrorHook[] = []
  readonly #loop: CallLoop

  constructor (options: ChatwootClientOptions) {
    const {
      url, accountId, token, instance, dispatcher, timeoutMs = DEFAULT_TIMEOUT_MS, retry, findMessage, logger = silent
    } = withRenamedOptions(options, { timeout: 'timeoutMs' }, 'ChatwootClient')
    const invalid = optionsInvalid('ChatwootClient')
    const parsed = httpUrl(url, 'url', invalid)
    positiveInteger(accountId, 'accountId', invalid)
    apiToken(token, 'token', invalid)
    durationMs(timeoutMs, 'timeoutMs', invalid)
    optionalFunction(findMessage, 'findMessage', invalid)
    this.instance = instance
    this.accountId = accountId
    this.origin = parsed.origin
    this.timeoutMs = timeoutMs
    this.#ownsDispatcher = dispatcher === undefined
    this.#dispatcher = dispatcher ?? new Pool(parsed.origin, { connections: 16 })
    this.#loop = new CallLoop({
      client: this,
      instance,
      accountPath: `${parsed.pathname.replace(/\/+$/, '')}/api/v1/accounts/${accountId}`,
      transport: { origin: parsed.origin, dispatcher: this.#dispatcher, token, instance, deadlines: new Deadlines(timeoutMs) },
      policy: retryPolicy(retry === undefined ? undefined : withRenamedOptions(retry, RENAMED_RETRY_OPTIONS, 'ChatwootClient retry'), 'ChatwootClient'),
      findMessage,
      logger,
      hooks: this.#hooks
    })
  }

  /** Runs `hook` when a call fails for good (the retry policy gave up or did not apply), in registration order. */
  addHook (name: 'onError', hook: OnErrorHook): this {
    if (name !== 'onError') throw new OptionsInvalidError('ChatwootClient.addHook', `unknown hook "${String(name)}" (only "onError")`)
    if (typeof hook !== 'function') throw new OptionsInvalidError('ChatwootClient.addHook', `hook must be a function, got ${typeof hook}`)
    this.#hooks.push(hook)
    return this
  }

  searchContacts (q: string, { page }: { page?: number } = {}) { return this.#loop.call('searchContacts', { q, page }) }
  filterContacts (filters: ContactFilter[], { page }: { page?: number } = {}) { return this.#loop.call('filterContacts', { filters, page }) }
  createContact (input: CreateContactInput) { return this.#loop.call('createContact', { input }) }
  /** Changes only the fields given; the attribute hashes are merged key by key. A phone, email or identifier another contact holds: 422. */
  updateContact (contactId: number, patch: UpdateContactInput) { return this.#loop.call('updateContact', { contactId, patch }) }
  contactConversations (contactId: number) { return this.#loop.call('contactConversations', { contactId }) }
  createContactInbox (contactId: number, { inbox_id: inboxId, source_id: sourceId }: { inbox_id: number, source_id?: string }) {
    return this.#loop.call('createContactInbox', { contactId, inboxId, sourceId })
  }

  createConversation (input: CreateConversationInput) { return this.#loop.call('createConversation', { input }) }
  getConversation (displayId: number) { return this.#loop.call('getConversation', { conversationId: displayId }) }
  listConversations (query: ListConversationsQuery = {}) { return this.#loop.call('listConversations', { query }) }
  /** `snoozed_until` (unix seconds) with status 'snoozed'; the answer gives it back as an ISO datetime. */
  toggleConversationStatus (displayId: number, { status, snoozed_until: snoozedUntil }: { status?: ConversationStatus, snoozed_until?: number } = {}) {
    return this.#loop.call('toggleConversationStatus', { conversationId: displayId, status, snoozedUntil })
  }

  /**
   * Posts a message; a retry after an answer that may have been lost first looks for it by source_id, so it
   * lands once. An incoming, activity or template message without one is given one; an outgoing one (also
   * Chatwoot's default type) never is, so it is retried only after failures that surely did not land.
   * `hooks` are this call's own recovery and lookup (the conversations plugin's, per delivery).
   */
  createMessage (displayId: number, input: CreateMessageInput, hooks?: CallHooks) {
    const generate = typeof input === 'object' && input !== null && input.source_id === undefined && NOT_OUTGOING.has(input.message_type)
    const message = generate ? { ...input, source_id: randomUUID() } : input
    return this.#loop.call('createMessage', { conversationId: displayId, message }, hooks)
  }

  /**
   * The message stored with `sourceId` in the conversation since `sentAt` (ms since the epoch; 0 for any
   * time), asked of the same lookups as the check before a re-send: the client's findMessage, then the API.
   */
  async findMessage (displayId: number, sourceId: string, sentAt = 0): Promise<Message | undefined> {
    return (await this.#loop.lookForMessage({ conversationId: displayId, message: { source_id: sourceId } }, sentAt)) ?? undefined
  }

  listMessages (displayId: number, { before, after }: { before?: number, after?: number } = {}) {
    return this.#loop.call('listMessages', { conversationId: displayId, before, after })
  }

  listInboxes () { return this.#loop.call('listInboxes', {}) }

  /** Chatwoot's soft delete: the row and its source_id stay, the content is replaced and attachments removed. */
  deleteMessage (displayId: number, messageId: number) { return this.#loop.call('deleteMessage', { conversationId: displayId, messageId }) }

  /** A delivery receipt (sent, delivered, read, failed with `external_error`): API inboxes only, else FST_CHATWOOT_UNAUTHORIZED (403). */
  updateMessageStatus (displayId: number, messageId: number, update: UpdateMessageStatusInput): Promise<void> {
    return this.#loop.call('updateMessageStatus', { conversationId: displayId, messageId, update })
  }

  /**
   * Chatwoot's contact merge: the mergee's conversations and contact_inboxes move to the base, the mergee
   * is deleted (no webhook tells anyone; a cached id of it then 404s). Answers the base contact.
   */
  mergeContacts (baseContactId: number, mergeeContactId: number) {
    return this.#loop.call('mergeContacts', { baseContactId, mergeeContactId })
  }

  /** Closes the dispatcher if the client made it; a shared one belongs to whoever shared it. */
  async close (): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close()
  }
}
