import { setTimeout as sleep } from 'node:timers/promises'
import { fromStatus, hopeless, inputInvalid } from './classify.js'
import type { ChatwootClient } from './client.js'
import { ChatwootError } from './errors.js'
import { findRecent, type MessagePage } from './find-recent.js'
import { askOnError, type CallHooks, type ClientLogger, type FindMessage, type OnErrorHook } from './hooks.js'
import { type OperationAnswers, type OperationName, type OperationParams, OPERATIONS } from './operations.js'
import { backoff, parseRetryAfter, type RetryPolicy, shouldRetry } from './retry-policy.js'
import { send, type TransportOptions } from './transport.js'
import type { Message } from './types.js'

// Carries out the policy: attempts through the transport, retries as retry-policy.ts decides, the
// check before re-sending a create that may have landed, and the onError hooks once retries are over.

export interface CallLoopOptions {
  client: ChatwootClient
  instance: string | undefined
  /** `/api/v1/accounts/{id}` under the URL's own path. */
  accountPath: string
  transport: TransportOptions
  policy: RetryPolicy
  findMessage: FindMessage | undefined
  logger: ClientLogger
  /** The client's onError hooks, in registration order; read live, so a hook added later is asked too. */
  hooks: readonly OnErrorHook[]
}

interface CallState { attempts: number, hooks: CallHooks | undefined }

export class CallLoop {
  readonly #options: CallLoopOptions

  constructor (options: CallLoopOptions) {
    this.#options = options
  }

  async call<K extends OperationName> (operation: K, params: OperationParams[K], hooks?: CallHooks): Promise<OperationAnswers[K]> {
    const { client, instance, logger } = this.#options
    const state: CallState = { attempts: 0, hooks }
    // Each hook may redirect a call once: made on the first failure only, the common call allocates nothing.
    let redirectedBy: Set<OnErrorHook> | undefined
    let current = params
    for (;;) {
      try {
        return await this.#withPolicy(operation, current, state)
      } catch (error) {
        if (!(error instanceof ChatwootError)) throw error
        redirectedBy ??= new Set()
        const context = { operation, params: current, attempt: state.attempts, instance, client }
        const directive = await askOnError(error, context, this.#options.hooks, redirectedBy, logger, hooks?.onError)
        if (directive === undefined) throw error
        current = { ...current, ...directive.retry }
        logger.debug({ instance, operation, attempt: state.attempts, code: error.code }, 'chatwoot call retried by an onError hook')
      }
    }
  }

  /** The call's own lookup, then the client's, then the API: the first that can tell answers. */
  async lookForMessage ({ conversationId, message }: OperationParams['createMessage'], sentAt: number, own?: FindMessage): Promise<Message | null | undefined> {
    const sourceId = message.source_id!
    const lookup = {
      client: this.#options.client, conversationId, sourceId, sentAt, byApi: () => findRecent(this.#pageOfMessages, conversationId, sourceId, sentAt)
    }
    for (const find of [own, this.#options.findMessage]) {
      if (find === undefined) continue
      const found = await find(lookup)
      if (found !== undefined) return found
    }
    return lookup.byApi()
  }

  async #withPolicy<K extends OperationName> (operation: K, params: OperationParams[K], state: CallState): Promise<OperationAnswers[K]> {
    const { instance, logger, policy } = this.#options
    const definition = OPERATIONS[operation]
    const problem = definition.check?.(params)
    if (problem !== undefined) {
      const request = definition.request(params)
      throw inputInvalid({ operation, method: request.method, path: this.#options.accountPath + request.path }, problem)
    }
    const safety = typeof definition.safety === 'function' ? definition.safety(params) : definition.safety
    // A failure after which the message may be stored: before sending again, look for it.
    let uncertain: ChatwootError | undefined
    let sentAt = 0
    for (let retry = 0; ; retry++) {
      let failure: ChatwootError
      try {
        if (uncertain !== undefined) {
          const found = await this.lookForMessage(params as OperationParams['createMessage'], sentAt, state.hooks?.findExisting)
          if (found) {
            state.hooks?.onFound?.(found)
            logger.debug({ instance, operation, attempt: state.attempts }, 'chatwoot message found stored after a lost answer: not sent again')
            return found as OperationAnswers[K]
          }
        }
        state.attempts++
        if (sentAt === 0) sentAt = Date.now()
        return await this.#sendOnce(operation, params, state.attempts)
      } catch (error) {
        if (!(error instanceof ChatwootError)) throw error
        failure = error
      }
      const hint = failure.operation === operation ? definition.hopeless?.(failure, params) : undefined
      if (hint !== undefined) throw hopeless(failure, hint)
      const lookupFailed = uncertain !== undefined && failure.operation !== operation
      if (!shouldRetry(failure, safety, retry, policy)) {
        // Out of retries while unable to check: the create's own failure says more than the lookup's.
        throw lookupFailed && failure.retryable ? uncertain! : failure
      }
      if (safety === 'guarded' && !lookupFailed && failure.mayHaveLanded) uncertain = failure
      const wait = backoff(retry, policy, failure.retryAfterMs)
      logger.debug({
        instance, operation, attempt: state.attempts, code: failure.code, statusCode: failure.statusCode, waitMs: Math.round(wait)
      }, 'chatwoot call failed, retrying')
      await sleep(wait)
    }
  }

  // One attempt per page, no policy of its own: the create's loop decides about retrying.
  readonly #pageOfMessages: MessagePage = (conversationId, page) =>
    this.#sendOnce('listMessages', { conversationId, ...page }, 0).then(({ payload }) => payload)

  /** One attempt: the answer's body when 2xx, else its ChatwootError. */
  async #sendOnce<K extends OperationName> (operation: K, params: OperationParams[K], attempt: number): Promise<OperationAnswers[K]> {
    const spec = OPERATIONS[operation].request(params)
    const path = this.#options.accountPath + spec.path
    const answer = await send(this.#options.transport, operation, spec, path, attempt)
    if (answer.status >= 200 && answer.status < 300) return answer.body as OperationAnswers[K]
    // The answer's Retry-After travels on the error, typed, for the policy (and a host) to read.
    throw fromStatus({ operation, method: spec.method, path }, answer.status, answer.body, parseRetryAfter(answer.headers['retry-after']))
  }
}
