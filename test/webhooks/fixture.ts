import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { InstanceConfig } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { chatwootWebhooks } from '../../lib/webhooks/index.js'
import type { ChatwootWebhooksOptions, OnAgentMessage } from '../../lib/webhooks/options.js'
import { signWebhook } from '../../lib/webhooks/signature.js'
import { deleteKeys, gateway, instanceOf, REDIS_URL } from '../helpers/gateway.js'
import { chatwootApi, contactWithConversation } from '../helpers/simulator.js'

export const SECRET = 'whsec-0123456789-abcdefghij'

export interface Call { instance: string, messageId: number, conversationId: number, idempotencyKey: string }

/** A gateway with chatwootWebhooks whose handler records its calls; its Redis keys go at teardown. */
export async function webhookGateway (t: { teardown: (fn: () => unknown) => void }, instances: Record<string, InstanceConfig>,
  options: Partial<ChatwootWebhooksOptions> & { keyPrefix?: string, app?: FastifyInstance } = {}) {
  const calls: Call[] = []
  const keyPrefix = options.keyPrefix ?? `t${randomUUID()}:`
  const onAgentMessage: OnAgentMessage = options.onAgentMessage ?? (async (instance, message, { idempotencyKey, conversationId }) => {
    calls.push({ instance, messageId: message.id, conversationId, idempotencyKey })
  })
  const gw = await gateway(t, {
    instances,
    conversations: false,
    ...(options.app === undefined ? {} : { app: options.app }),
    setup: (app) => app.register(chatwootWebhooks, { ...options, keyPrefix, onAgentMessage })
  })
  // Its own connection: the app's closes with the app, which a test may close first.
  t.teardown(async () => {
    const redis = new Redis(REDIS_URL)
    await deleteKeys(redis, keyPrefix).finally(() => redis.quit())
  })
  return { app: gw.app, calls, keyPrefix }
}

export interface PostOptions {
  secret?: string
  timestamp?: number
  delivery?: string | null
  headers?: Record<string, string | undefined>
  path?: string
}

/** Posts a payload as Chatwoot does: signed with `secret` over the exact bytes sent. */
export async function postWebhook (app: FastifyInstance, instance: string, payload: unknown, options: PostOptions = {}) {
  const { secret = SECRET, timestamp = Math.floor(Date.now() / 1000), delivery = randomUUID() } = options
  const body = JSON.stringify(payload)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-chatwoot-timestamp': String(timestamp),
    'x-chatwoot-signature': signWebhook(secret, timestamp, body)
  }
  if (delivery !== null) headers['x-chatwoot-delivery'] = delivery
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name]
    else headers[name] = value
  }
  const answer = await app.inject({ method: 'POST', url: options.path ?? `/chatwoot/webhooks/${instance}`, headers, payload: body })
  return { status: answer.statusCode, body: answer.json() }
}

/** A message_created payload as Chatwoot sends it (message_type as a string). */
export function agentMessage (id: number, conversationId: number, extra: Record<string, unknown> = {}) {
  return {
    event: 'message_created',
    id,
    content: `reply ${id}`,
    message_type: 'outgoing',
    private: false,
    source_id: null,
    conversation: { id: conversationId },
    ...extra
  }
}

/** A real conversation with an agent's outgoing message in the simulator, and the instance config to reach it. */
export async function agentReply (sim: ChatwootSimulator, account: CreatedAccount, identifier: string) {
  const call = chatwootApi(sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, identifier)
  const created = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'Hello from an agent', message_type: 'outgoing' } })
  if (created.status !== 200) throw new Error(`message create answered ${created.status}: ${created.text}`)
  const config = instanceOf(sim, account)
  return { displayId, messageId: created.body.id as number, config: { ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } } }
}

// Chatwoot's message status enum.
export const STATUS = { sent: 0, delivered: 1, read: 2, failed: 3 }

/** The status and external_error the simulator stored for a message. */
export async function storedStatus (sim: ChatwootSimulator, messageId: number) {
  const [row] = await sim.query<{ status: number, external_error: string | null }>(
    'SELECT status, content_attributes::jsonb ->> \'external_error\' AS external_error FROM messages WHERE id = $1', [messageId])
  return row
}
