// An agent's reply as an outbox entry: stored by the route before it answers Chatwoot, run by whichever
// process's worker holds the conversation's lane, so a crash after the 200 loses nothing and a second
// delivery of the same message finds the entry already there.
import type { FastifyBaseLogger } from 'fastify'
import type { ChatwootClient } from '../client/client.js'
import { OutboxGaveUpError, WebhookReplyFailedError } from '../errors.js'
import type { EntryHandler } from '../outbox/entry-kind.js'
import type { KindEntry } from '../outbox/kinds.js'
import type { WebhookMessage } from './events.js'
import type { OnAgentMessage } from './options.js'
import { failureReason, setStatus } from './outcome.js'

export const REPLY_KIND = 'agent-reply'
// One key for every reply: the message id (unique in a Chatwoot database) is the entry's source id, so the
// outbox's unique (instance, key, source id) is the dedupe by message id, across processes and restarts.
const REPLY_KEY = 'chatwoot-message'

export interface ReplyPayload {
  accountId: number
  conversationId: number
  message: WebhookMessage
}

/** The entry of one reply: laned per conversation, so a conversation's replies go out in order. */
export function replyEntry (payload: ReplyPayload): KindEntry {
  return { kind: REPLY_KIND, lane: `conversation:${payload.conversationId}`, key: REPLY_KEY, sourceId: String(payload.message.id), payload }
}

export function idempotencyKey (instance: string, accountId: number, messageId: number): string {
  return `chatwoot:${instance}:${accountId}:${messageId}`
}

export interface ReplyKindDeps {
  onAgentMessage: OnAgentMessage
  client: (instance: string) => Promise<ChatwootClient>
  /** Attempts of the host's handler before the reply is failed for good. */
  replyAttempts: number
  log: FastifyBaseLogger
}

/** A host's error says it cannot be cured by trying again: `retryable: false`. */
const hopeless = (error: unknown) => (error as { retryable?: unknown } | null)?.retryable === false

/**
 * Runs the host's handler for one reply and tells Chatwoot how it went. A failure is retried on the
 * outbox's schedule (the lane, that is the conversation, waits) up to `replyAttempts`; then the message
 * is marked failed in Chatwoot and the entry dies (a dead letter the operator can replay).
 */
export function replyHandler (deps: ReplyKindDeps): EntryHandler {
  const { onAgentMessage, replyAttempts, log } = deps
  const report = async (instance: string, payload: ReplyPayload, status: 'sent' | 'failed', reason?: string) => {
    const target = { conversationId: payload.conversationId, messageId: payload.message.id }
    try {
      await setStatus(await deps.client(instance), target, status, reason)
    } catch (error) {
      // Never thrown: the reply itself went out (or failed for good); a second run would send it twice.
      log.error({ err: error, instance, ...target, status }, 'chatwootWebhooks: could not report the status to Chatwoot')
    }
  }
  return async (attempt) => {
    const { instance } = attempt
    const payload = attempt.payload as ReplyPayload
    const { conversationId, message } = payload
    // Stores the target and checks the lane is still ours before anything leaves the process.
    await attempt.beforePost({ conversationId })
    try {
      await onAgentMessage(instance, message, { idempotencyKey: idempotencyKey(instance, payload.accountId, message.id), conversationId })
    } catch (error) {
      const reason = failureReason(error)
      const made = attempt.attempts + 1
      if (made < replyAttempts && !hopeless(error)) {
        log.warn({ err: error, instance, conversationId, messageId: message.id, attempts: made }, 'chatwootWebhooks: onAgentMessage failed; trying again')
        // Our own code, whatever the host's error carried: a host's 401 must not pause the instance's outbox.
        throw new WebhookReplyFailedError(String(message.id), instance, reason)
      }
      log.warn({ err: error, instance, conversationId, messageId: message.id, attempts: made }, 'chatwootWebhooks: onAgentMessage failed for good; marking the message failed')
      await report(instance, payload, 'failed', reason)
      // The outbox's code for a handler that gave up: dead at once, its reason kept on the dead letter.
      throw new OutboxGaveUpError(`agent reply ${message.id} not sent after ${made} attempt(s): ${reason}`)
    }
    await report(instance, payload, 'sent')
    return { conversationId, messageId: message.id, deduplicated: false, outsideChatwoot: true }
  }
}
