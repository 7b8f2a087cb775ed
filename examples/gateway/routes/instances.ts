import type { FastifyInstance } from 'fastify'
import { type NewInstance, saveInstance } from '../instance-store.js'

const newInstance = {
  type: 'object',
  required: ['name', 'chatwootUrl', 'accountId', 'inboxId', 'token'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
    chatwootUrl: { type: 'string', format: 'uri', pattern: '^https?://' },
    accountId: { type: 'integer', minimum: 1 },
    inboxId: { type: 'integer', minimum: 1 },
    token: { type: 'string', minLength: 1, maxLength: 512 },
    databaseUrl: { type: 'string', pattern: '^postgres(ql)?://' }
  }
} as const

// The answer says what was stored, but not the token nor the database URL (it may hold a password).
const storedInstance = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    chatwootUrl: { type: 'string' },
    accountId: { type: 'integer' },
    inboxId: { type: 'integer' },
    hasDatabase: { type: 'boolean' }
  }
} as const

export async function instanceRoutes (app: FastifyInstance) {
  app.post<{ Body: NewInstance }>('/instances', {
    schema: { body: newInstance, response: { 200: storedInstance, 201: storedInstance } }
  }, async (request, reply) => {
    const instance = request.body
    const created = await saveInstance(app.pg, instance)
    // Changed settings take effect now: the next message builds a new client (and a new pool).
    app.chatwootInstances.invalidate(instance.name)
    const { name, chatwootUrl, accountId, inboxId } = instance
    return reply.code(created ? 201 : 200).send({ name, chatwootUrl, accountId, inboxId, hasDatabase: instance.databaseUrl !== undefined })
  })
}
