import type { FastifyInstance } from 'fastify'
import { DeadEntryNotFoundError, FieldInvalidError } from '../errors.js'
import { instanceParams } from './schemas.js'

// Dead letters of the outbox, for an operator: list them (with Chatwoot's reason), put them back at the
// end of their contact's lane, or discard them. Registered only where the gateway has an outbox.
const instanceName = instanceParams.properties.instance
const entryId = { type: 'integer', minimum: 1 } as const

const deadEntry = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    instance: { type: 'string' },
    kind: { type: 'string' },
    lane: { type: 'string' },
    sourceId: { type: 'string' },
    attempts: { type: 'integer' },
    reason: { type: 'string' },
    lastErrorCode: { type: ['string', 'null'] },
    lastError: { type: ['string', 'null'] },
    conversationId: { type: ['integer', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    deadAt: { type: 'string', format: 'date-time' }
  }
} as const

interface DeadQuery { instance?: string, limit?: string, cursor?: string }
type ReplayBody = { ids: number[] } | { instance: string }

/** A query string's integer (coercion is off gateway-wide); `field` names it when it is not one. */
function integer (value: string | undefined, field: string, max: number): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || number < 1 || number > max) {
    throw Object.assign(new FieldInvalidError(field, `must be an integer from 1 to ${max}`), { field })
  }
  return number
}

export async function outboxRoutes (app: FastifyInstance) {
  app.get<{ Querystring: DeadQuery }>('/outbox/dead', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { instance: instanceName, limit: { type: 'string' }, cursor: { type: 'string' } }
      },
      response: { 200: { type: 'object', properties: { entries: { type: 'array', items: deadEntry }, cursor: { type: ['integer', 'null'] } } } }
    }
  }, async (request) => {
    const { instance, limit, cursor } = request.query
    return app.chatwoot.outbox.dead({
      ...(instance === undefined ? {} : { instance }),
      limit: integer(limit, 'querystring.limit', 1000) ?? 50,
      cursor: integer(cursor, 'querystring.cursor', Number.MAX_SAFE_INTEGER) ?? null
    })
  })

  // { ids: [...] } replays those entries; { instance } every dead entry of one instance (1000 a call:
  // call again while it answers 1000).
  app.post<{ Body: ReplayBody }>('/outbox/replay', {
    schema: {
      body: {
        oneOf: [
          { type: 'object', required: ['ids'], additionalProperties: false, properties: { ids: { type: 'array', minItems: 1, maxItems: 1000, items: entryId } } },
          { type: 'object', required: ['instance'], additionalProperties: false, properties: { instance: instanceName } }
        ]
      },
      response: { 200: { type: 'object', properties: { replayed: { type: 'integer' } } } }
    }
  }, async (request) => {
    const body = request.body
    const replayed = await app.chatwoot.outbox.replay('ids' in body ? body.ids : { instance: body.instance })
    return { replayed }
  })

  app.delete<{ Params: { id: string } }>('/outbox/dead/:id', {
    schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[1-9]\\d{0,15}$' } } } }
  }, async (request, reply) => {
    const discarded = await app.chatwoot.outbox.discard([Number(request.params.id)])
    // Only a dead entry can be discarded: a queued or delivered one, or none, is not found here.
    if (discarded === 0) throw new DeadEntryNotFoundError(String(request.params.id))
    return reply.code(204).send()
  })
}
