import { randomUUID } from 'node:crypto'
import { channel } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Dispatcher, Pool } from 'undici'
import { OptionsInvalidError } from '../errors.js'
import { fromStatus, fromTransport, inputInvalid } from './classify.js'
import { ChatwootError } from './errors.js'
import { findRecent } from './find-recent.js'
import { multipartBody } from './multipart.js'
import {
  type CreateMessageInput, type OperationAnswers, type OperationName, type OperationParams, OPERATIONS, type RequestSpec
} from './operations.js'
import { backoff, parseRetryAfter, type RetryOptions, type RetryPolicy, retryPolicy, shouldRetry } from './retry-policy.js'
import type { ContactFilter, ConversationStatus, CreateContactInput, CreateConversationInput, ListConversationsQuery, Message } from './types.js'

/** Every HTTP attempt is published here: `{ instance, operation, method, path, statusCode, durationMs, attempt, error }`. */
export const CLIENT_CHANNEL = 'fastify-chatwoot:client'
const calls = channel(CLIENT_CHANNEL)

export interface ClientCallEvent {
  instance: string | undefined
  operation: OperationName
  method: string
  path: string
  /** Chatwoot's status; undefined when no answer came. */
  statusCode: number | undefined
  durationMs: number
  attempt: number
  /** The error code of a failed attempt. */
  error: string | undefined
}

export interface ClientLogger {
  debug (object: object, message: string): void
}

/**
 * Looks for a message already stored with that source_id: the guard before re-sending a create that may
 * have landed. A message: it is stored (not sent again). null: it is certainly not stored. undefined: this
 * lookup cannot tell, and the next one in line answers (the call's own, the client's, then the API).
 */
export type FindMessage = (lookup: {
  client: ChatwootClient
  conversationId: number
  sourceId: string
  /** When the first attempt was sent (ms since the epoch): the message, if stored, is not older. */
  sentAt: number
  /** The default lookup through the API, for a guard that can only sometimes do better. */
  byApi: () => Promise<Message | undefined>
}) => Promise<Message | null | undefined>

/** What one call brings of its own: it runs before the client's hooks and lookup, and only for this call. */
export interface CallHooks {
  /** Runs first when this call fails for good; may answer `{ retry }` once, like a client-level onError hook. */
  onError?: OnErrorHook
  /** Runs first when a create that may have landed is checked; undefined falls through to the client's findMessage, then the API. */
  findExisting?: FindMessage
  /** Told when a check found the message already stored, so it was not sent again. */
  onFound?: (message: Message) => void
}

export interface ErrorContext<K extends OperationName = OperationName> {
  operation: K
  params: OperationParams[K]
  /** HTTP attempts made so far by this call, retries and hook retries included. */
  attempt: number
  instance: string | undefined
  client: ChatwootClient
}

/** Re-issues the failed operation once with these parameters changed (e.g. another `conversationId`). */
export interface RetryDirective<K extends OperationName = OperationName> {
  retry: Partial<OperationParams[K]>
}

export type OnErrorHook = (error: ChatwootError, context: ErrorContext) =>
Promise<RetryDirective | undefined | void> | RetryDirective | undefined | void

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
  timeout?: number
  retry?: RetryOptions
  findMessage?: FindMessage
  logger?: ClientLogger
}

const DEFAULT_TIMEOUT = 5000
const silent: ClientLogger = { debug () {} }

// A retry-after a failure may carry, kept off the public error.
const retryAfter = new WeakMap<ChatwootError, number>()

function queryString (query: RequestSpec['query']): string {
  if (query === undefined) return ''
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function parseBody (text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return undefined
  if (String(contentType ?? '').includes('json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}

interface CallState { attempts: number, hooks: CallHooks | undefined }

/** One Chatwoot account through one token: typed operations, coded errors, bounded retries and onError hooks. */
export class ChatwootClient {
  readonly instance: string | undefined
  readonly accountId: number
  readonly origin: string
  readonly #accountPath: string
  readonly #token: string
  readonly #dispatcher: Dispatcher
  readonly #ownsDispatcher: boolean
  readonly #timeout: number
  readonly #policy: RetryPolicy
  readonly #findMessage: FindMessage | undefined
  readonly #logger: ClientLogger
  readonly #hooks: OnErrorHook[] = []

  constructor (options: ChatwootClientOptions) {
    const { url, accountId, token, instance, dispatcher, timeout = DEFAULT_TIMEOUT, retry, findMessage, logger = silent } = options ?? {}
    const invalid = (name: string, problem: string) => new OptionsInvalidError('ChatwootClient', `option "${name}" ${problem}`)
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw invalid('url', 'must be an absolute http(s) URL')
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalid('url', 'must be an http(s) URL')
    if (!Number.isSafeInteger(accountId) || accountId <= 0) throw invalid('accountId', `must be a positive integer, got ${String(accountId)}`)
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) throw invalid('token', 'must be a non-empty string on one line')
    if (!Number.isFinite(timeout) || timeout <= 0) throw invalid('timeout', `must be a number of milliseconds > 0, got ${String(timeout)}`)
    if (findMessage !== undefined && typeof findMessage !== 'function') throw invalid('findMessage', 'must be a function')
    this.instance = instance
    this.accountId = accountId
    this.origin = parsed.origin
    this.#accountPath = `${parsed.pathname.replace(/\/+$/, '')}/api/v1/accounts/${accountId}`
    this.#token = token
    this.#ownsDispatcher = dispatcher === undefined
    this.#dispatcher = dispatcher ?? new Pool(parsed.origin, { connections: 16 })
    this.#timeout = timeout
    this.#policy = retryPolicy(retry, 'ChatwootClient')
    this.#findMessage = findMessage
    this.#logger = logger
  }

  /** Runs `hook` when a call fails for good (the retry policy gave up or did not apply), in registration order. */
  addHook (name: 'onError', hook: OnErrorHook): this {
    if (name !== 'onError') throw new OptionsInvalidError('ChatwootClient.addHook', `unknown hook "${String(name)}" (only "onError")`)
    if (typeof hook !== 'function') throw new OptionsInvalidError('ChatwootClient.addHook', `hook must be a function, got ${typeof hook}`)
    this.#hooks.push(hook)
    return this
  }

  searchContacts (q: string, { page }: { page?: number } = {}) { return this.#call('searchContacts', { q, page }) }
  filterContacts (filters: ContactFilter[], { page }: { page?: number } = {}) { return this.#call('filterContacts', { filters, page }) }
  createContact (input: CreateContactInput) { return this.#call('createContact', { input }) }
  contactConversations (contactId: number) { return this.#call('contactConversations', { contactId }) }
  createContactInbox (contactId: number, { inbox_id: inboxId, source_id: sourceId }: { inbox_id: number, source_id?: string }) {
    return this.#call('createContactInbox', { contactId, inboxId, sourceId })
  }

  createConversation (input: CreateConversationInput) { return this.#call('createConversation', { input }) }
  getConversation (displayId: number) { return this.#call('getConversation', { conversationId: displayId }) }
  listConversations (query: ListConversationsQuery = {}) { return this.#call('listConversations', { query }) }
  toggleConversationStatus (displayId: number, { status }: { status?: ConversationStatus } = {}) {
    return this.#call('toggleConversationStatus', { conversationId: displayId, status })
  }

  /**
   * Posts a message; a retry after an answer that may have been lost first looks for it by source_id, so it
   * lands once. `hooks` are this call's own recovery and lookup (the conversations plugin's, per delivery).
   */
  createMessage (displayId: number, input: CreateMessageInput, hooks?: CallHooks) {
    const message = typeof input === 'object' && input !== null && input.source_id === undefined ? { ...input, source_id: randomUUID() } : input
    return this.#call('createMessage', { conversationId: displayId, message }, hooks)
  }

  /**
   * The message stored with `sourceId` in the conversation since `sentAt` (ms since the epoch; 0 for any
   * time), asked of the same lookups as the check before a re-send: the client's findMessage, then the API.
   */
  async findMessage (displayId: number, sourceId: string, sentAt = 0): Promise<Message | undefined> {
    return (await this.#lookForMessage({ conversationId: displayId, message: { source_id: sourceId } }, sentAt)) ?? undefined
  }

  listMessages (displayId: number, { before, after }: { before?: number, after?: number } = {}) {
    return this.#call('listMessages', { conversationId: displayId, before, after })
  }

  listInboxes () { return this.#call('listInboxes', {}) }

  /** Chatwoot's soft delete: the row and its source_id stay, the content is replaced and attachments removed. */
  deleteMessage (displayId: number, messageId: number) { return this.#call('deleteMessage', { conversationId: displayId, messageId }) }

  /** Closes the dispatcher if the client made it; a shared one belongs to whoever shared it. */
  async close (): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close()
  }

  async #call<K extends OperationName> (operation: K, params: OperationParams[K], hooks?: CallHooks): Promise<OperationAnswers[K]> {
    const state: CallState = { attempts: 0, hooks }
    // Each hook may redirect a call once: recovery is bounded even when a hook always asks again.
    const redirectedBy = new Set<OnErrorHook>()
    let current = params
    for (;;) {
      try {
        return await this.#withPolicy(operation, current, state)
      } catch (error) {
        if (!(error instanceof ChatwootError)) throw error
        const context = { operation, params: current, attempt: state.attempts, instance: this.instance, client: this }
        const directive = await this.#onError(error, context, redirectedBy, hooks?.onError)
        if (directive === undefined) throw error
        current = { ...current, ...directive.retry }
        this.#logger.debug({ instance: this.instance, operation, attempt: state.attempts, code: error.code }, 'chatwoot call retried by an onError hook')
      }
    }
  }

  async #onError<K extends OperationName> (error: ChatwootError, context: ErrorContext<K>, redirectedBy: Set<OnErrorHook>, own?: OnErrorHook) {
    for (const hook of own === undefined ? this.#hooks : [own, ...this.#hooks]) {
      let answer: RetryDirective | undefined | void
      try {
        answer = await hook(error, context as unknown as ErrorContext)
      } catch (hookError) {
        if (hookError instanceof Error && hookError.cause === undefined) hookError.cause = error
        throw hookError
      }
      if (answer === undefined || answer === null || typeof answer.retry !== 'object' || answer.retry === null) continue
      if (redirectedBy.has(hook)) {
        this.#logger.debug({ instance: this.instance, operation: context.operation, code: error.code }, 'chatwoot onError hook retry refused: it already retried this call')
        continue
      }
      redirectedBy.add(hook)
      return answer as RetryDirective<K>
    }
    return undefined
  }

  async #withPolicy<K extends OperationName> (operation: K, params: OperationParams[K], state: CallState): Promise<OperationAnswers[K]> {
    const definition = OPERATIONS[operation]
    const problem = definition.check?.(params)
    if (problem !== undefined) {
      const request = definition.request(params)
      throw inputInvalid({ operation, method: request.method, path: this.#accountPath + request.path }, problem)
    }
    const safety = typeof definition.safety === 'function' ? definition.safety(params) : definition.safety
    // A failure after which the message may be stored: before sending again, look for it.
    let uncertain: ChatwootError | undefined
    let sentAt = 0
    for (let retry = 0; ; retry++) {
      let failure: ChatwootError
      try {
        if (uncertain !== undefined) {
          const found = await this.#lookForMessage(params as OperationParams['createMessage'], sentAt, state.hooks?.findExisting)
          if (found) {
            state.hooks?.onFound?.(found)
            this.#logger.debug({ instance: this.instance, operation, attempt: state.attempts }, 'chatwoot message found stored after a lost answer: not sent again')
            return found as OperationAnswers[K]
          }
        }
        state.attempts++
        if (sentAt === 0) sentAt = Date.now()
        return await this.#send(operation, params, state.attempts) as OperationAnswers[K]
      } catch (error) {
        if (!(error instanceof ChatwootError)) throw error
        failure = error
      }
      const lookupFailed = uncertain !== undefined && failure.operation !== operation
      if (!shouldRetry(failure, safety, retry, this.#policy)) {
        // Out of retries while unable to check: the create's own failure says more than the lookup's.
        throw lookupFailed && failure.retryable ? uncertain! : failure
      }
      if (safety === 'guarded' && !lookupFailed && failure.mayHaveLanded) uncertain = failure
      const wait = backoff(retry, this.#policy, retryAfter.get(failure))
      this.#logger.debug({
        instance: this.instance, operation, attempt: state.attempts, code: failure.code, statusCode: failure.statusCode, waitMs: Math.round(wait)
      }, 'chatwoot call failed, retrying')
      await sleep(wait)
    }
  }

  /** The call's own lookup, then the client's, then the API: the first that can tell answers. */
  async #lookForMessage ({ conversationId, message }: OperationParams['createMessage'], sentAt: number, own?: FindMessage): Promise<Message | null | undefined> {
    const sourceId = message.source_id!
    const lookup = { client: this, conversationId, sourceId, sentAt, byApi: () => findRecent(this.#pageOfMessages, conversationId, sourceId, sentAt) }
    for (const find of [own, this.#findMessage]) {
      if (find === undefined) continue
      const found = await find(lookup)
      if (found !== undefined) return found
    }
    return lookup.byApi()
  }

  // One attempt per page, no policy of its own: the create's loop decides about retrying.
  readonly #pageOfMessages = (conversationId: number, page: { before?: number, after?: number }) =>
    this.#send('listMessages', { conversationId, ...page }, 0).then(({ payload }) => payload)

  async #send<K extends OperationName> (operation: K, params: OperationParams[K], attempt: number): Promise<OperationAnswers[K]> {
    const spec = OPERATIONS[operation].request(params)
    const path = this.#accountPath + spec.path
    const call = { operation, method: spec.method, path }
    const headers: Record<string, string> = { api_access_token: this.#token, accept: 'application/json' }
    let body: Dispatcher.DispatchOptions['body']
    if (spec.multipart !== undefined) {
      // Built again for every attempt: a stream consumed by a failed attempt is never re-sent.
      const multipart = multipartBody(spec.multipart.fields, spec.multipart.files)
      headers['content-type'] = multipart.contentType
      body = multipart.body
    } else if (spec.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(spec.json)
    }
    const started = performance.now()
    let statusCode: number | undefined
    let failure: ChatwootError | undefined
    // A deadline of our own for the whole attempt: undici's headers and body timeouts run on
    // coarse timers that can fire a second late.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(), this.#timeout)
    try {
      const response = await this.#dispatcher.request({
        origin: this.origin,
        method: spec.method,
        path: path + queryString(spec.query),
        headers,
        body,
        signal: deadline.signal
      })
      statusCode = response.statusCode
      const text = await response.body.text()
      const parsed = parseBody(text, response.headers['content-type'])
      if (statusCode >= 200 && statusCode < 300) return parsed as OperationAnswers[K]
      failure = fromStatus(call, statusCode, parsed)
      const after = parseRetryAfter(response.headers['retry-after'])
      if (after !== undefined) retryAfter.set(failure, after)
      throw failure
    } catch (error) {
      failure = error instanceof ChatwootError ? error : fromTransport(call, error, deadline.signal.aborted)
      throw failure
    } finally {
      clearTimeout(timer)
      if (calls.hasSubscribers) {
        calls.publish({
          instance: this.instance, operation, method: spec.method, path, statusCode, durationMs: performance.now() - started, attempt, error: failure?.code
        } satisfies ClientCallEvent)
      }
    }
  }
}
