import type { FastifyBaseLogger } from 'fastify'
import type { ChatwootClient } from '../client/client.js'
import { KeyedQueue } from '../conversations/ordering.js'
import { InstanceNotFoundError, WebhookBodyError, WebhookSignatureError } from '../errors.js'
import type { ResolvedInstance } from '../instances/config.js'
import { isInstanceName, isRecord } from '../options.js'
import type { KindEntry } from '../outbox/kinds.js'
import { classify, type WebhookMessage } from './events.js'
import { type Evict, followStatus } from './follow-status.js'
import type { WebhooksSettings } from './options.js'
import { failureReason, setStatus } from './outcome.js'
import { idempotencyKey, replyEntry } from './reply-kind.js'
import type { SeenStore } from './seen.js'
import { sameSecret, signatureProblem } from './signature.js'

export interface ReceiverDeps {
  settings: WebhooksSettings
  seen: SeenStore
  instance: (name: string) => Promise<ResolvedInstance>
  client: (instance: ResolvedInstance) => ChatwootClient
  log: FastifyBaseLogger
  /** chatwootOutbox's, when registered: replies are stored as entries before the answer. */
  enqueue?: (instance: string, entry: KindEntry) => Promise<{ existing: boolean }>
  /** chatwootConversations' eviction, when registered: the cache follows resolved conversations. */
  evict?: Evict
  /** Told of each instance a signed delivery came for (the sweep covers those). */
  heard?: (instance: string) => void
}

export interface WebhookRequest {
  name: string
  token?: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export type Answer = { action: string, duplicate?: 'delivery' | 'message', reason?: string }

const DUPLICATE: Answer = { action: 'ignored', duplicate: 'message' }

function header (headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

// Delivery ids are Chatwoot's (a UUID); anything far longer is not one and is not worth a Redis key.
const MAX_DELIVERY_ID = 200

/**
 * Checks, dedupes and dispatches one delivery, answering at once (Chatwoot gives up after 5 s and never
 * retries). With the outbox the reply is stored first and run by its workers; without it, the host's
 * handler runs in this process after the answer, one at a time per conversation, and a crash loses it.
 */
export class WebhookReceiver {
  readonly #deps: ReceiverDeps
  readonly #queue = new KeyedQueue()
  readonly #running = new Set<Promise<void>>()

  constructor (deps: ReceiverDeps) {
    this.#deps = deps
  }

  async receive (request: WebhookRequest): Promise<Answer> {
    const { settings, seen } = this.#deps
    const instance = await this.#verified(request)
    const { name } = instance
    this.#deps.heard?.(name)
    let payload: unknown
    try {
      payload = JSON.parse(request.body.toString('utf8'))
    } catch {
      throw new WebhookBodyError(name, 'the body is not JSON')
    }
    if (!isRecord(payload)) throw new WebhookBodyError(name, 'the body is not a JSON object')

    const delivery = header(request.headers, 'x-chatwoot-delivery')
    const deliveryKey = delivery !== undefined && delivery !== '' && delivery.length <= MAX_DELIVERY_ID ? `{${name}}:delivery:${delivery}` : undefined
    if (deliveryKey !== undefined && !await seen.first(deliveryKey, settings.dedupeTtlMs)) return { action: 'ignored', duplicate: 'delivery' }
    const action = classify(payload, settings.isEcho)
    if (action.action === 'ignored') return { action: 'ignored', reason: action.reason }
    if (action.action === 'status-changed') return this.#follow(instance, action.status, action.payload)
    const { message, conversationId } = action
    const { enqueue } = this.#deps
    if (enqueue !== undefined) {
      try {
        // The entry's unique key is the message id: a second delivery (any process, any time) finds it there.
        const stored = await enqueue(name, replyEntry({ accountId: instance.chatwoot.accountId, conversationId, message }))
        return stored.existing ? DUPLICATE : { action: 'agent-message' }
      } catch (error) {
        // The same message id stored with another body (a later copy of the webhook, or the sweep's): the same reply.
        if ((error as { code?: unknown }).code === 'FST_CHATWOOT_OUTBOX_CONFLICT') return DUPLICATE
        // Not stored: this delivery id must not pass for taken (Chatwoot marks the message failed; the sweep finds it).
        if (deliveryKey !== undefined) await seen.forget(deliveryKey).catch(() => {})
        throw error
      }
    }
    // Chatwoot also sends one message_created twice under two delivery ids: the message id catches that.
    if (!await seen.first(`{${name}}:message:${message.id}`, settings.dedupeTtlMs)) return DUPLICATE
    this.#track(this.#queue.run(`${name}:${conversationId}`, () => this.#reply(instance, message, conversationId)))
    return { action: 'agent-message' }
  }

  async #follow (instance: ResolvedInstance, status: string | undefined, payload: Record<string, unknown>): Promise<Answer> {
    const { name, chatwoot } = instance
    try {
      const followed = await followStatus({ instance: name, inboxId: chatwoot.inboxId, status, payload }, this.#deps.evict)
      return followed.action === 'evicted' ? followed : { action: 'ignored', reason: followed.reason }
    } catch (error) {
      // Still a 200: Chatwoot would not send it again, and a stale cache entry only costs what it did before.
      this.#deps.log.warn({ err: error, instance: name }, 'chatwootWebhooks: could not evict the resolved conversation from the cache')
      return { action: 'ignored', reason: 'eviction failed' }
    }
  }

  /** Resolves when every handler started so far has finished (for close and tests). */
  async drain (): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running)
  }

  async #verified (request: WebhookRequest): Promise<ResolvedInstance> {
    const { settings } = this.#deps
    const { name, token, headers, body } = request
    // The name comes from the URL: shown in the refusal only when it is a valid one.
    if (!isInstanceName(name)) throw new WebhookSignatureError('(invalid name)', 'unknown instance')
    let instance: ResolvedInstance
    try {
      instance = await this.#deps.instance(name)
    } catch (error) {
      if (error instanceof InstanceNotFoundError) throw new WebhookSignatureError(name, 'unknown instance')
      throw error
    }
    const pathToken = settings.unsigned.get(name)
    if (pathToken !== undefined) {
      if (token === undefined || !sameSecret(token, pathToken)) {
        throw new WebhookSignatureError(name, 'missing or wrong path token (this instance takes unsigned webhooks only at its token path)')
      }
      return instance
    }
    const secret = instance.chatwoot.webhookSecret
    if (secret === undefined) throw new WebhookSignatureError(name, 'the instance has no chatwoot.webhookSecret to check the signature with')
    const problem = signatureProblem({
      signature: header(headers, 'x-chatwoot-signature'),
      timestamp: header(headers, 'x-chatwoot-timestamp')
    }, body, secret, { windowMs: settings.replayWindowMs })
    if (problem !== undefined) throw new WebhookSignatureError(name, problem)
    return instance
  }

  async #reply (instance: ResolvedInstance, message: WebhookMessage, conversationId: number): Promise<void> {
    const { settings, log } = this.#deps
    const { name } = instance
    const target = { conversationId, messageId: message.id }
    const context = { idempotencyKey: idempotencyKey(name, instance.chatwoot.accountId, message.id), conversationId }
    let outcome: { status: 'sent' } | { status: 'failed', reason: string }
    try {
      await settings.onAgentMessage(name, message, context)
      outcome = { status: 'sent' }
    } catch (error) {
      log.warn({ err: error, instance: name, conversationId, messageId: message.id }, 'chatwootWebhooks: onAgentMessage failed; marking the message failed')
      outcome = { status: 'failed', reason: failureReason(error) }
    }
    try {
      await setStatus(this.#deps.client(instance), target, outcome.status, outcome.status === 'failed' ? outcome.reason : undefined)
    } catch (error) {
      log.error({ err: error, instance: name, conversationId, messageId: message.id, status: outcome.status }, 'chatwootWebhooks: could not report the status to Chatwoot')
    }
  }

  #track (work: Promise<void>): void {
    const running = work.then(() => {}, () => {})
    this.#running.add(running)
    running.then(() => this.#running.delete(running))
  }
}
