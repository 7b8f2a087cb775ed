import type { ChatwootClient } from './client.js'
import type { ChatwootError } from './errors.js'
import type { OperationName, OperationParams } from './operations.js'
import type { Message } from './types.js'

// What a host brings to a call's failures: onError hooks (the client's and a call's own), and the
// lookups that tell whether a create that may have landed is stored.

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

/**
 * Asks the call's own hook, then the client's in registration order, what to do about a failure that
 * the retry policy gave up on. The first `{ retry }` wins; a hook that already redirected this call is
 * not followed again (recovery stays bounded even when a hook always asks again). A hook that throws
 * fails the call with its own error, caused by the ChatwootError unless it has a cause of its own.
 */
export async function askOnError<K extends OperationName> (
  error: ChatwootError,
  context: ErrorContext<K>,
  hooks: readonly OnErrorHook[],
  redirectedBy: Set<OnErrorHook>,
  logger: ClientLogger,
  own?: OnErrorHook
): Promise<RetryDirective<K> | undefined> {
  for (const hook of own === undefined ? hooks : [own, ...hooks]) {
    let answer: RetryDirective | undefined | void
    try {
      answer = await hook(error, context as unknown as ErrorContext)
    } catch (hookError) {
      if (hookError instanceof Error && hookError.cause === undefined) hookError.cause = error
      throw hookError
    }
    if (answer === undefined || answer === null || typeof answer.retry !== 'object' || answer.retry === null) continue
    if (redirectedBy.has(hook)) {
      logger.debug({ instance: context.instance, operation: context.operation, code: error.code }, 'chatwoot onError hook retry refused: it already retried this call')
      continue
    }
    redirectedBy.add(hook)
    return answer as RetryDirective<K>
  }
  return undefined
}
