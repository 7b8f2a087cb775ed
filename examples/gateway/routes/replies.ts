import type { FastifyInstance } from 'fastify'
import { listReplies, type Outage, type ReplySender } from '../reply-sender.js'
import { instanceParams } from './schemas.js'

// The agents' replies the stand-in sender handled, and its outage switch (for the demo and for trying
// what a failing channel looks like in Chatwoot). Registered where the gateway takes webhooks.
const reply = {
  type: 'object',
  properties: {
    idempotencyKey: { type: 'string' },
    instance: { type: 'string' },
    conversationId: { type: 'integer' },
    messageId: { type: 'integer' },
    content: { type: ['string', 'null'] },
    sends: { type: 'integer' },
    failures: { type: 'integer' },
    lastError: { type: ['string', 'null'] },
    sentAt: { type: ['string', 'null'], format: 'date-time' }
  }
} as const

const outageState = { type: 'object', properties: { failuresLeft: { type: 'integer' }, downForMs: { type: 'integer' } } } as const

export async function replyRoutes (app: FastifyInstance, { sender }: { sender: ReplySender }) {
  app.get<{ Querystring: { instance?: string, limit?: string } }>('/replies', {
    schema: {
      // Coercion is off gateway-wide: a query string's limit is checked as its digits.
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { instance: instanceParams.properties.instance, limit: { type: 'string', pattern: '^(?:[1-9]\\d{0,2}|1000)$' } }
      },
      response: { 200: { type: 'object', properties: { replies: { type: 'array', items: reply }, outage: outageState } } }
    }
  }, async (request) => {
    const { instance, limit } = request.query
    const replies = await listReplies(app.pg, { ...(instance === undefined ? {} : { instance }), limit: limit === undefined ? 50 : Number(limit) })
    return { replies, outage: sender.state() }
  })

  // { failures: n } refuses the next n sends; { forMs } every send for that long; zeros end it.
  app.post<{ Body: Outage }>('/replies/outage', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: { failures: { type: 'integer', minimum: 0, maximum: 1000 }, forMs: { type: 'integer', minimum: 0, maximum: 3_600_000 } }
      },
      response: { 200: outageState }
    }
  }, async (request) => sender.outage(request.body))
}
