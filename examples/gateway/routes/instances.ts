import type { FastifyInstance } from 'fastify'
import { validateInstanceConfig } from 'fastify-chatwoot'
import { FieldInvalidError } from '../errors.js'
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
    databaseUrl: { type: 'string', pattern: '^postgres(ql)?://' },
    webhookSecret: { type: 'string', minLength: 1, maxLength: 512 }
  }
} as const

// The answer says what was stored, but not the token, the webhook secret nor the database URL (it may hold a password).
const storedInstance = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    chatwootUrl: { type: 'string' },
    accountId: { type: 'integer' },
    inboxId: { type: 'integer' },
    hasDatabase: { type: 'boolean' },
    hasWebhookSecret: { type: 'boolean' }
  }
} as const

export async function instanceRoutes (app: FastifyInstance) {
  app.post<{ Body: NewInstance }>('/instances', {
    schema: { body: newInstance, response: { 200: storedInstance, 201: storedInstance } }
  }, async (request, reply) => {
    const instance = request.body
    // The library's own check, so nothing is stored that every later message would fail on.
    const checked = checkInstance(instance)
    const created = await saveInstance(app.pg, { ...instance, chatwootUrl: checked.chatwoot.url })
    // Every gateway's next message uses the new settings (a new client, a new pool).
    await app.announceInstanceChange(instance.name)
    const { name, accountId, inboxId } = instance
    return reply.code(created ? 201 : 200).send({ name, chatwootUrl: checked.chatwoot.url, accountId, inboxId, hasDatabase: instance.databaseUrl !== undefined, hasWebhookSecret: instance.webhookSecret !== undefined })
  })
}

function checkInstance (instance: NewInstance) {
  const { name, chatwootUrl: url, accountId, inboxId, token, databaseUrl, webhookSecret } = instance
  try {
    return validateInstanceConfig(name, {
      chatwoot: { url, accountId, inboxId, token, ...(webhookSecret === undefined ? {} : { webhookSecret }) },
      ...(databaseUrl === undefined ? {} : { database: databaseUrl })
    })
  } catch (error) {
    const field = { 'chatwoot.url': 'chatwootUrl', 'chatwoot.accountId': 'accountId', 'chatwoot.inboxId': 'inboxId', 'chatwoot.token': 'token', 'chatwoot.webhookSecret': 'webhookSecret', database: 'databaseUrl' }[(error as { field?: string }).field ?? ''] ?? 'body'
    // The library's reason names the problem and never echoes the value (a URL may carry a password).
    const reason = (error as Error).message.replace(/^Invalid configuration for instance "[^"]*": \S+ /, '')
    throw Object.assign(new FieldInvalidError(`body.${field}`, reason), { field: `body.${field}` })
  }
}
