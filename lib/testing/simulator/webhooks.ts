import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { request as undiciRequest } from 'undici'
import { signWebhook } from '../../webhooks/signature.js'

export interface SimulatorWebhooksOptions {
  /** Where every account's webhooks go (one target: tests point it at the gateway under test). */
  url: string
  /** Signs deliveries as Chatwoot 4.10+ does; without it they go unsigned, as from 4.9 and older. */
  secret?: string
  /** Chatwoot's: 5000. */
  timeoutMs?: number
}

export type WebhookFault = 'drop' | 'double'

export interface WebhookAttempt {
  event: string
  delivery: string
  /** The answer's status; null when none came (timeout, refused connection). */
  status: number | null
  error?: string
  /** A dropped delivery was never sent. */
  dropped?: boolean
}

// REST answers carry message_type as an integer; webhook payloads as its name (CONTRACT.md).
const MESSAGE_TYPES = ['incoming', 'outgoing', 'activity', 'template']
const MESSAGES_ROUTE = '/api/v1/accounts/:account_id/conversations/:conversation_id/messages'
const TOGGLE_ROUTE = '/api/v1/accounts/:account_id/conversations/:conversation_id/toggle_status'

/**
 * Sends webhooks as Chatwoot does: after the request that caused them, one attempt each, a 5 s
 * timeout, no retry; the answer is recorded, never acted on. Faults drop the next deliveries or send
 * them twice (two delivery ids, as Chatwoot's duplicate message_created).
 */
export class WebhookSender {
  readonly attempts: WebhookAttempt[] = []
  readonly #options: Required<Omit<SimulatorWebhooksOptions, 'secret'>> & { secret?: string }
  readonly #faults: WebhookFault[] = []
  readonly #inFlight = new Set<Promise<void>>()
  readonly #abort = new AbortController()

  constructor ({ url, secret, timeoutMs = 5000 }: SimulatorWebhooksOptions) {
    this.#options = { url, secret, timeoutMs }
  }

  /** The next `times` deliveries are dropped or doubled. */
  fault (kind: WebhookFault, times = 1): void {
    for (let i = 0; i < times; i++) this.#faults.push(kind)
  }

  /** Queues one event for sending, after the current answer. */
  emit (payload: Record<string, unknown>): void {
    const fault = this.#faults.shift()
    const event = String(payload.event)
    if (fault === 'drop') {
      this.attempts.push({ event, delivery: randomUUID(), status: null, dropped: true })
      return
    }
    for (let copy = fault === 'double' ? 2 : 1; copy > 0; copy--) {
      const sending = this.#send(event, JSON.stringify(payload))
      this.#inFlight.add(sending)
      sending.finally(() => this.#inFlight.delete(sending))
    }
  }

  /** Resolves when every delivery started so far has its answer (or its failure). */
  async idle (): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight)
  }

  async close (): Promise<void> {
    this.#abort.abort()
    await this.idle()
  }

  async #send (event: string, body: string): Promise<void> {
    const delivery = randomUUID()
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-chatwoot-delivery': delivery }
    if (this.#options.secret !== undefined) {
      const timestamp = Math.floor(Date.now() / 1000)
      headers['x-chatwoot-timestamp'] = String(timestamp)
      headers['x-chatwoot-signature'] = signWebhook(this.#options.secret, timestamp, body)
    }
    try {
      const answer = await undiciRequest(this.#options.url, {
        method: 'POST', headers, body, signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs)])
      })
      await answer.body.dump()
      this.attempts.push({ event, delivery, status: answer.statusCode })
    } catch (error) {
      this.attempts.push({ event, delivery, status: null, error: (error as Error).message })
    }
  }
}

/** message_created for every message the API creates (the gateway's own incoming posts too), conversation_status_changed for toggles. */
export function emitWebhooks (app: FastifyInstance, sender: WebhookSender): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url
    if (request.method !== 'POST' || reply.statusCode !== 200 || typeof payload !== 'string') return payload
    if (route !== MESSAGES_ROUTE && route !== TOGGLE_ROUTE) return payload
    const accountId = Number((request.params as { account_id: string }).account_id)
    const answer = JSON.parse(payload) as Record<string, any>
    // After the answer, as Chatwoot's job runs after the commit.
    setImmediate(() => sender.emit(route === MESSAGES_ROUTE ? messageCreated(answer, accountId) : statusChanged(answer, accountId)))
    return payload
  })
}

function messageCreated (message: Record<string, any>, accountId: number): Record<string, unknown> {
  return {
    ...message,
    event: 'message_created',
    message_type: MESSAGE_TYPES[message.message_type] ?? message.message_type,
    account: { id: accountId },
    inbox: { id: message.inbox_id },
    conversation: { id: message.conversation_id, inbox_id: message.inbox_id }
  }
}

function statusChanged (answer: Record<string, any>, accountId: number): Record<string, unknown> {
  const { conversation_id: id, current_status: status } = answer.payload ?? {}
  return { event: 'conversation_status_changed', id, status, account: { id: accountId } }
}
